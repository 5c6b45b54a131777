#!/usr/bin/env python
"""Training images/s of the FER2013-size models on this CPU, today's path against the candidate fast paths.

    python bench/bench_training.py          # every model, 2 threads -> bench/results/training_paths.json
    python bench/bench_training.py --models majeed2025.cnn --steps 30 --threads 1
    python bench/bench_training.py --tiny               # a seconds-long check that the script runs (no numbers)

Every path does the same work per step (uint8 -> [0, 1] float, forward, cross-entropy, backward, SGD step) on
the same uint8 images at the paper's input size, batch 64:

- ``collate_fp32``: today's path: a ``TensorDataset`` of float images through a shuffling ``DataLoader``,
  which gathers and stacks one sample at a time;
- ``slice_fp32``: the batch is one index gather from the uint8 tensor (``x[idx]``), converted per batch;
- ``slice_fp32_cl``: the same, model and batch in ``channels_last``;
- ``slice_bf16``: the same as ``slice_fp32`` under ``torch.autocast("cpu", torch.bfloat16)`` (weights fp32);
- ``slice_bf16_cl``: bf16 autocast and channels_last.

Paths are alternated over ``--repeats`` rounds so that drifts of machine load hit all of them alike; the JSON
keeps every round, the median, and the load average before and after. A faster path is adopted in training
only once a real short run shows accuracy parity (issue 15): this script measures speed, not accuracy.
Never run it as a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

# The FER2013-size networks and their papers' input sizes (config/papers/*.yaml).
MODELS = {
    "majeed2025.cnn": 48,
    "majeed2025.lenet5": 48,
    "majeed2025.lu2024": 48,
    "afzaal2025.baseline": 64,
    "afzaal2025.no_batchnorm": 64,
    "afzaal2025.no_dropout": 64,
    "afzaal2025.fewer_layers": 64,
    "afzaal2025.optimized": 64,
    "nauman2025.ia_fen": 48,
}
PATHS = ("collate_fp32", "slice_fp32", "slice_fp32_cl", "slice_bf16", "slice_bf16_cl")


def images_per_second(model_name: str, size: int, path: str, steps: int, batch_size: int, n_images: int) -> float:
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    from ferrepro.models import build_model

    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n_images, 1, size, size), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 7, (n_images,), generator=generator)
    torch.manual_seed(0)
    model = build_model(model_name, num_classes=7, in_channels=1, input_size=size).train()
    channels_last = path.endswith("_cl")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    autocast = path.startswith("slice_bf16")

    if path == "collate_fp32":
        loader = DataLoader(TensorDataset(images.float() / 255.0, labels), batch_size=batch_size, shuffle=True)

        def batches():
            while True:
                yield from loader
    else:

        def batches():
            while True:
                order = torch.randperm(n_images)
                for start in range(0, n_images - batch_size + 1, batch_size):
                    idx = order[start : start + batch_size]
                    x = images[idx].float().div_(255.0)
                    yield (x.contiguous(memory_format=torch.channels_last) if channels_last else x), labels[idx]

    def step(x, y):
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()

    stream = batches()
    for _ in range(2):  # warm-up: first-call allocations and kernel selection
        step(*next(stream))
    start = time.perf_counter()
    for _ in range(steps):
        step(*next(stream))
    return steps * batch_size / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=40, help="timed training steps per path and round")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--tiny", action="store_true", help="2 steps, 1 round, 2 models: checks the script runs")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "training_paths.json")
    args = parser.parse_args(argv)
    if args.tiny:
        args.models, args.steps, args.repeats = args.models[:2], 2, 1

    import torch

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    results = {}
    for name in args.models:
        size = MODELS[name]
        rounds = {p: [] for p in PATHS}
        for _ in range(args.repeats):
            for path in PATHS:
                rate = images_per_second(name, size, path, args.steps, args.batch_size, n_images=64 * args.batch_size)
                rounds[path].append(round(rate, 1))
        median = {p: statistics.median(v) for p, v in rounds.items()}
        results[name] = {
            "input_size": size,
            "images_per_s": median,
            "speedup_over_collate_fp32": {p: round(median[p] / median["collate_fp32"], 2) for p in PATHS},
            "rounds": rounds,
        }
        print(name, {p: round(v) for p, v in median.items()}, flush=True)
    report = {
        "what": "training images/s per path (see bench/bench_training.py); medians over rounds",
        "threads": args.threads,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "repeats": args.repeats,
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "tiny": args.tiny,
        "models": results,
    }
    if not args.tiny:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
