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

Severity 0 is always the identity. Randomness is drawn from a CPU ``torch.Generator`` seeded from
``seed``; the same random numbers are used at every severity (common random numbers: the same
patch positions, noise pattern and brightness signs, only scaled), so differences between
severities reflect magnitude, not luck.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

SEVERITIES: dict[str, dict[int, float]] = {
    "occlusion": {1: 0.05, 2: 0.15, 3: 0.30},        # occluded area fraction
    "gaussian_noise": {1: 0.04, 2: 0.08, 3: 0.18},   # noise standard deviation
    "brightness": {1: 0.1, 2: 0.2, 3: 0.3},          # absolute brightness shift
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
        out[index, :, top:top + side, left:left + side] = 0.0
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


def _accuracy(predict_fn, images: torch.Tensor, labels: np.ndarray, batch_size: int,
              transform: Callable[[torch.Tensor, int], torch.Tensor] | None) -> float:
    correct = 0
    for batch_index, start in enumerate(range(0, images.shape[0], batch_size)):
        batch = images[start:start + batch_size]
        if transform is not None:
            batch = transform(batch, batch_index)
        correct += int(np.sum(_predict_labels(predict_fn, batch) == labels[start:start + batch_size]))
    return correct / images.shape[0]


def robustness_table(predict_fn: Callable[[torch.Tensor], Any], images: torch.Tensor, labels: Any, seed: int,
                     perturbations: tuple[str, ...] | None = None, batch_size: int = 256) -> pd.DataFrame:
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
            rows.append({
                "perturbation": perturbation,
                "severity": severity,
                "parameter": parameter,
                "accuracy": accuracy,
                "clean_accuracy": clean_accuracy,
                "drop_pp": 100.0 * (clean_accuracy - accuracy),
                "n": int(images.shape[0]),
            })
    table = pd.DataFrame(rows)
    table.attrs.update({"seed": int(seed), "batch_size": int(batch_size)})
    return table
