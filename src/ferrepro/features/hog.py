"""Histogram of Oriented Gradients (HoG), whole-image and sliding-window (nauman2025).

nauman2025 uses "HoG" and "HoG features derived from a sliding window" but gives no parameter at
all. Our defaults are the Dalal & Triggs (2005) ones, which are also scikit-image's and OpenCV's
standard settings: 9 unsigned orientation bins, 8x8-pixel cells, 2x2-cell blocks moved by one cell,
L2-Hys block normalisation (clip at 0.2). On a 48x48 FER2013 face this gives 6x6 cells, 5x5 blocks
and 5*5*2*2*9 = 900 values; an 8-pixel cell is about the width of an eye or a mouth corner at that
resolution, which is why the classic setting is a sensible one here. docs/features.md has the
full rationale and the alternative parameters of the public FER2013 HoG+landmarks baseline.

Two backends compute the same descriptor layout (see docs/features.md for the exact equivalence):

- ``"opencv"`` (default, ~10x faster): ``cv2.HOGDescriptor`` with winSize = the covered image,
  blockSize = cells_per_block*pixels_per_cell, blockStride = cellSize = pixels_per_cell, nbins =
  orientations, unsigned gradients, L2-Hys with threshold 0.2, no gamma correction. OpenCV always
  weights each block by a Gaussian window; we make that window flat (winSigma = 1e5) because
  scikit-image has no such weighting. OpenCV emits blocks and cells column-major (x outer); we
  permute them to scikit-image's row-major order so both backends share one layout.
- ``"skimage"``: ``skimage.feature.hog`` (reference implementation, supports every block norm).

The two still differ in how a pixel votes (OpenCV interpolates bilinearly between orientation bins
and trilinearly between neighbouring cells; scikit-image does hard binning), so the values are
strongly correlated (r ~ 0.9 on FER2013), not identical. Only L2-Hys is available with OpenCV.

Images whose size is not a multiple of the cell size: like scikit-image, only the whole cells from
the top-left corner are used; the remaining right/bottom pixels are ignored.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

BACKENDS = ("opencv", "skimage")
BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")
# OpenCV's Gaussian block weighting cannot be switched off; a huge sigma makes it flat (weights
# differ from 1 by < 1e-8 for blocks up to 64 px), which matches scikit-image's unweighted votes.
_FLAT_WIN_SIGMA = 1e5
_L2HYS_THRESHOLD = 0.2  # Dalal & Triggs; also scikit-image's fixed clip value


class HogParamError(ValueError):
    """HoG parameters are inconsistent with each other or with the image size."""


@dataclass(frozen=True)
class HogParams:
    """Parameters of one HoG descriptor (config ``features.hog``)."""

    orientations: int = 9
    pixels_per_cell: int = 8
    cells_per_block: int = 2
    block_norm: str = "L2-Hys"
    backend: str = "opencv"
    # Optional square resize (pixels) before HoG; None keeps the decoded size. Needed only for
    # datasets whose faces are not already 48x48, to keep the descriptor length comparable.
    resize: int | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise HogParamError(f"HoG backend {self.backend!r} unknown; expected one of {BACKENDS}")
        if self.block_norm not in BLOCK_NORMS:
            raise HogParamError(f"HoG block_norm {self.block_norm!r} unknown; expected one of {BLOCK_NORMS}")
        if self.backend == "opencv" and self.block_norm != "L2-Hys":
            raise HogParamError(
                f"cv2.HOGDescriptor only implements L2-Hys, not {self.block_norm!r}; "
                "use backend 'skimage' for other block norms"
            )
        for name in ("orientations", "pixels_per_cell", "cells_per_block"):
            if int(getattr(self, name)) < 1:
                raise HogParamError(f"HoG {name} must be >= 1, got {getattr(self, name)}")
        if self.resize is not None and int(self.resize) < 1:
            raise HogParamError(f"HoG resize must be a positive size or null, got {self.resize}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SlidingHogParams(HogParams):
    """HoG of every ``window`` x ``window`` crop at ``stride`` steps, concatenated (config ``features.sliding_hog``).

    Defaults: 24-px windows (half a 48-px face: roughly one eye+brow, or the mouth) moved by 12 px
    (50% overlap), giving 3x3 windows on 48x48. Only windows lying fully inside the image are
    used, in row-major order (top-left first).
    """

    window: int = 24
    stride: int = 12

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.window < self.pixels_per_cell * self.cells_per_block:
            raise HogParamError(
                f"sliding-window HoG: window {self.window}px is smaller than one block "
                f"({self.cells_per_block}x{self.pixels_per_cell}px)"
            )
        if self.stride < 1:
            raise HogParamError(f"sliding-window HoG: stride must be >= 1, got {self.stride}")


def params_from_dict(cls: type[HogParams], values: dict[str, Any] | None) -> HogParams:
    """Build a params object from a config mapping, naming any unknown key."""
    values = dict(values or {})
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise HogParamError(f"unknown {cls.__name__} keys {unknown}; valid keys: {sorted(known)}")
    return cls(**values)


# ----------------------------------------------------------------------------- geometry


def _grid(height: int, width: int, p: HogParams) -> tuple[int, int, int, int]:
    """Cells and blocks along rows/cols, as scikit-image counts them."""
    cells_r, cells_c = height // p.pixels_per_cell, width // p.pixels_per_cell
    blocks_r, blocks_c = cells_r - p.cells_per_block + 1, cells_c - p.cells_per_block + 1
    if blocks_r < 1 or blocks_c < 1:
        raise HogParamError(
            f"a {height}x{width} image holds {cells_r}x{cells_c} cells of {p.pixels_per_cell}px, "
            f"fewer than one {p.cells_per_block}x{p.cells_per_block}-cell block; use smaller cells or a larger image"
        )
    return cells_r, cells_c, blocks_r, blocks_c


def hog_dim(height: int, width: int, p: HogParams) -> int:
    """Descriptor length: blocks_r * blocks_c * cells_per_block^2 * orientations."""
    _, _, blocks_r, blocks_c = _grid(height, width, p)
    return blocks_r * blocks_c * p.cells_per_block**2 * p.orientations


def window_positions(height: int, width: int, window: int, stride: int) -> list[tuple[int, int]]:
    """Top-left (y, x) of every full window, row-major."""
    if window > height or window > width:
        raise HogParamError(f"sliding-window HoG: window {window}px does not fit a {height}x{width} image")
    return [(y, x) for y in range(0, height - window + 1, stride) for x in range(0, width - window + 1, stride)]


def sliding_hog_dim(height: int, width: int, p: SlidingHogParams) -> int:
    return len(window_positions(height, width, p.window, p.stride)) * hog_dim(p.window, p.window, p)


def feature_dim(height: int, width: int, p: HogParams) -> int:
    """Length of the descriptor ``compute_hog`` returns for images of this (pre-resize) size."""
    if p.resize is not None:
        height = width = int(p.resize)
    if isinstance(p, SlidingHogParams):
        return sliding_hog_dim(height, width, p)
    return hog_dim(height, width, p)


# ----------------------------------------------------------------------------- backends


def _opencv_descriptor(win_h: int, win_w: int, p: HogParams):
    import cv2

    block = p.cells_per_block * p.pixels_per_cell
    cell = p.pixels_per_cell
    return cv2.HOGDescriptor(
        (win_w, win_h),
        (block, block),
        (cell, cell),
        (cell, cell),
        p.orientations,
        1,  # derivAperture (unused by OpenCV; [-1, 0, 1] centred differences like scikit-image)
        _FLAT_WIN_SIGMA,
        cv2.HOGDescriptor_L2Hys,
        _L2HYS_THRESHOLD,
        False,  # gammaCorrection: scikit-image's transform_sqrt=False
        64,  # nlevels (detection only)
        False,  # signedGradient: unsigned, 0-180 degrees, as scikit-image
    )


def _opencv_to_skimage_order(height: int, width: int, p: HogParams) -> np.ndarray:
    """Permutation taking OpenCV's (bx, by, cx, cy, o) layout to scikit-image's (by, bx, cy, cx, o)."""
    _, _, blocks_r, blocks_c = _grid(height, width, p)
    k, o = p.cells_per_block, p.orientations
    idx = np.arange(blocks_r * blocks_c * k * k * o).reshape(blocks_c, blocks_r, k, k, o)
    return idx.transpose(1, 0, 3, 2, 4).reshape(-1)


class _HogComputer:
    """Computes one descriptor per image for a fixed image size; one instance per thread."""

    def __init__(self, height: int, width: int, p: HogParams):
        self.p = p
        self.height, self.width = height, width
        cells_r, cells_c, _, _ = _grid(height, width, p)
        self.cover_h, self.cover_w = cells_r * p.pixels_per_cell, cells_c * p.pixels_per_cell
        self.sliding = isinstance(p, SlidingHogParams)
        if self.sliding:
            self.positions = window_positions(height, width, p.window, p.stride)
            cells_w = p.window // p.pixels_per_cell
            self.win_cover = cells_w * p.pixels_per_cell
            self.dim_per_window = hog_dim(p.window, p.window, p)
            self.dim = len(self.positions) * self.dim_per_window
        else:
            self.dim = hog_dim(height, width, p)
        if p.backend == "opencv":
            if self.sliding:
                self.cv = _opencv_descriptor(self.win_cover, self.win_cover, p)
                perm = _opencv_to_skimage_order(self.win_cover, self.win_cover, p)
                n = len(self.positions)
                self.perm = (np.arange(n)[:, None] * self.dim_per_window + perm[None, :]).reshape(-1)
                # OpenCV takes window locations as (x, y)
                self.locations = tuple((int(x), int(y)) for y, x in self.positions)
            else:
                self.cv = _opencv_descriptor(self.cover_h, self.cover_w, p)
                self.perm = _opencv_to_skimage_order(self.cover_h, self.cover_w, p)

    def __call__(self, gray: np.ndarray) -> np.ndarray:
        if self.p.backend == "opencv":
            return self._opencv(gray)
        return self._skimage(gray)

    def _opencv(self, gray: np.ndarray) -> np.ndarray:
        if self.sliding:
            # One call for all windows; the gradient is taken on the whole image, so pixels on a
            # window border see their real neighbours (scikit-image crops first; see module doc).
            raw = self.cv.compute(gray, (self.p.pixels_per_cell, self.p.pixels_per_cell), (0, 0), self.locations)
        else:
            if (self.cover_h, self.cover_w) != gray.shape:
                gray = np.ascontiguousarray(gray[: self.cover_h, : self.cover_w])
            raw = self.cv.compute(gray)
        return raw.reshape(-1)[self.perm]

    def _skimage(self, gray: np.ndarray) -> np.ndarray:
        from skimage.feature import hog

        p = self.p
        kwargs = dict(
            orientations=p.orientations,
            pixels_per_cell=(p.pixels_per_cell, p.pixels_per_cell),
            cells_per_block=(p.cells_per_block, p.cells_per_block),
            block_norm=p.block_norm,
            feature_vector=True,
        )
        if self.sliding:
            w = p.window
            return np.concatenate([hog(gray[y : y + w, x : x + w], **kwargs) for y, x in self.positions])
        return hog(gray, **kwargs)


def _gray_batch(images: np.ndarray, p: HogParams) -> np.ndarray:
    """N x H x W uint8 grayscale, resized if the params ask for it."""
    from ferrepro.features.preprocess import to_gray_uint8

    gray = to_gray_uint8(images)
    if p.resize is not None and gray.shape[1:] != (p.resize, p.resize):
        import cv2

        size = int(p.resize)
        interp = cv2.INTER_AREA if size < max(gray.shape[1:]) else cv2.INTER_LINEAR
        gray = np.stack([cv2.resize(g, (size, size), interpolation=interp) for g in gray])
    return np.ascontiguousarray(gray)


def compute_hog(
    images: np.ndarray,
    params: HogParams | None = None,
    threads: int = 1,
    out: np.ndarray | None = None,
    chunk_size: int = 2048,
) -> np.ndarray:
    """HoG (or sliding-window HoG, when ``params`` is a SlidingHogParams) of a batch of images.

    ``images``: N x H x W or N x H x W x C (C in 1, 3; RGB is converted to BT.601 grayscale),
    uint8, possibly a read-only memmap. Returns float32 N x D (written into ``out`` if given, e.g.
    an ``np.lib.format.open_memmap``). Chunks are processed by ``threads`` threads; both backends
    run their inner loops in C, so threads share one process and one copy of the data.
    """
    p = params or HogParams()
    n = len(images)
    h, w = (images.shape[1], images.shape[2]) if p.resize is None else (p.resize, p.resize)
    dim = feature_dim(images.shape[1], images.shape[2], p)
    if out is None:
        out = np.empty((n, dim), dtype=np.float32)
    elif out.shape != (n, dim):
        raise ValueError(f"output array has shape {out.shape}, expected {(n, dim)}")
    if n == 0:
        return out

    starts = list(range(0, n, chunk_size))
    # A cv2.HOGDescriptor is not documented as thread-safe, so each worker thread builds its own.
    per_thread = threading.local()

    def work(start: int) -> None:
        computer = getattr(per_thread, "computer", None)
        if computer is None:
            computer = per_thread.computer = _HogComputer(h, w, p)
        gray = _gray_batch(np.asarray(images[start : start + chunk_size]), p)
        for i, g in enumerate(gray):
            out[start + i] = computer(g)

    _run_chunks(work, starts, threads)
    return out


def _run_chunks(work, starts: list[int], threads: int) -> None:
    threads = max(1, int(threads))
    if threads == 1 or len(starts) == 1:
        for s in starts:
            work(s)
        return
    import cv2

    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)  # we parallelise over chunks; nested OpenCV threads would oversubscribe
    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for f in [pool.submit(work, s) for s in starts]:
                f.result()
    finally:
        cv2.setNumThreads(previous)


def describe_layout(height: int, width: int, p: HogParams) -> dict[str, Any]:
    """Human-readable shape of the descriptor, stored in the feature sidecar."""
    if p.resize is not None:
        height = width = int(p.resize)
    if isinstance(p, SlidingHogParams):
        positions = window_positions(height, width, p.window, p.stride)
        _, _, br, bc = _grid(p.window, p.window, p)
        return {
            "windows": len(positions),
            "window_positions_yx": positions,
            "blocks_per_window": [br, bc],
            "dim_per_window": hog_dim(p.window, p.window, p),
            "order": "window (row-major), block_row, block_col, cell_row, cell_col, orientation",
        }
    cr, cc, br, bc = _grid(height, width, p)
    return {
        "cells": [cr, cc],
        "blocks": [br, bc],
        "order": "block_row, block_col, cell_row, cell_col, orientation (scikit-image layout)",
        "covered_pixels": [cr * p.pixels_per_cell, cc * p.pixels_per_cell],
    }
