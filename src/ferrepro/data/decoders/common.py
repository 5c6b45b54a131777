"""Shared machinery of the decoders: the decode context, problem reporting, and image reading.

Every decoder turns one native layout into ``Decoded`` (images + samples table) and reports each
problem it meets (malformed row, unknown label, corrupt image, unexpected name) through
``DecodeContext.problem``. Whether a problem stops the run or is quarantined is decided in one
place (``DecodeContext.check``), so every decoder treats bad input identically:

- default: the decode fails with ``DecodeError`` listing the problems (file and line where there is
  one) and how to fix them;
- ``quarantine=True``: the offending rows/images are left out, counted, and listed in the
  quarantine report (``decode_report.json`` and ``quarantine.csv``).

Rows that are *legitimately* not expression samples (AffectNet "none", FER+ non-faces, contempt
when the label set is basic7) are not problems: they are dropped and counted per reason.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ferrepro.data.registry import DatasetSpec, LayoutSpec

MAX_LISTED_PROBLEMS = 10
# Every still-image format OpenCV decodes that dataset copies circulate in (conversions of the
# originals are often PNG/JPEG/WebP/PGM); a name may carry several (KA.AN1.39.tiff.png).
IMAGE_SUFFIXES = frozenset(
    {
        ".png",
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".tif",
        ".tiff",
        ".bmp",
        ".dib",
        ".webp",
        ".pgm",
        ".ppm",
        ".pnm",
        ".pbm",
    }
)
# Decode reasons that start with this are size mismatches: not broken files but a copy at another size.
SIZE_MISMATCH = "image is "
# arrays bigger than this are built in a memory-mapped scratch file instead of RAM (AffectNet, FERG)
IN_MEMORY_LIMIT_BYTES = 2 * 1024**3


class DecodeError(ValueError):
    """Bad or unexpected input; the message names the file (and line) and how to fix it."""


class NoExpressionLabelsError(DecodeError):
    """The dataset has no expression labels (UTKFace), so it cannot be decoded for FER."""


class CountMismatchError(DecodeError):
    """Decoded counts differ from the dataset's official counts."""


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.reason}"

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "reason": self.reason}


@dataclass
class Decoded:
    """What a decoder returns: images and samples in the standard format, plus what to count.

    ``units`` are the rows the official counts count (columns split, label); by default the samples
    themselves, but e.g. CK+'s official counts are per labelled sequence, not per frame.
    """

    images: np.ndarray
    samples: pd.DataFrame
    units: pd.DataFrame | None = None
    report: dict = field(default_factory=dict)


@dataclass
class DecodeContext:
    spec: DatasetSpec
    layout: LayoutSpec
    root: Path
    classes: tuple[str, ...]
    label_set: str = "basic7"
    quarantine: bool = False
    size_override: tuple[int, int] | None = None
    resize_override: bool | None = None  # --resize / config decode.<dataset>.resize; None: the registry's
    workers: int = field(default_factory=lambda: min(4, os.cpu_count() or 1))
    scratch_dir: Path | None = None
    raw_dir: Path | None = None  # the folder the user named (root may be a wrapper or scratch inside it)
    # The folder of every dataset's raw folder (``raw_dir`` of config/config.yaml): FER+ finds fer2013's there.
    raw_root: Path | None = None
    problems: list[Problem] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    ignored: list[str] = field(default_factory=list)
    n_resized: int = 0  # images whose size differed from ``size`` and were resized (reported)

    # -- sizes ------------------------------------------------------------------------------
    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of decoded images: --size, else the layout's option, else the dataset's."""
        if self.size_override:
            return tuple(self.size_override)  # type: ignore[return-value]
        if "size" in self.layout.options:
            return tuple(int(x) for x in self.layout.options["size"])  # type: ignore[return-value]
        return self.spec.size

    @property
    def resize(self) -> bool:
        """Fixed-size datasets reject other sizes unless the user asked for resizing or a size explicitly."""
        if self.resize_override is not None:
            return self.resize_override
        return self.spec.resize or "size" in self.layout.options or self.size_override is not None

    # -- problems, drops, ignored files -----------------------------------------------------
    def problem(self, file: str | Path, line: int | None, reason: str) -> None:
        self.problems.append(Problem(self.rel(file), line, reason))

    def drop(self, reason: str, n: int = 1) -> None:
        if n:
            self.dropped[reason] += int(n)

    def ignore(self, path: str | Path, why: str) -> None:
        self.ignored.append(f"{self.rel(path)} ({why})")

    def check(self, stage: str) -> None:
        """Fail now if there are problems and quarantine is off (called after each decode stage)."""
        if self.problems and not self.quarantine:
            raise DecodeError(problem_message(self.spec.name, stage, self.problems, self.size_advice()))

    def size_advice(self) -> str | None:
        """For size mismatches the generic advice (re-download, --quarantine) is wrong: quarantine would
        drop every image of a copy at another size. The fix is the size option, named here."""
        n = sum(p.reason.startswith(SIZE_MISMATCH) for p in self.problems)
        if not n:
            return None
        h, w = self.size
        return (
            f"{n} image(s) are not {h}x{w}: this copy of {self.spec.name} is at another size, which is common for "
            f"converted copies. To accept it, set `decode: {{{self.spec.name}: {{resize: true}}}}` in "
            f"config/config.yaml (optionally with `size: [H, W]`; the registry's size is {list(self.spec.size)}), "
            "or pass --resize (and --size H W) to `ferrepro decode`. Every image is then resized (cv2.INTER_AREA) "
            "and the decode report counts them. --quarantine would leave these images out instead."
        )

    def rel(self, path: str | Path) -> str:
        """Paths in reports are relative to the raw folder so reports do not leak home dirs."""
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    # -- labels and subjects ----------------------------------------------------------------
    def classify_label(self, native: object) -> tuple[str, str]:
        """('ok', canonical label) | ('drop', reason) | ('unknown', problem text) for a native label."""
        key = str(native).strip()
        if key in self.layout.drop:
            return "drop", f"native label {key!r}: {self.layout.drop[key]}"
        if key not in self.layout.label_map:
            known = sorted(set(self.layout.label_map) | set(self.layout.drop))
            return "unknown", f"unknown label {key!r}; expected one of {known}"
        label = self.layout.label_map[key]
        if label not in self.classes:
            return "drop", f"label {label!r} not in label set {self.label_set}"
        return "ok", label

    def resolve_label(self, native: object, file: str | Path, line: int | None = None) -> str | None:
        """Canonical label for a native one; None when the sample is dropped (counted) or is a problem."""
        status, result = self.classify_label(native)
        if status == "ok":
            return result
        if status == "drop":
            self.drop(result)
        else:
            self.problem(file, line, result)
        return None

    def subject_from_name(self, name: str, file: str | Path) -> str | None:
        subject = self.spec.subject.from_filename(name)
        if subject is None:
            self.problem(
                file, None, f"file name {name!r} does not match the subject rule {self.spec.subject.pattern!r}"
            )
        return subject

    def report(self) -> dict:
        return {
            "dropped": dict(sorted(self.dropped.items())),
            "n_dropped": int(sum(self.dropped.values())),
            "quarantined": [p.as_dict() for p in self.problems],
            "n_quarantined": len(self.problems),
            "ignored_files": list(self.ignored),
            "n_resized": int(self.n_resized),
        }


def problem_message(dataset: str, stage: str, problems: Sequence[Problem], advice: str | None = None) -> str:
    shown = "\n".join(f"  {p}" for p in problems[:MAX_LISTED_PROBLEMS])
    more = f"\n  ... and {len(problems) - MAX_LISTED_PROBLEMS} more" if len(problems) > MAX_LISTED_PROBLEMS else ""
    return (
        f"{dataset}: {len(problems)} problem(s) while {stage}:\n{shown}{more}\n"
        + (advice + "\n" if advice else "")
        + "Fix or replace the listed files (re-download or re-extract the dataset), or rerun with --quarantine "
        "to leave them out and list them in the quarantine report."
    )


def image_stem(name: str | Path) -> str:
    """The file name without its image suffixes: conversions keep the original's, so
    ``KA.AN1.39.tiff.png`` and ``S005_001_00000011.png.jpg`` name the samples ``KA.AN1.39`` and
    ``S005_001_00000011`` (``Path.stem`` would keep ``.tiff``)."""
    path = Path(name)
    while path.suffix.lower() in IMAGE_SUFFIXES:
        path = path.with_suffix("")
    return path.name


def is_image(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def samples_frame(**columns) -> pd.DataFrame:
    """A samples table with the standard columns first, then any extra ones in the given order."""
    frame = pd.DataFrame({k: list(v) if not isinstance(v, (np.ndarray, pd.Series)) else v for k, v in columns.items()})
    first = ["sample_id", "label", "subject_id", "source_file", "split"]
    return frame[first + [c for c in frame.columns if c not in first]]


def resolve_labels(native: np.ndarray, lines: np.ndarray, path: Path, ctx: DecodeContext) -> np.ndarray:
    """Canonical label per row ('' where dropped or unknown); one registry lookup per distinct value."""
    out = np.full(len(native), "", dtype=object)
    values, inverse = np.unique(native, return_inverse=True)
    for k, value in enumerate(values):
        rows = np.flatnonzero(inverse == k)
        status, result = ctx.classify_label(str(value))
        if status == "ok":
            out[rows] = result
        elif status == "drop":
            ctx.drop(result, len(rows))
        else:
            for row in rows:
                ctx.problem(path, int(lines[row]), result)
    return out


# -- image reading --------------------------------------------------------------------------

ByteSource = Path | Callable[[], bytes]


def read_bytes(source: ByteSource) -> bytes:
    return source() if callable(source) else Path(source).read_bytes()


def truncation_reason(data: bytes, name: str) -> str | None:
    """libjpeg/libpng decode truncated files into half-grey images with only a warning, so a
    missing end marker is checked explicitly; a truncated download must not become a sample. The format
    is told by its magic bytes, not the suffix: converted copies are often misnamed (a JPEG called .png)."""
    if data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-1024:]:
        return "truncated JPEG (no end-of-image marker)"
    if data[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" not in data[-64:]:
        return "truncated PNG (no IEND chunk)"
    return None


def decode_image(
    data: bytes,
    name: str,
    channels: int,
    size: tuple[int, int],
    resize: bool,
    box: tuple[int, int, int, int] | None = None,
    background: int = 255,
    resized_sizes: list | None = None,
) -> tuple[np.ndarray | None, str | None]:
    """Bytes -> uint8 H x W x C at ``size``; returns (image, None) or (None, reason). The native size of
    every resized image is appended to ``resized_sizes`` (so the report can count them)."""
    resized_sizes = resized_sizes if resized_sizes is not None else []
    import cv2

    reason = truncation_reason(data, name)
    if reason:
        return None, reason
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        return None, "corrupt or unreadable image (OpenCV cannot decode it)"
    img = _to_channels(img, channels, background)
    if box is not None:
        img = _crop(img, box)
        if img is None:
            return None, f"face box {box} lies outside the image"
    h, w = img.shape[:2]
    if (h, w) != tuple(size):
        if not resize:
            return None, f"{SIZE_MISMATCH}{h}x{w}, expected {size[0]}x{size[1]}"
        img = cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        resized_sizes.append((h, w))
    if img.ndim == 2:
        img = img[:, :, None]
    return img, None


def _to_channels(img: np.ndarray, channels: int, background: int) -> np.ndarray:
    import cv2

    if img.dtype == np.uint16:  # 16-bit TIFF/PNG: keep the top 8 bits
        img = (img >> 8).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 4:
        # transparent renders (FERG): composite onto a flat background instead of dropping alpha,
        # which would expose whatever colour the transparent pixels happen to hold
        alpha = img[:, :, 3:4].astype(np.float32) / 255.0
        img = (img[:, :, :3] * alpha + background * (1.0 - alpha)).round().astype(np.uint8)
    if channels == 1:
        return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _crop(img: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray | None:
    x, y, w, h = (int(v) for v in box)
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(img.shape[1], x + w), min(img.shape[0], y + h)
    if x1 <= x0 or y1 <= y0:
        return None
    return img[y0:y1, x0:x1]


def allocate_images(n: int, size: tuple[int, int], channels: int, scratch_dir: Path | None) -> np.ndarray:
    """RAM for normal datasets; a memory-mapped scratch file when the array would not fit comfortably."""
    shape = (n, size[0], size[1], channels)
    if scratch_dir is not None and int(np.prod(shape)) > IN_MEMORY_LIMIT_BYTES:
        scratch_dir.mkdir(parents=True, exist_ok=True)
        return np.lib.format.open_memmap(scratch_dir / "images.partial.npy", mode="w+", dtype=np.uint8, shape=shape)
    return np.empty(shape, dtype=np.uint8)


def read_images(
    sources: Sequence[ByteSource],
    names: Sequence[str],
    ctx: DecodeContext,
    boxes: Sequence[tuple[int, int, int, int] | None] | None = None,
    background: int = 255,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode many images with a thread pool (OpenCV releases the GIL).

    Returns (images, ok): images is N x H x W x C; rows with ok False are unreadable and have
    been reported as problems (named by ``names``). Use ``compact`` to drop them.
    """
    n = len(sources)
    size, channels, resize = ctx.size, ctx.spec.channels, ctx.resize
    images = allocate_images(n, size, channels, ctx.scratch_dir)
    ok = np.zeros(n, dtype=bool)
    reasons: list[str | None] = [None] * n
    resized: list = []  # list.append is atomic under the GIL, so the worker threads may share it

    def work(i: int) -> None:
        try:
            data = read_bytes(sources[i])
        except OSError as exc:
            reasons[i] = f"cannot read file: {exc.strerror or exc}"
            return
        img, reason = decode_image(
            data, names[i], channels, size, resize, boxes[i] if boxes else None, background, resized
        )
        if img is None:
            reasons[i] = reason
        else:
            images[i] = img
            ok[i] = True

    def work_chunk(start: int) -> None:
        for i in range(start, min(n, start + 256)):
            work(i)

    if n:
        with ThreadPoolExecutor(max_workers=max(1, ctx.workers)) as pool:
            # chunks of 256 keep the per-task overhead small for tens of thousands of tiny JPEGs
            list(pool.map(work_chunk, range(0, n, 256)))
    for i in np.flatnonzero(~ok):
        ctx.problem(names[i], None, reasons[i] or "unreadable image")
    ctx.n_resized += len(resized)
    return images, ok


def compact(images: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Keep rows where ok, in place (no second copy of a multi-GB memmap); returns a view."""
    keep = np.flatnonzero(ok)
    if len(keep) == len(images):
        return images
    step = 4096
    for start in range(0, len(keep), step):
        chunk = keep[start : start + step]
        images[start : start + len(chunk)] = images[chunk]  # fancy read copies first, so this is safe
    return images[: len(keep)]


def list_files(folder: Path, ctx: DecodeContext | None = None) -> list[Path]:
    """Sorted regular files below ``folder`` (sorted so decoded order never depends on the
    filesystem); hidden/system folders are pruned and, given ``ctx``, listed as ignored."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in sorted(dirnames):
            if is_hidden_or_junk(Path(name)):
                dirnames.remove(name)
                if ctx is not None:
                    ctx.ignore(Path(dirpath) / name, "hidden or system folder")
        dirnames.sort()
        out.extend(Path(dirpath) / f for f in sorted(filenames))
    return out


def is_hidden_or_junk(path: Path) -> bool:
    """macOS/Windows litter that archives carry around (judged by the name only: the scratch folder
    archives are extracted into is itself hidden); ignored and listed rather than a problem."""
    return path.name.startswith(".") or path.name in {"__MACOSX", "Thumbs.db", "desktop.ini"}


def read_rows(rows: list[dict], ctx: DecodeContext, what: str, columns: Sequence[str], **read_kwargs) -> Decoded:
    """Read the image of every listed row (``source_file`` under the raw root) and build the result.

    Unreadable images are handled by ``read_images`` (error or quarantine); only rows whose image was
    read are kept, so images and samples stay aligned.
    """
    names = [r["source_file"] for r in rows]
    images, ok = read_images([ctx.root / n for n in names], names, ctx, **read_kwargs)
    ctx.check(f"reading the {what} images")
    kept = [r for r, good in zip(rows, ok) if good]
    return Decoded(images=compact(images, ok), samples=samples_frame(**{c: [r[c] for r in kept] for c in columns}))


def image_rows(paths, ctx: DecodeContext, make_row, folders_allowed: bool = True) -> list[dict]:
    """Rows for the image files among ``paths``; hidden files, folders (when not allowed) and non-images
    are listed as ignored, never silently skipped. ``make_row(path, ctx)`` may return None after
    reporting a bad name itself."""
    rows = []
    for path in paths:
        if is_hidden_or_junk(path):
            ctx.ignore(path, "hidden or system file")
        elif not folders_allowed and path.is_dir():
            ctx.ignore(path, "sub-folder (a flat folder is expected)")
        elif not is_image(path):
            ctx.ignore(path, "not an image")
        else:
            row = make_row(path, ctx)
            if row:
                rows.append(row)
    return rows
