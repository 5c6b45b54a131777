"""``ferrepro features``: compute one cached feature array for a decoded dataset.

    ferrepro features --decoded results/decoded/<dataset> --feature {hog,sliding_hog,landmarks} \\
        --params-json '<json>' --out results/features/<dataset>/<feature>.npy --threads N

Writes ``<feature>.npy`` (float32 N x D, rows in ``samples.csv`` order, memory-mappable), a sidecar
``<feature>.json`` (parameters, dim, timing, images/s, and for landmarks the failure count, rate and
failed sample ids) and, for landmarks, ``<feature>_points.npy`` (N x 68 x 2 pixel coordinates,
the input of the ``landmark_emphasis`` preprocessing op). Files are written under a temporary
name and renamed at the end, so an interrupted run never leaves a truncated array behind.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from ferrepro.features import FEATURES, compute_feature


def sidecar_path(out: Path) -> Path:
    return out.with_suffix(".json")


def points_path(out: Path) -> Path:
    return out.with_name(out.stem + "_points.npy")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ferrepro features", description=__doc__.split("\n\n")[0])
    p.add_argument("--decoded", required=True, type=Path, help="decoded dataset folder (images.npy, samples.csv)")
    p.add_argument("--feature", required=True, choices=FEATURES)
    p.add_argument("--params-json", default="{}", help="JSON object of feature parameters (config features.<feature>)")
    p.add_argument("--out", required=True, type=Path, help="output .npy path")
    p.add_argument("--threads", type=int, default=1, help="threads (HoG) or worker processes (landmarks)")
    return p


def _versions() -> dict[str, str]:
    import cv2
    import skimage

    v = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "scikit-image": skimage.__version__,
    }
    try:
        import dlib

        v["dlib"] = dlib.__version__
    except ImportError:
        pass
    return v


def _save_atomic(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


def run(decoded: Path, feature: str, params: dict, out: Path, threads: int = 1) -> dict:
    """Compute and write the feature files; returns the sidecar dict."""
    from ferrepro.data.standard import load_decoded

    if not str(out).endswith(".npy"):
        raise ValueError(f"--out must end with .npy, got {out}")
    data = load_decoded(decoded)
    out.parent.mkdir(parents=True, exist_ok=True)
    print(
        f"[features] {feature}: {data.n} images {tuple(data.images.shape[1:])} from {decoded}, threads={threads}",
        file=sys.stderr,
        flush=True,
    )
    t0 = time.perf_counter()
    result = compute_feature(
        feature, data.images, params, threads=threads, sample_ids=data.samples["sample_id"].astype(str).tolist()
    )
    seconds = time.perf_counter() - t0
    feats = np.ascontiguousarray(result.features, dtype=np.float32)
    if len(feats) != data.n:
        raise RuntimeError(f"{feature}: {len(feats)} feature rows for {data.n} images")
    info = dict(result.info)
    info.update(
        decoded=str(decoded),
        output=str(out),
        shape=list(feats.shape),
        dtype="float32",
        n_nan_rows=int(np.isnan(feats).any(axis=1).sum()),
        threads=int(threads),
        seconds=round(seconds, 3),
        images_per_s=round(data.n / seconds, 1) if seconds > 0 else None,
        versions=_versions(),
    )
    _save_atomic(out, feats)
    if result.points is not None:
        _save_atomic(points_path(out), result.points.astype(np.float32))
        info["points_file"] = str(points_path(out))
    tmp = sidecar_path(out).with_name(sidecar_path(out).name + ".tmp")
    tmp.write_text(json.dumps(info, indent=2, default=_json_default))
    os.replace(tmp, sidecar_path(out))
    summary = f"[features] {feature}: wrote {out} {feats.shape} in {seconds:.1f}s ({info['images_per_s']} images/s)"
    if info.get("n_failures"):
        summary += (
            f"; {info['n_failures']} failures ({100 * info['failure_rate']:.2f}%) stored as NaN rows, "
            f"listed in {sidecar_path(out)}"
        )
    elif "n_failures" in info:
        summary += "; no failures"
    print(summary, file=sys.stderr, flush=True)
    return info


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def cli(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        params = json.loads(args.params_json)
    except json.JSONDecodeError as exc:
        print(f"ferrepro features: --params-json is not valid JSON ({exc}): {args.params_json!r}", file=sys.stderr)
        return 2
    if params is None:
        params = {}
    if not isinstance(params, dict):
        print(f"ferrepro features: --params-json must be a JSON object, got {args.params_json!r}", file=sys.stderr)
        return 2
    if args.threads < 1:
        print(f"ferrepro features: --threads must be >= 1, got {args.threads}", file=sys.stderr)
        return 2
    from ferrepro.features.landmarks import LandmarkModelMissing

    try:
        run(args.decoded, args.feature, params, args.out, args.threads)
    except (ValueError, FileNotFoundError, LandmarkModelMissing) as exc:
        # Bad input or a missing install: a one-line reason is more useful than a traceback.
        print(f"ferrepro features: {exc}", file=sys.stderr)
        return 1
    return 0
