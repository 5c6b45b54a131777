"""Model efficiency: parameter counts, FLOPs and inference latency.

Used to check claims such as abdeldayem2025's "11.6 M parameters", "4.2 GFLOPs per forward pass"
and "21 ms (GPU)".

Conventions (stated because papers rarely do):

* **FLOPs** are counted with :class:`torch.utils.flop_counter.FlopCounterMode`, which counts
  **2 FLOPs per multiply-add** (a ``k``-long dot product costs ``2k``), so ``macs = flops / 2``.
  It counts matrix multiplications, convolutions (forward) and attention kernels only; bias
  additions, normalisation, activations and pooling are ignored. They are a small share of a CNN's
  cost but make the count a slight underestimate. Counts are reported for one forward pass at
  batch size 1 in eval mode.
* Many papers (and tools such as ``thop`` / ``ptflops``) report MACs under the name "FLOPs".
  abdeldayem2025's "4.2 GFLOPs" does not say which it is, so both ``gflops`` and ``gmacs`` are
  reported and a comparison must consider both readings. For scale: torchvision's DenseNet121 at
  3x224x224 counts 2.83 GMACs = 5.67 GFLOPs here, so "4.2 GFLOPs" for a DenseNet121-based model is
  only plausible if it means MACs.
* **Latency** is wall-clock time of one ``model(x)`` call under ``torch.inference_mode()`` after
  warm-up runs, reported as median and 10th/90th percentiles over ``n_runs`` calls, with the number
  of CPU threads and the device name, since both change the result several-fold. On CUDA the
  device is synchronised before starting and before stopping the clock, so asynchronous kernel
  launches are not mistaken for finished work. Data loading and preprocessing are not included.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

FLOP_CONVENTION_NOTE = (
    "torch.utils.flop_counter.FlopCounterMode: 2 FLOPs per multiply-add (macs = flops / 2); counts "
    "matmul/conv/attention only (bias, norm, activation, pooling ignored). Papers often call MACs 'FLOPs' "
    "(e.g. abdeldayem2025's '4.2 GFLOPs' is ambiguous), so compare a claim with both gflops and gmacs."
)

Inputs = torch.Tensor | Sequence[torch.Tensor]


def _as_tuple(inputs: Inputs) -> tuple[torch.Tensor, ...]:
    if isinstance(inputs, torch.Tensor):
        return (inputs,)
    inputs = tuple(inputs)
    if not inputs or not all(isinstance(t, torch.Tensor) for t in inputs):
        raise TypeError("example inputs must be a tensor or a non-empty sequence of tensors")
    return inputs


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Total and trainable parameter counts (shared parameters counted once; buffers excluded)."""
    params = list(model.parameters())  # nn.Module.parameters() already de-duplicates shared tensors
    return {
        "total": int(sum(p.numel() for p in params)),
        "trainable": int(sum(p.numel() for p in params if p.requires_grad)),
    }


def count_flops(model: nn.Module, example_inputs: Inputs) -> dict[str, Any]:
    """FLOPs of one forward pass on ``example_inputs`` (eval mode, no grad).

    ``example_inputs`` is a batch tensor, or a tuple of positional inputs for models with
    several (e.g. feature-fusion models' ``forward(image, features)``). FLOPs are for the whole
    batch; ``flops_per_sample`` divides by the leading dimension of the first input.

    Returns:
        dict with ``flops``, ``macs`` (= flops / 2), ``gflops``, ``gmacs``, ``batch_size``,
        ``flops_per_sample``, ``by_operator`` (FLOPs per aten operator) and ``note`` (the convention).
    """
    from torch.utils.flop_counter import FlopCounterMode

    inputs = _as_tuple(example_inputs)
    was_training = model.training
    model.eval()
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(*inputs)
    finally:
        model.train(was_training)
    flops = int(counter.get_total_flops())
    global_counts = counter.get_flop_counts().get("Global", {})
    batch_size = int(inputs[0].shape[0]) if inputs[0].dim() > 0 else 1
    return {
        "flops": flops,
        "macs": flops / 2,
        "gflops": flops / 1e9,
        "gmacs": flops / 2e9,
        "batch_size": batch_size,
        "flops_per_sample": flops / batch_size,
        "by_operator": {str(op): int(count) for op, count in global_counts.items()},
        "note": FLOP_CONVENTION_NOTE,
    }


def device_name(device: str | torch.device) -> str:
    """Human-readable name of the device that runs the model (CPU model string or GPU name)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def _repeat_to_batch(
    inputs: tuple[torch.Tensor, ...], batch_size: int, device: torch.device
) -> tuple[torch.Tensor, ...]:
    # Latency depends on shape, not content, so one example sample repeated is enough.
    return tuple(t[:1].repeat(batch_size, *([1] * (t.dim() - 1))).to(device) for t in inputs)


def _time_calls(
    model: nn.Module, inputs: tuple[torch.Tensor, ...], n_runs: int, warmup: int, device: torch.device
) -> list[float]:
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times_ms = []
    with torch.inference_mode():
        for _ in range(warmup):
            model(*inputs)
        synchronize()
        for _ in range(n_runs):
            start = time.perf_counter()
            model(*inputs)
            synchronize()
            times_ms.append((time.perf_counter() - start) * 1000.0)
    return times_ms


def measure_latency(
    model: nn.Module,
    example_input: Inputs,
    batch_sizes: Sequence[int] = (1, 32),
    n_runs: int = 20,
    warmup: int = 5,
    device: str = "cpu",
    threads: int | None = None,
) -> dict[str, Any]:
    """Inference latency of ``model`` for each batch size.

    Args:
        model: moved to ``device`` in place and put in eval mode (its training flag is restored).
        example_input: a tensor (or tuple of tensors) with a leading batch dimension; its first
            sample is repeated to build each batch size.
        batch_sizes: batch sizes to time; per-sample latency is also reported.
        n_runs: timed calls per batch size; ``warmup``: untimed calls before them (allocator,
            cuDNN autotuning and lazy initialisation would otherwise inflate the first runs).
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        threads: CPU intra-op threads for the measurement (restored afterwards); ``None`` keeps
            torch's current setting.

    Returns:
        dict with ``device``, ``device_name``, ``threads`` (``torch.get_num_threads()`` during the
        measurement), ``torch_version`` and ``results``: one entry per batch size with
        ``median_ms``, ``p10_ms``, ``p90_ms``, ``median_ms_per_sample``, ``n_runs`` and ``times_ms``.
    """
    if n_runs < 1 or warmup < 0:
        raise ValueError(f"need n_runs >= 1 and warmup >= 0, got n_runs={n_runs}, warmup={warmup}")
    if not batch_sizes or any(int(b) < 1 for b in batch_sizes):
        raise ValueError(f"batch_sizes must be positive integers, got {batch_sizes}")
    torch_device = torch.device(device)
    if torch_device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' requested but torch.cuda.is_available() is False; use device='cpu'")
    inputs = _as_tuple(example_input)
    previous_threads = torch.get_num_threads()
    was_training = model.training
    try:
        if threads is not None:
            torch.set_num_threads(int(threads))
        threads_used = torch.get_num_threads()
        model.to(torch_device).eval()
        results = []
        for batch_size in batch_sizes:
            batch = _repeat_to_batch(inputs, int(batch_size), torch_device)
            times_ms = _time_calls(model, batch, n_runs, warmup, torch_device)
            median = statistics.median(times_ms)
            results.append(
                {
                    "batch_size": int(batch_size),
                    "median_ms": median,
                    "p10_ms": float(np.percentile(times_ms, 10)),
                    "p90_ms": float(np.percentile(times_ms, 90)),
                    "median_ms_per_sample": median / int(batch_size),
                    "n_runs": len(times_ms),
                    "warmup": warmup,
                    "times_ms": times_ms,
                }
            )
    finally:
        torch.set_num_threads(previous_threads)
        model.train(was_training)
    return {
        "device": str(torch_device),
        "device_name": device_name(torch_device),
        "threads": threads_used,
        "torch_version": torch.__version__,
        "results": results,
    }


def efficiency_report(
    model_factory_or_model: nn.Module | Callable[[], nn.Module],
    input_shape: Sequence[int],
    feature_dim: int | None = None,
    batch_sizes: Sequence[int] = (1, 32),
    n_runs: int = 20,
    warmup: int = 5,
    device: str = "cpu",
    threads: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Parameters, FLOPs (batch 1) and latency of a model, as a JSON-ready dict.

    Args:
        model_factory_or_model: an ``nn.Module`` or a zero-argument callable returning one.
        input_shape: ``(C, H, W)`` of one image.
        feature_dim: if set, the model is a feature-fusion model called as
            ``model(images, features)`` with a ``(batch, feature_dim)`` feature vector.
        seed: seeds the random example input (content does not change FLOPs or, materially, latency).
    """
    model = model_factory_or_model if isinstance(model_factory_or_model, nn.Module) else model_factory_or_model()
    if not isinstance(model, nn.Module):
        raise TypeError(f"model factory returned {type(model).__name__}, expected torch.nn.Module")
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {tuple(input_shape)}")
    generator = torch.Generator().manual_seed(seed)
    example: list[torch.Tensor] = [torch.rand(1, *map(int, input_shape), generator=generator)]
    if feature_dim is not None:
        example.append(torch.rand(1, int(feature_dim), generator=generator))
    flops = count_flops(model, tuple(example))
    latency = measure_latency(
        model, tuple(example), batch_sizes=batch_sizes, n_runs=n_runs, warmup=warmup, device=device, threads=threads
    )
    return {
        "model_class": type(model).__name__,
        "input_shape": [int(v) for v in input_shape],
        "feature_dim": feature_dim,
        "parameters": count_parameters(model),
        "flops": flops,
        "latency": latency,
        "platform": {"python": platform.python_version(), "machine": platform.machine(), "system": platform.system()},
    }


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ferrepro efficiency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="registered model name, e.g. majeed2025.cnn")
    parser.add_argument("--model-kwargs-json", default="{}", help="JSON object of keyword arguments for the factory")
    parser.add_argument("--input-shape", type=int, nargs=3, required=True, metavar=("C", "H", "W"))
    parser.add_argument("--feature-dim", type=int, default=None, help="feature vector length for feature-fusion models")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--n-runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, type=Path, help="output JSON file")
    return parser


def _model_kwargs(raw_json: str, input_shape: Sequence[int]) -> dict[str, Any]:
    try:
        kwargs = json.loads(raw_json)
    except json.JSONDecodeError as error:
        raise SystemExit(
            f"ferrepro efficiency: --model-kwargs-json is not valid JSON ({error}): {raw_json!r}"
        ) from None
    if not isinstance(kwargs, dict):
        raise SystemExit(f"ferrepro efficiency: --model-kwargs-json must be a JSON object, got {raw_json!r}")
    channels, height, width = input_shape
    # Every registered factory takes in_channels/input_size; derive them from the input shape so
    # the two cannot disagree, and refuse explicit values that contradict it.
    kwargs.setdefault("in_channels", channels)
    if height == width:
        kwargs.setdefault("input_size", height)
    size_conflict = height == width and isinstance(kwargs.get("input_size"), int) and kwargs["input_size"] != height
    if kwargs["in_channels"] != channels or size_conflict:
        raise SystemExit(
            f"ferrepro efficiency: model kwargs in_channels={kwargs['in_channels']}, "
            f"input_size={kwargs.get('input_size')} contradict --input-shape {channels} {height} {width}"
        )
    return kwargs


def cli(argv: list[str]) -> int:
    """Entry point of ``ferrepro efficiency``; writes :func:`efficiency_report` for a registered model.

    ``ferrepro efficiency --model NAME --model-kwargs-json '{}' --input-shape C H W [--feature-dim D]
    [--batch-sizes 1 32] [--n-runs 20] [--warmup 5] [--device cpu] [--threads N] --out FILE.json``
    """
    args = _build_parser().parse_args(argv)
    from ferrepro.models import build_model

    kwargs = _model_kwargs(args.model_kwargs_json, args.input_shape)
    report = efficiency_report(
        lambda: build_model(args.model, **kwargs),
        args.input_shape,
        feature_dim=args.feature_dim,
        batch_sizes=args.batch_sizes,
        n_runs=args.n_runs,
        warmup=args.warmup,
        device=args.device,
        threads=args.threads,
        seed=args.seed,
    )
    report = {"model": args.model, "model_kwargs": kwargs, **report}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    params = report["parameters"]["total"]
    gflops = report["flops"]["gflops"]
    print(f"{args.model}: {params:,} parameters, {gflops:.3f} GFLOPs ({gflops / 2:.3f} GMACs) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
