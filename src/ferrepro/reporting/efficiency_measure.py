"""Efficiency of every paper's models at the paper's own input size (results/efficiency/<paper>.json).

``ferrepro efficiency-paper`` measures one paper; ``ferrepro efficiency-table``
(ferrepro.reporting.efficiency_table) collects the reports into ``results/efficiency.{csv,md,html}``.

Which models: every runnable experiment of the paper expanded by the **full** profile (the paper's
datasets, input size, channels and label set; the quick profile shrinks inputs for speed, which
would make the numbers meaningless). Runs that build the same network (same factory, keyword
arguments, input, classes and fused-feature width) are one entry. Weights are random: ImageNet
initialisation (abdeldayem2025) does not change counts or timing, and the checkpoint is not in
the repository.

What is measured (ferrepro.evaluation.efficiency states the conventions):

* parameters (all, and trainable);
* FLOPs of one forward pass at batch 1 with ``torch.utils.flop_counter.FlopCounterMode``, which
  counts **2 FLOPs per multiply-add**; MACs = FLOPs / 2 are shown too;
* CPU latency at batch 1 and 32: median (and 10th/90th percentiles) of 20 timed calls after 3
  warm-up calls, with the number of torch threads and the CPU model; on a machine with a CUDA GPU
  the same on the GPU (50 calls after 10 warm-ups).

Cost control: latency is timed once per (model factory, input size), on the entry whose experiment
carries an efficiency claim if there is one (else the first in config order); other entries with
that signature (other ablation flags, input channels or classes) report it as
``latency_measured_on`` that entry, since their exact parameter and FLOP counts are listed beside
it. Even so, DenseNet121 at 224x224 (abdeldayem2025) and the 17-layer CNN at 512x512 (gilanie2025)
take about a minute each on 2 CPU cores: 23 calls at batch 32 of ~3 s each.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

CPU_RUNS, CPU_WARMUP = 20, 3
GPU_RUNS, GPU_WARMUP = 50, 10
BATCH_SIZES = (1, 32)


# ------------------------------------------------------------------------------- which models to measure


def _fake_landmarks(n: int, height: int, width: int) -> np.ndarray:
    # Plausible points inside the frame: landmark_emphasis only needs somewhere to draw its regions.
    rng = np.random.default_rng(0)
    points = rng.uniform(0.25, 0.75, size=(n, 68, 2)).astype(np.float32)
    return points * np.array([width, height], dtype=np.float32)


def model_input_channels(spec: dict, dataset: str, registry) -> int:
    """Channels the model receives: the run's preprocessing run on a blank image of the dataset's decoded format."""
    from ferrepro.features.preprocess import apply_pipeline
    from ferrepro.training.inputs import to_model_input

    height, width = registry[dataset].size
    images = np.zeros((1, min(height, 64), min(width, 64), registry[dataset].channels), dtype=np.uint8)
    steps = spec["preprocess"]
    if steps:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. a channel split of grayscale data: not our concern here
            images = apply_pipeline(images, steps, landmarks=_fake_landmarks(1, *images.shape[1:3]))
    return int(to_model_input(images, 8, spec["input"]["channels"]).shape[1])


def fused_feature_dim(spec: dict, dataset: str, registry, features_config: dict) -> int | None:
    """Width of the handcrafted feature vector a fusion model receives (as computed from the decoded images)."""
    names = spec["features"]
    if not names:
        return None
    from ferrepro.features import hog, landmarks

    height, width = registry[dataset].size
    total = 0
    for name in names:
        if name == "hog":
            total += hog.feature_dim(height, width, hog.params_from_dict(hog.HogParams, features_config.get("hog")))
        elif name == "sliding_hog":
            total += hog.feature_dim(
                height, width, hog.params_from_dict(hog.SlidingHogParams, features_config.get("sliding_hog"))
            )
        elif name == "landmarks":
            total += landmarks.feature_dim(landmarks.params_from_dict(features_config.get("landmarks")))
        else:
            raise ValueError(f"unknown feature {name!r} in {spec['paper']}/{spec['experiment']}")
    return total


def model_entries(specs: dict, registry) -> list[dict[str, Any]]:
    """One entry per distinct network in ``specs`` (ferrepro.reporting.model_specs: each run's
    ``RunSpec.model_settings``, defaults included, plus its experiment and dataset), with the runs using it."""
    from ferrepro.labels import label_set

    entries: dict[str, dict[str, Any]] = {}
    for spec in specs["runs"]:
        kwargs = dict(spec["model_kwargs"])
        if kwargs.get("pretrained_weights") is not None:
            kwargs["pretrained_weights"] = None  # random init: counts and timing do not depend on the weights
        entry = {
            "model": spec["model"],
            "model_kwargs": kwargs,
            "input_shape": [
                model_input_channels(spec, spec["dataset"], registry),
                spec["input"]["size"],
                spec["input"]["size"],
            ],
            "num_classes": len(label_set(spec["label_set"])),
            "feature_dim": fused_feature_dim(spec, spec["dataset"], registry, specs.get("features") or {}),
        }
        key = json.dumps(entry, sort_keys=True)
        target = entries.setdefault(key, dict(entry, experiments=[], datasets=[], uses=[], claimed=False))
        for field, value in (
            ("experiments", spec["experiment"]),
            ("datasets", spec["dataset"]),
            ("uses", [spec["experiment"], spec["dataset"]]),
        ):
            if value not in target[field]:
                target[field].append(value)
        target["claimed"] = target["claimed"] or spec["experiment"] in specs.get("claimed", [])
    ordered = list(entries.values())
    for index, entry in enumerate(ordered):
        entry["id"] = f"m{index}"
    return ordered


# ------------------------------------------------------------------------------------------ measuring


def _latency_signature(entry: dict) -> tuple:
    # Factory and spatial size decide the cost; channels and classes change only the first and last layer.
    return entry["model"], tuple(entry["input_shape"][1:])


def measure_paper(
    paper: str,
    entries: list[dict[str, Any]],
    threads: int | None,
    cpu_runs: int = CPU_RUNS,
    cpu_warmup: int = CPU_WARMUP,
    gpu: bool | None = None,
) -> dict[str, Any]:
    import torch

    from ferrepro.evaluation.efficiency import (
        FLOP_CONVENTION_NOTE,
        count_flops,
        count_parameters,
        device_name,
        measure_latency,
    )
    from ferrepro.models import build_model

    gpu = torch.cuda.is_available() if gpu is None else gpu
    measured: dict[tuple, dict] = {}
    # Claimed entries first, so the latency a claim is compared with is measured on its own model.
    order = sorted(range(len(entries)), key=lambda i: (not entries[i]["claimed"], i))
    models = {}
    for index in order:
        entry = dict(entries[index])
        torch.manual_seed(0)
        model = build_model(
            entry["model"],
            num_classes=entry["num_classes"],
            in_channels=entry["input_shape"][0],
            input_size=entry["input_shape"][1],
            **dict(entry["model_kwargs"], **({"feature_dim": entry["feature_dim"]} if entry["feature_dim"] else {})),
        )
        generator = torch.Generator().manual_seed(0)
        example = [torch.rand(1, *entry["input_shape"], generator=generator)]
        if entry["feature_dim"]:
            example.append(torch.rand(1, entry["feature_dim"], generator=generator))
        entry["parameters"] = count_parameters(model)
        flops = count_flops(model, tuple(example))
        entry["flops"] = {k: flops[k] for k in ("flops", "macs", "gflops", "gmacs", "by_operator")}
        signature = _latency_signature(entry)
        if signature in measured:
            source = measured[signature]
            entry["latency_measured_on"] = source["id"]
            entry["latency_cpu"], entry["latency_gpu"] = source["latency_cpu"], source["latency_gpu"]
        else:
            entry["latency_measured_on"] = entry["id"]
            entry["latency_cpu"] = measure_latency(
                model, tuple(example), BATCH_SIZES, n_runs=cpu_runs, warmup=cpu_warmup, device="cpu", threads=threads
            )
            entry["latency_gpu"] = (
                measure_latency(model, tuple(example), BATCH_SIZES, n_runs=GPU_RUNS, warmup=GPU_WARMUP, device="cuda")
                if gpu
                else None
            )
            measured[signature] = entry
        models[entry["id"]] = entry
        del model
    # experiment -> dataset -> entry: a run's dataset can change its input channels or feature width
    experiments: dict[str, dict[str, str]] = {}
    for entry in entries:
        for name, dataset in entry["uses"]:
            experiments.setdefault(name, {})[dataset] = entry["id"]
    return {
        "paper": paper,
        "note": FLOP_CONVENTION_NOTE,
        "cpu": device_name("cpu"),
        "threads": threads,
        "gpu": device_name("cuda") if gpu else None,
        "torch": torch.__version__,
        "protocol": {
            "cpu_runs": cpu_runs,
            "cpu_warmup": cpu_warmup,
            "gpu_runs": GPU_RUNS,
            "gpu_warmup": GPU_WARMUP,
            "batch_sizes": list(BATCH_SIZES),
            "flops_batch_size": 1,
            "weights": "random",
        },
        "models": {entry["id"]: models[entry["id"]] for entry in entries},
        "experiments": experiments,
    }


def _cpu_b1(entry: dict) -> dict | None:
    return next((r for r in (entry.get("latency_cpu") or {}).get("results", []) if r["batch_size"] == 1), None)


def cli_measure(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ferrepro efficiency-paper", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--specs-json", required=True, help="ferrepro.reporting.model_specs.full_profile_model_specs as JSON"
    )
    parser.add_argument("--registry", default="config/datasets.yaml")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads for the latency runs")
    parser.add_argument("--cpu-runs", type=int, default=CPU_RUNS)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    from ferrepro.data.registry import load_registry

    specs = json.loads(args.specs_json)
    entries = model_entries(specs, load_registry(args.registry))
    report = measure_paper(specs["paper"], entries, args.threads, cpu_runs=args.cpu_runs)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    for entry in report["models"].values():
        b1 = _cpu_b1(entry)
        print(
            f"{specs['paper']} {entry['model']} {entry['input_shape']}: {entry['parameters']['total']:,} params, "
            f"{entry['flops']['gflops']:.3f} GFLOPs, CPU b1 {b1['median_ms']:.1f} ms"
        )
    return 0
