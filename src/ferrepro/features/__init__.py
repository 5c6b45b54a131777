"""Handcrafted features (HoG, sliding-window HoG, dlib landmarks) and image preprocessing ops.

``compute_feature(name, images, params, threads)`` is the one entry point the CLI
(``ferrepro features``) and the training code use; it returns float32 N x D features plus an info
dict (resolved parameters, layout, failures) that goes into the feature's sidecar JSON.
Submodules import their heavy dependencies (cv2, skimage, dlib) lazily.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

FEATURES = ("hog", "sliding_hog", "landmarks")


@dataclass
class FeatureResult:
    features: np.ndarray  # float32 N x D; NaN rows where extraction failed (landmarks only)
    info: dict[str, Any] = field(default_factory=dict)
    points: np.ndarray | None = None  # landmarks only: N x 68 x 2 pixel coordinates (NaN on failure)


def resolve_params(name: str, params: dict[str, Any] | None):
    """Typed, validated parameters for a feature name (defaults filled in)."""
    if name == "hog":
        from ferrepro.features.hog import HogParams, params_from_dict

        return params_from_dict(HogParams, params)
    if name == "sliding_hog":
        from ferrepro.features.hog import SlidingHogParams, params_from_dict

        return params_from_dict(SlidingHogParams, params)
    if name == "landmarks":
        from ferrepro.features.landmarks import params_from_dict

        return params_from_dict(params)
    raise ValueError(f"unknown feature {name!r}; expected one of {FEATURES}")


def default_params(name: str) -> dict[str, Any]:
    return resolve_params(name, {}).to_dict()


def compute_feature(
    name: str,
    images: np.ndarray,
    params: dict[str, Any] | None = None,
    threads: int = 1,
    sample_ids: list[str] | None = None,
    out: np.ndarray | None = None,
) -> FeatureResult:
    """Compute one feature for uint8 N x H x W x C images (C in 1, 3)."""
    p = resolve_params(name, params)
    info: dict[str, Any] = {"feature": name, "params": p.to_dict(), "n_images": int(len(images))}
    if name in ("hog", "sliding_hog"):
        from ferrepro.features import hog

        h, w = images.shape[1], images.shape[2]
        feats = hog.compute_hog(images, p, threads=threads, out=out)
        info["layout"] = hog.describe_layout(h, w, p)
        info["dim"] = int(feats.shape[1])
        return FeatureResult(feats, info)
    from ferrepro.features import landmarks

    result = landmarks.extract_landmarks(images, p, threads=threads)
    feats = result.features(p)
    if out is not None:
        out[...] = feats
        feats = out
    info["dim"] = int(feats.shape[1])
    info["layout"] = {
        "order": "x0, y0, x1, y1, ... normalised to the face box"
        + (", then pdist distances" if p.pairwise_distances else ""),
        "points_file": "pixel coordinates N x 68 x 2, NaN for failures",
    }
    info.update(landmarks.failure_summary(result, sample_ids))
    return FeatureResult(feats, info, points=result.points)
