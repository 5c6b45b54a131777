"""dlib 68-point facial landmarks (nauman2025; also the input of abdeldayem2025's region emphasis).

The predictor is ``shape_predictor_68_face_landmarks.dat`` (iBUG 300-W markup), shipped by the PyPI
package ``face-recognition-models``. We only *locate* that package with
``importlib.util.find_spec`` and never import it: its ``__init__`` imports ``pkg_resources``, which
setuptools >= 81 no longer provides.

Where the face box comes from:

- pre-cropped faces (both sides <= ``max_precropped_size``, 64 px by default; FER2013's 48x48):
  the whole image is the face box. dlib's HOG face detector finds few faces that small (it is
  trained on >= 80 px faces), and the public FER2013 HoG+landmarks baseline does the same;
- larger images: dlib's frontal face detector (upsampled ``detector_upsample`` times), keeping the
  highest-scoring detection. No detection is a *failure*.

Failures are never replaced by a guess: their feature row is NaN, and they are counted and listed
(sample index and reason) so the caller can report them. Besides "no_face_detected", an image with
(almost) no contrast is a failure ("blank_image"): the predictor would return its mean shape for
it, which is not a measurement. FER2013 contains a few such blank images.

Features: the 68 (x, y) points normalised to the face box, (x - left) / width, (y - top) / height,
interleaved as x0, y0, x1, y1, ... (136 values); optionally followed by the 2278 pairwise
Euclidean distances between the normalised points (scipy ``pdist`` order).

Parallelism: dlib's Python binding holds the GIL while predicting (measured: 2 threads give
~1.2x one thread), so ``threads > 1`` uses worker processes, each loading the predictor once.
"""

from __future__ import annotations

import importlib.util
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
MODELS_PACKAGE = "face_recognition_models"
N_POINTS = 68
FAILURE_REASONS = ("no_face_detected", "blank_image")
# Intensity standard deviation (0..255 scale) under which an image is treated as blank.
_BLANK_STD = 1.0


class LandmarkModelMissing(RuntimeError):
    """The dlib predictor (or dlib itself) is not installed."""


class LandmarkParamError(ValueError):
    pass


@dataclass(frozen=True)
class LandmarkParams:
    """Config ``features.landmarks``."""

    pairwise_distances: bool = False
    max_precropped_size: int = 64
    # "auto": whole-image box for small pre-cropped faces, detector otherwise; "whole_image" and
    # "detect" force one of the two (the bench uses "detect" to measure dlib's detection rate).
    box: str = "auto"
    detector_upsample: int = 1
    detector_threshold: float = 0.0

    def __post_init__(self) -> None:
        if self.box not in ("auto", "whole_image", "detect"):
            raise LandmarkParamError(f"landmarks box {self.box!r} unknown; expected auto, whole_image or detect")
        if self.detector_upsample < 0:
            raise LandmarkParamError(f"detector_upsample must be >= 0, got {self.detector_upsample}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def params_from_dict(values: dict[str, Any] | None) -> LandmarkParams:
    values = dict(values or {})
    known = {f.name for f in fields(LandmarkParams)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise LandmarkParamError(f"unknown landmarks keys {unknown}; valid keys: {sorted(known)}")
    return LandmarkParams(**values)


def feature_dim(params: LandmarkParams) -> int:
    return 2 * N_POINTS + (N_POINTS * (N_POINTS - 1) // 2 if params.pairwise_distances else 0)


def predictor_path() -> Path:
    """Path of the 68-point predictor inside the installed ``face-recognition-models`` package."""
    spec = importlib.util.find_spec(MODELS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LandmarkModelMissing(
            f"{PREDICTOR_FILE} not found: install the PyPI package 'face-recognition-models' "
            "(pip install face-recognition-models, or pip install 'ferrepro[landmarks]')"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / "models" / PREDICTOR_FILE
        if path.exists():
            return path
    raise LandmarkModelMissing(
        f"the package 'face-recognition-models' is installed at {list(spec.submodule_search_locations)} but has no "
        f"models/{PREDICTOR_FILE}; reinstall it (pip install --force-reinstall face-recognition-models)"
    )


def import_dlib():
    """The dlib module; when it is not installed, ``LandmarkModelMissing`` says which package to install."""
    try:
        import dlib
    except ImportError as exc:
        raise LandmarkModelMissing(
            "dlib is not installed: install the PyPI package 'dlib-bin' (pip install dlib-bin, or pip install "
            "'ferrepro[landmarks]')"
        ) from exc
    return dlib


@dataclass
class LandmarkResult:
    points: np.ndarray  # N x 68 x 2 float32 pixel (x, y); NaN rows for failures
    boxes: np.ndarray  # N x 4 float32 (left, top, width, height); NaN rows for failures
    failure_reason: np.ndarray  # N object array: "" on success, else one of FAILURE_REASONS
    box_source: np.ndarray  # N object array: "whole_image" | "detector" | ""

    @property
    def failed(self) -> np.ndarray:
        return self.failure_reason != ""

    def features(self, params: LandmarkParams) -> np.ndarray:
        return landmark_features(self.points, self.boxes, params.pairwise_distances)


class LandmarkExtractor:
    """Loads dlib's predictor (and detector, lazily) once; ``extract`` handles one image."""

    def __init__(self, params: LandmarkParams | None = None):
        self.params = params or LandmarkParams()
        dlib = import_dlib()
        self._dlib = dlib
        self.predictor = dlib.shape_predictor(str(predictor_path()))
        self._detector = None

    @property
    def detector(self):
        if self._detector is None:
            self._detector = self._dlib.get_frontal_face_detector()
        return self._detector

    def _use_whole_image(self, h: int, w: int) -> bool:
        if self.params.box == "whole_image":
            return True
        if self.params.box == "detect":
            return False
        return max(h, w) <= self.params.max_precropped_size

    def extract(
        self, image: np.ndarray
    ) -> tuple[np.ndarray | None, tuple[float, float, float, float] | None, str, str]:
        """(points 68x2, box (left, top, width, height), failure reason or "", box source)."""
        img = as_dlib_image(image)
        h, w = img.shape[:2]
        if float(img.std()) < _BLANK_STD:
            return None, None, "blank_image", ""
        if self._use_whole_image(h, w):
            rect, source = self._dlib.rectangle(0, 0, w - 1, h - 1), "whole_image"
        else:
            rects, scores, _ = self.detector.run(img, self.params.detector_upsample, self.params.detector_threshold)
            if len(rects) == 0:
                return None, None, "no_face_detected", ""
            rect, source = rects[int(np.argmax(scores))], "detector"
        shape = self.predictor(img, rect)
        points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
        box = (float(rect.left()), float(rect.top()), float(rect.width()), float(rect.height()))
        return points, box, "", source

    def extract_batch(self, images: np.ndarray) -> LandmarkResult:
        n = len(images)
        result = _empty_result(n)
        for i in range(n):
            points, box, reason, source = self.extract(images[i])
            result.failure_reason[i], result.box_source[i] = reason, source
            if points is not None:
                result.points[i], result.boxes[i] = points, box
        return result


def as_dlib_image(image: np.ndarray) -> np.ndarray:
    """dlib takes contiguous uint8 H x W (gray) or H x W x 3 (RGB) arrays."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise LandmarkParamError(f"landmark extraction needs uint8 images, got {image.dtype}")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] == 3)):
        raise LandmarkParamError(f"landmark extraction needs H x W or H x W x 3 images, got {image.shape}")
    return np.ascontiguousarray(image)


def _empty_result(n: int) -> LandmarkResult:
    return LandmarkResult(
        points=np.full((n, N_POINTS, 2), np.nan, dtype=np.float32),
        boxes=np.full((n, 4), np.nan, dtype=np.float32),
        failure_reason=np.full(n, "", dtype=object),
        box_source=np.full(n, "", dtype=object),
    )


def landmark_features(points: np.ndarray, boxes: np.ndarray, pairwise_distances: bool = False) -> np.ndarray:
    """float32 N x D features from pixel points and boxes; NaN rows stay NaN (never imputed)."""
    points = np.asarray(points, dtype=np.float32)
    boxes = np.asarray(boxes, dtype=np.float32)
    origin = boxes[:, None, 0:2]
    size = boxes[:, None, 2:4]
    norm = (points - origin) / size  # N x 68 x 2
    coords = norm.reshape(len(points), -1)
    if not pairwise_distances:
        return coords.astype(np.float32)
    iu, ju = np.triu_indices(N_POINTS, k=1)  # scipy pdist order
    dist = np.linalg.norm(norm[:, iu, :] - norm[:, ju, :], axis=-1)
    return np.concatenate([coords, dist], axis=1).astype(np.float32)


# ----------------------------------------------------------------------------- parallel driver

_WORKER: LandmarkExtractor | None = None


def _init_worker(params: LandmarkParams) -> None:
    global _WORKER
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _WORKER = LandmarkExtractor(params)


def _worker_chunk(args: tuple[int, np.ndarray]) -> tuple[int, LandmarkResult]:
    start, chunk = args
    assert _WORKER is not None
    return start, _WORKER.extract_batch(chunk)


def extract_landmarks(
    images: np.ndarray,
    params: LandmarkParams | None = None,
    threads: int = 1,
    chunk_bytes: int = 32 * 2**20,
    progress=None,
) -> LandmarkResult:
    """Landmarks for N x H x W (x C) uint8 images, in ``threads`` processes (1: in this process).

    Chunks are sized to about ``chunk_bytes`` of pixels (at least 64 images), so large images are
    not all pickled to the workers at once. ``progress(done, total)`` is called after each chunk.
    """
    params = params or LandmarkParams()
    n = len(images)
    result = _empty_result(n)
    if n == 0:
        return result
    per_image = max(1, int(np.prod(images.shape[1:])))
    threads = max(1, int(threads))
    chunk = max(64, chunk_bytes // per_image)
    # Spread the work evenly over the workers for small inputs.
    chunk = min(chunk, max(1, -(-n // (threads * 4)))) if threads > 1 else chunk
    starts = list(range(0, n, chunk))
    done = 0

    def merge(start: int, part: LandmarkResult) -> None:
        nonlocal done
        sl = slice(start, start + len(part.points))
        result.points[sl], result.boxes[sl] = part.points, part.boxes
        result.failure_reason[sl], result.box_source[sl] = part.failure_reason, part.box_source
        done += len(part.points)
        if progress is not None:
            progress(done, n)

    if threads == 1:
        extractor = LandmarkExtractor(params)
        for s in starts:
            merge(s, extractor.extract_batch(np.asarray(images[s : s + chunk])))
        return result
    import multiprocessing as mp

    # spawn, not fork: the parent may hold OpenCV/BLAS threads, and forking those can deadlock.
    with ProcessPoolExecutor(
        max_workers=threads, mp_context=mp.get_context("spawn"), initializer=_init_worker, initargs=(params,)
    ) as pool:
        # Keep only a few chunks in flight, so a memory-mapped dataset is never copied whole.
        pending: set = set()
        for s in starts:
            pending.add(pool.submit(_worker_chunk, (s, np.ascontiguousarray(images[s : s + chunk]))))
            if len(pending) >= 2 * threads:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    merge(*f.result())
        for f in pending:
            merge(*f.result())
    return result


def failure_summary(result: LandmarkResult, sample_ids: list[str] | None = None) -> dict[str, Any]:
    """Counts, rate and the failed samples (id and reason), for the sidecar JSON."""
    failed = np.flatnonzero(result.failed)
    n = len(result.failure_reason)
    ids = [str(sample_ids[i]) if sample_ids is not None else int(i) for i in failed]
    return {
        "n_images": n,
        "n_failures": int(len(failed)),
        "failure_rate": float(len(failed) / n) if n else 0.0,
        "failures_by_reason": {r: int((result.failure_reason == r).sum()) for r in FAILURE_REASONS},
        "box_source_counts": {s: int((result.box_source == s).sum()) for s in ("whole_image", "detector")},
        "failed_samples": [{"sample_id": sid, "reason": str(result.failure_reason[i])} for sid, i in zip(ids, failed)],
    }
