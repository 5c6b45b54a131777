"""Image preprocessing operations, composable from a config list.

Every op is a pure function on a batch ``N x H x W x C`` (C = 1 grayscale, 3 RGB, or 4 after the
IRGB decomposition). Value convention (scikit-image's): uint8 means 0..255, float means 0..1.
A pipeline first turns its input into float32 in [0, 1] and every op returns float32, so ops
compose in any order. A config list such as::

    [{op: adaptive_gamma}, {op: gaussian_smooth, sigma: 1.0}, {op: minmax},
     {op: resize, size: 64}, {op: channels, mode: IRGB}]

becomes a pipeline with ``build_pipeline(spec)`` and runs with ``apply_pipeline(images, pipeline)``,
batch by batch (so a memory-mapped dataset is never loaded whole).

Where the papers are silent we chose, and say so in each op's docstring (see also docs/features.md):

- ``adaptive_gamma`` (abdeldayem2025 Eq. 1): gamma = clip(log(0.5) / log(mean luminance), 0.6, 1.4);
- ``landmark_emphasis`` (abdeldayem2025 2.1.2): soft mask over brows, eyes, nose and mouth;
- ``gaussian_smooth`` (afzaal2025 Eq. 2): sigma 1.0 by default;
- ``minmax`` (afzaal2025 Eq. 1): per image, over all its pixels and channels;
- ``channels`` (gilanie2025): intensity = ITU-R BT.601 luma;
- ``resize``: area interpolation when shrinking, bilinear when enlarging;
- ``grayscale``: ITU-R BT.601 luma (what OpenCV and MATLAB's rgb2gray compute);
- ``equalize_hist`` (majeed2025's "contrast enhancement"): global histogram equalisation per image
  and channel, OpenCV's ``equalizeHist`` on the 8-bit image (the usual tool in Keras-era FER code).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# ITU-R BT.601 luma weights: cv2.cvtColor(RGB2GRAY), PIL "L" and MATLAB rgb2gray all use them.
BT601 = np.array([0.299, 0.587, 0.114], dtype=np.float32)
CHANNEL_MODES = ("I", "R", "G", "B", "RGB", "IRGB")


class PreprocessError(ValueError):
    """A preprocessing spec or input is invalid."""


class GrayscaleChannelWarning(UserWarning):
    """A colour-channel decomposition was asked of grayscale images (R = G = B = I)."""


# ----------------------------------------------------------------------------- helpers


def as_batch(images: np.ndarray) -> np.ndarray:
    """View N x H x W or N x H x W x C as N x H x W x C (no copy)."""
    images = np.asarray(images)
    if images.ndim == 3:
        return images[..., None]
    if images.ndim != 4:
        raise PreprocessError(f"expected N x H x W x C images, got shape {images.shape}")
    return images


def to_unit_float(images: np.ndarray) -> np.ndarray:
    """float32 in [0, 1]: uint8 is divided by 255, floats are taken as already in [0, 1]."""
    images = as_batch(images)
    if images.dtype == np.uint8:
        return images.astype(np.float32) / np.float32(255.0)
    if np.issubdtype(images.dtype, np.integer):
        raise PreprocessError(f"integer images must be uint8 (0..255), got {images.dtype}")
    return images.astype(np.float32, copy=False)


def luminance(images: np.ndarray) -> np.ndarray:
    """N x H x W luma of an N x H x W x C float batch (C=1: the channel itself; C=3: BT.601)."""
    images = as_batch(images)
    c = images.shape[-1]
    if c == 1:
        return images[..., 0]
    if c == 3:
        return images @ BT601.astype(images.dtype, copy=False)
    if c == 4:  # IRGB: the intensity channel is the first one
        return images[..., 0]
    raise PreprocessError(f"cannot take the luminance of {c}-channel images")


def to_gray_uint8(images: np.ndarray) -> np.ndarray:
    """N x H x W uint8 grayscale from uint8 N x H x W (x 1|3); RGB goes through BT.601 (cv2)."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise PreprocessError(f"expected uint8 images, got {images.dtype}")
    if images.ndim == 3:
        return images
    if images.ndim == 4 and images.shape[-1] == 1:
        return images[..., 0]
    if images.ndim == 4 and images.shape[-1] == 3:
        import cv2

        return np.stack([cv2.cvtColor(np.ascontiguousarray(im), cv2.COLOR_RGB2GRAY) for im in images])
    raise PreprocessError(f"expected N x H x W x C uint8 images with C in (1, 3), got {images.shape}")


# ----------------------------------------------------------------------------- ops


def adaptive_gamma(
    images: np.ndarray, gamma_min: float = 0.6, gamma_max: float = 1.4, target: float = 0.5
) -> np.ndarray:
    """Per-image gamma correction, I' = I ** gamma (abdeldayem2025 Eq. 1, on [0, 1] intensities).

    abdeldayem2025 says gamma is chosen per image "through histogram-based analysis" in [0.6, 1.4]
    but gives no formula. We use the gamma that would map the image's mean luminance m to
    ``target`` (0.5): gamma = log(target) / log(m), clipped to [gamma_min, gamma_max]. Dark images
    (m < 0.5) get gamma < 1 (brightened), bright ones gamma > 1. m is clipped to [1e-6, 1 - 1e-6]
    so black/white images get the extreme gammas instead of a division by zero. The same gamma is
    applied to every channel of an image.
    """
    if not 0 < gamma_min <= gamma_max:
        raise PreprocessError(f"adaptive_gamma needs 0 < gamma_min <= gamma_max, got {gamma_min}, {gamma_max}")
    if not 0 < target < 1:
        raise PreprocessError(f"adaptive_gamma target must be in (0, 1), got {target}")
    x = to_unit_float(images)
    gammas = gamma_for_mean(luminance(x).mean(axis=(1, 2)), gamma_min, gamma_max, target)
    return np.power(np.clip(x, 0.0, 1.0), gammas[:, None, None, None]).astype(np.float32)


def gamma_for_mean(mean: np.ndarray, gamma_min: float = 0.6, gamma_max: float = 1.4, target: float = 0.5) -> np.ndarray:
    """The adaptive gamma for given mean luminances in [0, 1] (see ``adaptive_gamma``)."""
    m = np.clip(np.asarray(mean, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.clip(np.log(target) / np.log(m), gamma_min, gamma_max).astype(np.float32)


def gaussian_smooth(images: np.ndarray, sigma: float = 1.0, truncate: float = 4.0) -> np.ndarray:
    """Gaussian low-pass (afzaal2025 Eq. 2) over H and W only, reflecting at the borders.

    afzaal2025 names the filter but not its width; sigma = 1 px removes JPEG/sensor noise on a
    48-64 px face without erasing the eyes/mouth edges. The kernel spans +-truncate*sigma.
    """
    from scipy.ndimage import gaussian_filter

    if sigma < 0:
        raise PreprocessError(f"gaussian_smooth sigma must be >= 0, got {sigma}")
    x = to_unit_float(images)
    if sigma == 0:
        return x
    return gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode="reflect", truncate=truncate).astype(np.float32)


def equalize_hist(images: np.ndarray) -> np.ndarray:
    """Global histogram equalisation of each image and channel (OpenCV ``equalizeHist``).

    majeed2025's abstract names "contrast enhancement" among its pixel adjustments without saying
    which; global equalisation on the 8-bit image is the common one. Float input is quantised to
    8 bits first (equalisation is defined on a histogram of 256 levels). A constant image stays as it is.
    """
    import cv2

    x = to_unit_float(images)
    levels = np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)
    out = np.empty_like(x)
    for i in range(levels.shape[0]):
        for c in range(levels.shape[3]):
            plane = levels[i, :, :, c]
            equalised = plane if plane.min() == plane.max() else cv2.equalizeHist(np.ascontiguousarray(plane))
            out[i, :, :, c] = equalised.astype(np.float32) / 255.0
    return out


def minmax(images: np.ndarray) -> np.ndarray:
    """(D - min D) / (max D - min D) per image over all its pixels and channels (afzaal2025 Eq. 1).

    A constant image has max = min; it becomes all zeros rather than NaN.
    """
    x = to_unit_float(images)
    lo = x.min(axis=(1, 2, 3), keepdims=True)
    span = x.max(axis=(1, 2, 3), keepdims=True) - lo
    return np.where(span > 0, (x - lo) / np.where(span > 0, span, 1.0), 0.0).astype(np.float32)


def resize(images: np.ndarray, size: int | Sequence[int], interpolation: str = "auto") -> np.ndarray:
    """Resize every image to ``size`` (int: square; [h, w]) with OpenCV.

    ``interpolation``: "auto" (area when shrinking, which averages instead of aliasing; bilinear
    when enlarging), or one of "area", "linear", "cubic", "nearest".
    """
    import cv2

    x = to_unit_float(images)
    h, w = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
    if h < 1 or w < 1:
        raise PreprocessError(f"resize size must be positive, got {size}")
    if (h, w) == x.shape[1:3]:
        return x
    modes = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "nearest": cv2.INTER_NEAREST}
    if interpolation == "auto":
        flag = cv2.INTER_AREA if h * w < x.shape[1] * x.shape[2] else cv2.INTER_LINEAR
    elif interpolation in modes:
        flag = modes[interpolation]
    else:
        raise PreprocessError(
            f"resize interpolation {interpolation!r} unknown; expected 'auto' or one of {sorted(modes)}"
        )
    out = np.empty((len(x), h, w, x.shape[3]), dtype=np.float32)
    for i, im in enumerate(x):
        r = cv2.resize(im, (w, h), interpolation=flag)
        out[i] = r.reshape(h, w, -1)
    return out


def to_grayscale(images: np.ndarray) -> np.ndarray:
    """N x H x W x 1 BT.601 luma; grayscale input is returned unchanged."""
    x = to_unit_float(images)
    if x.shape[-1] == 1:
        return x
    return luminance(x)[..., None].astype(np.float32)


def channels(images: np.ndarray, mode: str = "IRGB") -> np.ndarray:
    """Channel decomposition of gilanie2025: intensity (I), R, G, B, or stacks of them.

    ``mode`` is one of I, R, G, B, RGB, IRGB; the output stacks the named channels in that order
    (IRGB -> 4 channels). gilanie2025 does not define "intensity"; we use BT.601 luma, what
    MATLAB's rgb2gray and OpenCV compute. For grayscale input R = G = B = I, so every channel
    choice sees the same image: a GrayscaleChannelWarning says the channel study is meaningless.
    """
    if mode not in CHANNEL_MODES:
        raise PreprocessError(f"channels mode {mode!r} unknown; expected one of {CHANNEL_MODES}")
    x = to_unit_float(images)
    c = x.shape[-1]
    if c == 1:
        warnings.warn(
            f"channels(mode={mode!r}) on grayscale images: R = G = B = intensity, so the channel "
            "comparison of gilanie2025 is meaningless on this dataset (every channel is the same image)",
            GrayscaleChannelWarning,
            stacklevel=2,
        )
        rgb = np.repeat(x, 3, axis=-1)
    elif c == 3:
        rgb = x
    else:
        raise PreprocessError(f"channels needs 1- or 3-channel images, got {c} channels")
    planes = {"I": luminance(rgb), "R": rgb[..., 0], "G": rgb[..., 1], "B": rgb[..., 2]}
    names = ["I", "R", "G", "B"] if mode == "IRGB" else (["R", "G", "B"] if mode == "RGB" else [mode])
    return np.stack([planes[n] for n in names], axis=-1).astype(np.float32)


# dlib 68-point indices (iBUG 300-W markup) of the regions abdeldayem2025 names.
LANDMARK_REGIONS: dict[str, tuple[int, ...]] = {
    "jaw": tuple(range(0, 17)),
    "right_brow": tuple(range(17, 22)),
    "left_brow": tuple(range(22, 27)),
    "nose": tuple(range(27, 36)),
    "right_eye": tuple(range(36, 42)),
    "left_eye": tuple(range(42, 48)),
    "mouth": tuple(range(48, 68)),
}
REGION_GROUPS: dict[str, tuple[str, ...]] = {
    "brows": ("right_brow", "left_brow"),
    "eyes": ("right_eye", "left_eye"),
    "nose": ("nose",),
    "mouth": ("mouth",),
    "jaw": ("jaw",),
}


def landmark_mask(
    points: np.ndarray,
    height: int,
    width: int,
    regions: Sequence[str] = ("brows", "eyes", "nose", "mouth"),
    margin: float = 0.08,
) -> np.ndarray:
    """Soft [0, 1] H x W mask covering the convex hull of each region, grown by ``margin``.

    ``points``: 68 x 2 (x, y) pixel coordinates. ``margin`` is a fraction of the landmarks'
    bounding-box size: each hull is dilated by that many pixels and the mask is blurred by half
    of it, so the emphasis fades out instead of cutting hard edges into the image.
    """
    import cv2

    groups = []
    for r in regions:
        if r not in REGION_GROUPS:
            raise PreprocessError(f"landmark region {r!r} unknown; expected some of {sorted(REGION_GROUPS)}")
        groups += list(REGION_GROUPS[r])
    mask = np.zeros((height, width), dtype=np.uint8)
    for g in groups:
        pts = np.round(points[list(LANDMARK_REGIONS[g])]).astype(np.int32)
        cv2.fillConvexPoly(mask, cv2.convexHull(pts), 255)
    face = float(max(np.ptp(points[:, 0]), np.ptp(points[:, 1]), 1.0))
    grow = max(1, int(round(margin * face)))
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    soft = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), sigmaX=grow / 2.0)
    return np.clip(soft, 0.0, 1.0)


def landmark_emphasis(
    images: np.ndarray,
    landmarks: np.ndarray,
    landmark_frame: tuple[int, int] | None = None,
    regions: Sequence[str] = ("brows", "eyes", "nose", "mouth"),
    background: float = 0.5,
    margin: float = 0.08,
    report: dict | None = None,
) -> np.ndarray:
    """Emphasise brows, eyes, nose and mouth (abdeldayem2025 2.1.2): I' = I * (b + (1 - b) * mask).

    abdeldayem2025 says landmarks are used "to focus on critical facial regions ... while
    reducing noise from irrelevant image areas" without saying how. We keep the named regions
    at full intensity and scale everything else by ``background`` (0.5), through a soft mask
    (``landmark_mask``); 0 would black the rest of the face out, 1 disables the op.

    ``landmarks``: N x 68 x 2 pixel (x, y) coordinates in a frame of size ``landmark_frame`` =
    (H0, W0) (default: the current image size); they are rescaled if the images were resized
    since. Images whose landmarks are missing (NaN: dlib failed) are left unchanged; they are
    counted in ``report["landmark_emphasis_skipped"]`` and a warning says how many.
    """
    if not 0.0 <= background <= 1.0:
        raise PreprocessError(f"landmark_emphasis background must be in [0, 1], got {background}")
    x = to_unit_float(images)
    n, h, w, _ = x.shape
    landmarks = np.asarray(landmarks, dtype=np.float32)
    if landmarks.shape != (n, 68, 2):
        raise PreprocessError(f"landmark_emphasis needs N x 68 x 2 landmarks for {n} images, got {landmarks.shape}")
    h0, w0 = landmark_frame or (h, w)
    scale = np.array([w / w0, h / h0], dtype=np.float32)
    out = x.copy()
    skipped = 0
    for i in range(n):
        pts = landmarks[i]
        if not np.isfinite(pts).all():
            skipped += 1
            continue
        mask = landmark_mask(pts * scale, h, w, regions, margin)
        out[i] *= (background + (1.0 - background) * mask)[..., None]
    if skipped:
        warnings.warn(
            f"landmark_emphasis: {skipped} of {n} images have no landmarks (dlib failed); left unchanged", stacklevel=2
        )
    if report is not None:
        report["landmark_emphasis_skipped"] = report.get("landmark_emphasis_skipped", 0) + skipped
    return out


# ----------------------------------------------------------------------------- pipelines

OPS: dict[str, Callable[..., np.ndarray]] = {
    "adaptive_gamma": adaptive_gamma,
    "gaussian_smooth": gaussian_smooth,
    "minmax": minmax,
    "equalize_hist": equalize_hist,
    "resize": resize,
    "channels": channels,
    "grayscale": to_grayscale,
    "landmark_emphasis": landmark_emphasis,
}
# Arguments a pipeline supplies itself rather than taking from the config.
_CONTEXT_ARGS = {"images", "landmarks", "landmark_frame", "report"}


@dataclass(frozen=True)
class Step:
    op: str
    params: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"op": self.op, **self.params}


@dataclass(frozen=True)
class Pipeline:
    steps: tuple[Step, ...]

    @property
    def needs_landmarks(self) -> bool:
        return any(s.op == "landmark_emphasis" for s in self.steps)

    def describe(self) -> list[dict[str, Any]]:
        return [s.describe() for s in self.steps]


def build_pipeline(spec_list: Sequence[dict[str, Any]] | None) -> Pipeline:
    """Validate a config list of ``{op: name, **params}`` into a Pipeline (fails on unknown ops/params)."""
    steps = []
    for pos, raw in enumerate(spec_list or []):
        if not isinstance(raw, dict) or "op" not in raw:
            raise PreprocessError(f"preprocessing step {pos}: expected a mapping with an 'op' key, got {raw!r}")
        params = {k: v for k, v in raw.items() if k != "op"}
        name = raw["op"]
        if name not in OPS:
            raise PreprocessError(f"preprocessing step {pos}: unknown op {name!r}; expected one of {sorted(OPS)}")
        sig = inspect.signature(OPS[name])
        allowed = [p for p in sig.parameters if p not in _CONTEXT_ARGS]
        bad = sorted(set(params) - set(allowed))
        if bad:
            raise PreprocessError(f"preprocessing step {pos} ({name}): unknown parameters {bad}; allowed: {allowed}")
        steps.append(Step(name, params))
    return Pipeline(tuple(steps))


def apply_pipeline(
    images: np.ndarray,
    pipeline: Pipeline | Sequence[dict[str, Any]],
    landmarks: np.ndarray | None = None,
    batch_size: int = 4096,
    report: dict | None = None,
) -> np.ndarray:
    """Run a pipeline over N x H x W x C images in batches; returns float32 N x H' x W' x C'.

    ``landmarks`` (N x 68 x 2 pixel coordinates of the input images) is required only by
    ``landmark_emphasis``. An empty pipeline just converts to float32 in [0, 1].
    """
    if not isinstance(pipeline, Pipeline):
        pipeline = build_pipeline(pipeline)
    images = as_batch(images)
    frame = images.shape[1:3]
    if pipeline.needs_landmarks and landmarks is None:
        raise PreprocessError(
            "the pipeline has a landmark_emphasis step: pass landmarks (N x 68 x 2), e.g. from "
            "results/features/<dataset>/landmarks_points.npy"
        )
    if landmarks is not None and len(landmarks) != len(images):
        raise PreprocessError(f"{len(landmarks)} landmark rows for {len(images)} images")
    out = None
    for start in range(0, len(images), batch_size):
        x = to_unit_float(np.asarray(images[start : start + batch_size]))
        for step in pipeline.steps:
            kwargs = dict(step.params)
            if step.op == "landmark_emphasis":
                kwargs.update(landmarks=landmarks[start : start + batch_size], landmark_frame=frame, report=report)
            x = OPS[step.op](x, **kwargs)
        if out is None:
            out = np.empty((len(images),) + x.shape[1:], dtype=np.float32)
        out[start : start + len(x)] = x
    if out is None:
        out = to_unit_float(images)
    return out
