"""Robustness of a trained model to occlusion, noise and brightness changes.

abdeldayem2025 (Sec. 4.4) reports "an accuracy degradation of less than 3% across all datasets"
under "random occlusion, noise injection, and brightness variation" without giving magnitudes.
We therefore define three fixed severities per perturbation (:data:`SEVERITIES`) and report the
accuracy drop at each, so the claim can be read against a documented scale.

All perturbations act on float image batches ``B x C x H x W`` with values in [0, 1], *before* any
model-specific normalisation (``predict_fn`` must apply that itself), and clip back to [0, 1].

Severity values and why:

* ``occlusion``: fraction of the image area covered by one black (0) square patch per image at a
  uniformly random position, in the spirit of Random Erasing (Zhong et al., 2020). 5 %, 15 %, 30 %:
  roughly an eye, an eye and brow, or a mouth-and-chin region of an aligned face crop.
* ``gaussian_noise``: standard deviation of additive i.i.d. Gaussian noise, independently per pixel
  and channel. 0.04, 0.08, 0.18: the 0.08 and 0.18 values are severities 1 and 3 of ImageNet-C
  (Hendrycks & Dietterich, 2019); 0.04 adds a milder level suited to small grayscale faces.
* ``brightness``: magnitude of an additive shift of all pixels, with a random sign per image so
  that both under- and over-exposure (the conditions the paper's gamma correction targets) are
  covered. 0.1, 0.2, 0.3: ImageNet-C brightness severities 1-3 (which only brighten, in HSV value;
  for grayscale the two coincide).

For a trained run, :func:`run_robustness` (``ferrepro robustness``, the ``robustness`` rule for runs
whose spec sets ``robustness: true``) perturbs the decoded test images *before* the run's own
preprocessing, resizing and normalisation, as a photo taken under those conditions would be, checks
that its clean predictions equal the evaluate rule's, and writes ``robustness.json`` with the
accuracy and the drop (paired bootstrap CI) per condition.

Severity 0 is always the identity. Randomness is drawn from a CPU ``torch.Generator`` seeded from
``seed``; the same random numbers are used at every severity (common random numbers: the same
patch positions, noise pattern and brightness signs, only scaled), so differences between
severities reflect magnitude, not luck.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ferrepro.runspec import RunSpec

SEVERITIES: dict[str, dict[int, float]] = {
    "occlusion": {1: 0.05, 2: 0.15, 3: 0.30},  # occluded area fraction
    "gaussian_noise": {1: 0.04, 2: 0.08, 3: 0.18},  # noise standard deviation
    "brightness": {1: 0.1, 2: 0.2, 3: 0.3},  # absolute brightness shift
}

# Floating-point slack for the [0, 1] input check (e.g. after resizing with antialiasing).
_RANGE_TOLERANCE = 1e-4


def check_image_batch(images: torch.Tensor) -> None:
    """Raise a clear error unless ``images`` is a float ``B x C x H x W`` tensor in [0, 1]."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}; see to_float_batch()")
    if images.dim() != 4:
        raise ValueError(f"images must be B x C x H x W, got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"images must be float in [0, 1], got dtype {images.dtype}; divide uint8 images by 255")
    if images.numel() and (images.min() < -_RANGE_TOLERANCE or images.max() > 1 + _RANGE_TOLERANCE):
        raise ValueError(
            f"images must lie in [0, 1] (range found: {float(images.min()):.3f}..{float(images.max()):.3f}); "
            "perturb before mean/std normalisation and apply normalisation inside predict_fn"
        )


def to_float_batch(images: np.ndarray) -> torch.Tensor:
    """uint8 ``N x H x W x C`` (the decoded standard format) -> float ``N x C x H x W`` in [0, 1]."""
    array = np.asarray(images)
    if array.dtype != np.uint8 or array.ndim != 4:
        raise ValueError(f"expected uint8 N x H x W x C images, got dtype {array.dtype} and shape {array.shape}")
    return torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).float().div_(255.0)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(int(seed))


def occlude(images: torch.Tensor, area_fraction: float, seed: int) -> torch.Tensor:
    """Black out one square patch covering ``area_fraction`` of each image at a random position."""
    check_image_batch(images)
    if not 0 <= area_fraction <= 1:
        raise ValueError(f"area_fraction must be in [0, 1], got {area_fraction}")
    out = images.clone()
    batch, _, height, width = images.shape
    side = int(round(math.sqrt(area_fraction * height * width)))
    side = min(side, height, width)
    # Positions are drawn as fractions so the same seed gives the same relative position at every size.
    fractions = torch.rand(batch, 2, generator=_generator(seed))
    if side == 0:
        return out
    tops = (fractions[:, 0] * (height - side + 1)).long().clamp(max=height - side)
    lefts = (fractions[:, 1] * (width - side + 1)).long().clamp(max=width - side)
    for index, (top, left) in enumerate(zip(tops.tolist(), lefts.tolist())):
        out[index, :, top : top + side, left : left + side] = 0.0
    return out


def add_gaussian_noise(images: torch.Tensor, sigma: float, seed: int) -> torch.Tensor:
    """Add i.i.d. N(0, sigma^2) noise to every pixel and channel, then clip to [0, 1]."""
    check_image_batch(images)
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    noise = torch.randn(images.shape, generator=_generator(seed), dtype=images.dtype)
    return (images + sigma * noise.to(images.device)).clamp_(0.0, 1.0)


def shift_brightness(images: torch.Tensor, delta: float, seed: int) -> torch.Tensor:
    """Add ``+delta`` or ``-delta`` (random sign per image) to all pixels, then clip to [0, 1]."""
    check_image_batch(images)
    if delta < 0:
        raise ValueError(f"delta is a magnitude and must be >= 0, got {delta}")
    signs = torch.randint(0, 2, (images.shape[0],), generator=_generator(seed)).to(images.dtype) * 2 - 1
    shift = (delta * signs).view(-1, 1, 1, 1).to(images.device)
    return (images + shift).clamp_(0.0, 1.0)


_PERTURBATION_FUNCTIONS: dict[str, Callable[[torch.Tensor, float, int], torch.Tensor]] = {
    "occlusion": occlude,
    "gaussian_noise": add_gaussian_noise,
    "brightness": shift_brightness,
}


def perturb(images: torch.Tensor, perturbation: str, severity: int, seed: int) -> torch.Tensor:
    """Apply ``perturbation`` at ``severity`` (0 = identity, 1-3 from :data:`SEVERITIES`)."""
    if perturbation not in SEVERITIES:
        raise ValueError(f"unknown perturbation {perturbation!r}; choose from {sorted(SEVERITIES)}")
    if severity == 0:
        check_image_batch(images)
        return images.clone()
    if severity not in SEVERITIES[perturbation]:
        raise ValueError(f"severity must be 0 or one of {sorted(SEVERITIES[perturbation])}, got {severity}")
    return _PERTURBATION_FUNCTIONS[perturbation](images, SEVERITIES[perturbation][severity], seed)


def _batch_seed(seed: int, perturbation: str, batch_index: int) -> int:
    # Independent streams per perturbation and batch; severity deliberately not included (common random numbers).
    perturbation_index = sorted(SEVERITIES).index(perturbation)
    return int(np.random.SeedSequence([int(seed), perturbation_index, batch_index]).generate_state(1)[0])


def _predict_labels(predict_fn: Callable[[torch.Tensor], Any], images: torch.Tensor) -> np.ndarray:
    with torch.no_grad():  # evaluation only; avoids keeping autograd graphs if predict_fn forgets
        output = predict_fn(images)
    output = output.detach().cpu().numpy() if isinstance(output, torch.Tensor) else np.asarray(output)
    if output.ndim == 2:  # logits or probabilities
        output = output.argmax(axis=1)
    if output.shape != (images.shape[0],):
        raise ValueError(
            f"predict_fn must return B labels or B x K scores for a batch of {images.shape[0]}, "
            f"got shape {output.shape}"
        )
    return output


def _accuracy(
    predict_fn,
    images: torch.Tensor,
    labels: np.ndarray,
    batch_size: int,
    transform: Callable[[torch.Tensor, int], torch.Tensor] | None,
) -> float:
    correct = 0
    for batch_index, start in enumerate(range(0, images.shape[0], batch_size)):
        batch = images[start : start + batch_size]
        if transform is not None:
            batch = transform(batch, batch_index)
        correct += int(np.sum(_predict_labels(predict_fn, batch) == labels[start : start + batch_size]))
    return correct / images.shape[0]


def robustness_table(
    predict_fn: Callable[[torch.Tensor], Any],
    images: torch.Tensor,
    labels: Any,
    seed: int,
    perturbations: tuple[str, ...] | None = None,
    batch_size: int = 256,
) -> pd.DataFrame:
    """Accuracy under every perturbation and severity, against clean accuracy.

    Args:
        predict_fn: maps a float ``B x C x H x W`` batch in [0, 1] to predicted labels (``B``) or
            class scores (``B x K``, arg-maxed). It must apply the model's own normalisation.
        images: float tensor in [0, 1]; perturbed batch by batch to bound memory.
        labels: integer class indices, one per image.
        seed: perturbation randomness. Results depend on ``(seed, batch_size)`` because each batch
            gets its own generator; ``batch_size`` is stored in ``DataFrame.attrs``.
        perturbations: subset of :data:`SEVERITIES` keys (default: all).

    Returns:
        one row per (perturbation, severity 1-3): ``perturbation``, ``severity``, ``parameter``
        (the magnitude from :data:`SEVERITIES`), ``accuracy``, ``clean_accuracy``, ``drop_pp``
        (clean minus perturbed accuracy, in percentage points; positive = worse) and ``n``.
    """
    check_image_batch(images)
    labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if labels.shape != (images.shape[0],):
        raise ValueError(f"need one label per image: {images.shape[0]} images, labels of shape {labels.shape}")
    if images.shape[0] == 0:
        raise ValueError("robustness_table needs at least one image")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    chosen = tuple(sorted(SEVERITIES)) if perturbations is None else tuple(perturbations)
    unknown = set(chosen) - set(SEVERITIES)
    if unknown:
        raise ValueError(f"unknown perturbations {sorted(unknown)}; choose from {sorted(SEVERITIES)}")

    clean_accuracy = _accuracy(predict_fn, images, labels, batch_size, transform=None)
    rows = []
    for perturbation in chosen:
        for severity, parameter in SEVERITIES[perturbation].items():

            def transform(batch, batch_index, perturbation=perturbation, severity=severity):
                return perturb(batch, perturbation, severity, _batch_seed(seed, perturbation, batch_index))

            accuracy = _accuracy(predict_fn, images, labels, batch_size, transform)
            rows.append(
                {
                    "perturbation": perturbation,
                    "severity": severity,
                    "parameter": parameter,
                    "accuracy": accuracy,
                    "clean_accuracy": clean_accuracy,
                    "drop_pp": 100.0 * (clean_accuracy - accuracy),
                    "n": int(images.shape[0]),
                }
            )
    table = pd.DataFrame(rows)
    table.attrs.update({"seed": int(seed), "batch_size": int(batch_size)})
    return table


# --------------------------------------------------------------------------------------------
# one trained run: perturb its test images BEFORE the paper's preprocessing (robustness.json)
# --------------------------------------------------------------------------------------------

ROBUSTNESS_FILE = "robustness.json"
# Clean predictions recomputed here must agree with the evaluate rule's; a larger share of
# disagreements means the two code paths see different images, and the table would be wrong.
MAX_CLEAN_DISAGREEMENT = 0.01


def conditions(perturbations: tuple[str, ...] | None = None) -> list[tuple[str, int, float]]:
    """(perturbation, severity, magnitude) of every perturbed condition, in table order."""
    chosen = tuple(sorted(SEVERITIES)) if perturbations is None else tuple(perturbations)
    return [(p, s, v) for p in chosen for s, v in SEVERITIES[p].items()]


def check_supported(spec: RunSpec, where: str) -> None:
    """Robustness is defined for image-only models tested on their own split (see run_robustness)."""
    if spec.features:
        raise ValueError(
            f"{where}: robustness evaluation of a feature-fusion model is not supported: its HoG/landmark "
            "features come from the clean images and would not see the perturbation"
        )
    if spec.balance.order == "leaky":
        raise ValueError(
            f"{where}: robustness evaluation of a leaky run is not supported (its test set is a re-split pool)"
        )


def _test_rows(decoded, split_csv, classes, where: str) -> tuple[np.ndarray, np.ndarray]:
    from ferrepro.data.splits import read_split
    from ferrepro.labels import encode

    split = read_split(split_csv)
    ids = split.loc[split["split"] == "test", "sample_id"].astype(str).to_numpy()
    position = {sid: i for i, sid in enumerate(decoded.samples["sample_id"].astype(str))}
    missing = [sid for sid in ids if sid not in position]
    if missing:
        raise ValueError(f"{split_csv}: {len(missing)} test ids are not in the decoded dataset, e.g. {missing[:3]}")
    rows = np.array([position[s] for s in ids], dtype=np.int64)
    labels = decoded.samples["label"].astype(str).to_numpy()[rows]
    keep = np.isin(labels, list(classes))  # as evaluation does: classes outside the label set are not scored
    return rows[keep], encode(labels[keep], tuple(classes))


def robustness_outcomes(
    model,
    spec: RunSpec,
    images: np.ndarray,
    landmarks: np.ndarray | None,
    seed: int,
    batch_size: int = 64,
    perturbations: tuple[str, ...] | None = None,
) -> dict[str, np.ndarray]:
    """Predicted class per test image, clean and under every perturbation.

    ``images`` are decoded uint8 N x H x W x C test images. Each batch is perturbed in [0, 1] at the
    decoded resolution, then goes through the run's own preprocessing (gamma, landmark emphasis,
    channel split...), resizing and normalisation, as a photo taken under those conditions would.
    The clean condition is fed as uint8, exactly as the evaluate rule feeds it.
    """
    from ferrepro.evaluation.evaluate import predict_probabilities
    from ferrepro.features.preprocess import apply_pipeline
    from ferrepro.training.inputs import to_model_input

    steps = spec.preprocess
    size, channels, normalize = spec.input.size, spec.input.channels, spec.input.normalize

    def predict(batch: np.ndarray, points: np.ndarray | None) -> np.ndarray:
        if steps:
            batch = apply_pipeline(batch, steps, landmarks=points)
        x = to_model_input(batch, size, channels)
        return predict_probabilities(model, x, normalize, batch_size=len(x)).argmax(1)

    chosen = conditions(perturbations)
    predictions = {"clean": np.empty(len(images), np.int64)}
    predictions.update({f"{p}/{s}": np.empty(len(images), np.int64) for p, s, _ in chosen})
    for batch_index, start in enumerate(range(0, len(images), batch_size)):
        stop = min(start + batch_size, len(images))
        raw = np.asarray(images[start:stop])
        points = None if landmarks is None else np.asarray(landmarks[start:stop])
        predictions["clean"][start:stop] = predict(raw, points)
        floats = to_float_batch(raw)
        for perturbation, severity, _ in chosen:
            perturbed = perturb(floats, perturbation, severity, _batch_seed(seed, perturbation, batch_index))
            nhwc = perturbed.permute(0, 2, 3, 1).contiguous().numpy()
            predictions[f"{perturbation}/{severity}"][start:stop] = predict(nhwc, points)
    return predictions


def run_robustness(
    run_dir: str | Path,
    decoded_dir: str | Path,
    split_csv: str | Path,
    landmarks_points: str | Path | None = None,
    seed: int = 0,
    batch_size: int = 64,
    expected_digest: str | None = None,
) -> dict[str, Any]:
    """robustness.json of one evaluated run: accuracy and drop (with a paired bootstrap CI) per condition.

    What is held fixed, and why: the landmark points of ``landmark_emphasis`` come from the clean
    image (the cached dlib points), i.e. an occlusion does not also move the detector's points;
    that is the favourable case for the model.
    """
    import json

    from ferrepro.data.standard import load_decoded
    from ferrepro.evaluation.stats import paired_bootstrap_diff_ci
    from ferrepro.models.checkpoint import MODEL_FILE, load_trained_model

    run = Path(run_dir)
    model, spec, classes = load_trained_model(run / MODEL_FILE, expected_digest)
    check_supported(spec, str(run))
    metrics = json.loads((run / "metrics.json").read_text())
    decoded = load_decoded(decoded_dir)
    rows, labels = _test_rows(decoded, split_csv, classes, str(run))
    expected = pd.read_parquet(run / "predictions.parquet")
    ids = decoded.samples["sample_id"].astype(str).to_numpy()[rows]
    if list(ids) != list(expected["sample_id"].astype(str)):
        raise ValueError(
            f"{run}/predictions.parquet lists other test samples than {split_csv}: the evaluation is "
            "stale (rerun the evaluate rule)"
        )
    points = np.load(landmarks_points, mmap_mode="r")[rows] if landmarks_points else None
    if any(s.get("op") == "landmark_emphasis" for s in spec.preprocess) and points is None:
        raise ValueError(f"{run}: its preprocessing emphasises landmarks; pass --landmarks-points")
    predicted = robustness_outcomes(model, spec, decoded.images[rows], points, seed, batch_size)

    index = {c: i for i, c in enumerate(classes)}
    disagreement = float(np.mean(predicted["clean"] != expected["predicted_label"].map(index).to_numpy()))
    if disagreement > MAX_CLEAN_DISAGREEMENT:
        raise ValueError(
            f"{run}: clean predictions here differ from predictions.parquet on {disagreement:.1%} of the "
            "test images; the robustness path does not prepare images as evaluation does"
        )
    clean = predicted["clean"] == labels
    rows_out = []
    for perturbation, severity, magnitude in conditions():
        correct = predicted[f"{perturbation}/{severity}"] == labels
        drop = paired_bootstrap_diff_ci(clean, correct, seed=seed)
        rows_out.append(
            {
                "perturbation": perturbation,
                "severity": severity,
                "magnitude": magnitude,
                "accuracy": float(correct.mean()),
                "drop_pp": 100 * drop["difference"],
                "drop_ci_low_pp": 100 * drop["ci_low"],
                "drop_ci_high_pp": 100 * drop["ci_high"],
                "drop_ci_method": drop["method"],
                "relative_drop_pct": 100 * drop["difference"] / clean.mean() if clean.mean() > 0 else None,
            }
        )
    return {
        "run": metrics.get("run"),
        "paper": spec.paper,
        "experiment": spec.experiment,
        "group": spec.claim_group,
        "fold": spec.fold,
        "dataset": spec.dataset,
        "seed": spec.seed,
        "synthetic": bool(metrics.get("synthetic", False)),
        "n": int(len(labels)),
        "clean_accuracy": float(clean.mean()),
        "evaluate_accuracy": float(metrics["accuracy"]),
        "clean_disagreement_with_evaluate": disagreement,
        "perturbation_seed": seed,
        "batch_size": batch_size,
        "severities": SEVERITIES,
        "conditions": rows_out,
        "protocol": "perturbed in [0, 1] at the decoded resolution before the run's preprocessing, resizing and "
        "normalisation; landmark points from the clean image; drop = clean - perturbed accuracy in "
        "percentage points, paired bootstrap 95% CI over test images (2000 resamples)",
    }


def cli(argv: list[str]) -> int:
    """``ferrepro robustness --run DIR --decoded DIR --split CSV [--landmarks-points NPY] [--seed 0]``."""
    import argparse
    import json

    parser = argparse.ArgumentParser(
        prog="ferrepro robustness", description="accuracy of a trained run under occlusion, noise and brightness shifts"
    )
    parser.add_argument("--run", required=True, help="run folder holding model.pt, metrics.json, predictions.parquet")
    parser.add_argument("--decoded", required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("--landmarks-points", nargs="?", help="landmarks_points.npy, for a landmark_emphasis step")
    parser.add_argument("--seed", type=int, default=0, help="perturbation randomness (patch positions, noise, signs)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--spec-digest", help="refuse a model.pt trained for another spec than this digest")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run_robustness(
        args.run, args.decoded, args.split, args.landmarks_points, seed=args.seed, expected_digest=args.spec_digest
    )
    result["spec_digest"] = json.loads((Path(args.run) / "metrics.json").read_text())["provenance"]["spec_digest"]
    (Path(args.run) / ROBUSTNESS_FILE).write_text(json.dumps(result, indent=1))
    worst = max(result["conditions"], key=lambda r: r["drop_pp"])
    print(
        f"{result['run']}: clean {result['clean_accuracy']:.4f}; largest drop {worst['drop_pp']:.1f} pp "
        f"({worst['perturbation']} severity {worst['severity']})"
    )
    return 0
