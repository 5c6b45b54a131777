"""Model efficiency: parameter counts, FLOPs and inference latency, of one model or of every network of a paper.

Used to check claims such as abdeldayem2025's "11.6 M parameters", "4.2 GFLOPs per forward pass"
and "21 ms (GPU)". ``ferrepro efficiency --specs-json`` measures one paper's networks (the workflow's
efficiency rule, ``results/efficiency/<paper>.json``); ``ferrepro efficiency --model`` measures one
registered model at a given input shape. ``ferrepro efficiency-table`` (ferrepro.reporting.efficiency_table)
collects the paper reports into ``results/efficiency.{csv,md,html}``.

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

**A paper's networks** (``model_entries``, ``measure_paper``). Which: every runnable experiment of the
paper expanded by the **full** preset (the paper's datasets, input size, channels and label set; the
quick preset shrinks inputs for speed, which would make the numbers meaningless). Runs that build the
same network (same factory, keyword arguments, input, classes and fused-feature width) are one entry.
Weights are random: ImageNet initialisation (abdeldayem2025) does not change counts or timing, and the
checkpoint is not in the repository.

What is measured per network, with the conventions above:

* parameters (all, and trainable);
* FLOPs and MACs of one forward pass at batch 1;
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
import platform
import statistics
import sys
import time
import warnings
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

CPU_RUNS, CPU_WARMUP = 20, 3
GPU_RUNS, GPU_WARMUP = 50, 10
BATCH_SIZES = (1, 32)

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
    """One entry per distinct network in ``specs`` (ferrepro.config.model_specs: each run's
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


# ---------------------------------------------------------------------------------------- command line

# What to measure is named one of two ways; each takes options of its own (None: not given), with these defaults.
ONLY_WITH = {
    "specs_json": {"registry": None},
    "model": {
        "model_kwargs_json": "{}",
        "input_shape": None,
        "feature_dim": None,
        "batch_sizes": [1, 32],
        "warmup": 5,
        "device": "cpu",
        "seed": 0,
    },
}


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ferrepro efficiency", description=__doc__.split("\n\n")[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--specs-json",
        help="every network of one paper: ferrepro.config.model_specs.full_preset_model_specs as JSON "
        "(the workflow's efficiency rule)",
    )
    what.add_argument("--model", help="one registered model, e.g. majeed2025.cnn (with --input-shape)")
    parser.add_argument("--out", required=True, type=Path, help="output JSON file")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads for the latency runs")
    parser.add_argument("--n-runs", type=int, default=CPU_RUNS, help=f"timed CPU calls per batch size ({CPU_RUNS})")
    paper = parser.add_argument_group("with --specs-json")
    paper.add_argument("--registry", help="dataset registry (default config/datasets.yaml)")
    one = parser.add_argument_group("with --model")
    one.add_argument("--model-kwargs-json", help="JSON object of keyword arguments for the factory (default {})")
    one.add_argument("--input-shape", type=int, nargs=3, metavar=("C", "H", "W"))
    one.add_argument("--feature-dim", type=int, help="feature vector length for feature-fusion models")
    one.add_argument("--batch-sizes", type=int, nargs="+", help="default 1 32")
    one.add_argument("--warmup", type=int, help="untimed calls before the timed ones (default 5)")
    one.add_argument("--device", help="cpu (default), cuda or cuda:N")
    one.add_argument("--seed", type=int, help="seed of the random example input (default 0)")
    return parser


def _parse(argv: list[str]) -> argparse.Namespace:
    """Arguments with each way's defaults filled in; an option of the other way is refused, naming both."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    way = "model" if args.model is not None else "specs_json"
    for owner, options in ONLY_WITH.items():
        for name, default in options.items():
            if owner != way and getattr(args, name) is not None:
                parser.error(f"{_flag(name)} goes with {_flag(owner)}, not {_flag(way)}")
            if owner == way and getattr(args, name) is None:
                setattr(args, name, default)
    if way == "model" and args.input_shape is None:
        parser.error("--model needs --input-shape C H W")
    return args


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


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
    """Entry point of ``ferrepro efficiency``: a paper's networks (``--specs-json``) or one model (``--model``).

    ``ferrepro efficiency --specs-json JSON [--registry config/datasets.yaml] [--threads N] [--n-runs 20] --out FILE``
    writes :func:`measure_paper`'s report; ``ferrepro efficiency --model NAME --input-shape C H W
    [--model-kwargs-json '{}'] [--feature-dim D] [--batch-sizes 1 32] [--n-runs 20] [--warmup 5] [--device cpu]
    [--threads N] --out FILE`` writes :func:`efficiency_report`'s.
    """
    args = _parse(argv)
    if args.model is not None:
        _measure_one_model(args)
    else:
        _measure_one_paper(args)
    return 0


def _measure_one_paper(args: argparse.Namespace) -> None:
    from ferrepro.data.registry import load_registry

    specs = json.loads(args.specs_json)
    entries = model_entries(specs, load_registry(args.registry))
    report = measure_paper(specs["paper"], entries, args.threads, cpu_runs=args.n_runs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    for entry in report["models"].values():
        b1 = _cpu_b1(entry)
        print(
            f"{specs['paper']} {entry['model']} {entry['input_shape']}: {entry['parameters']['total']:,} params, "
            f"{entry['flops']['gflops']:.3f} GFLOPs, CPU b1 {b1['median_ms']:.1f} ms"
        )


def _measure_one_model(args: argparse.Namespace) -> None:
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


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
