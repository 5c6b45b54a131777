"""FER2013 as a CSV: ``fer2013.csv`` (``emotion,pixels,Usage``) and ``icml_face_data.csv``
(the same rows with headers ``emotion, Usage, pixels``: leading spaces, other column order).

Each row holds 2,304 space-separated grey levels of a 48x48 face. Parsing 35,887 such strings is
the slow part; a per-row ``np.fromstring`` costs seconds. ``parse_pixel_strings`` instead works on
the raw bytes of pyarrow's string column (one contiguous buffer plus row offsets, no Python string
per row): digits and token ends are found with a few vectorised passes over blocks of rows small
enough to stay in cache, and blocks run on a thread pool (NumPy releases the GIL). Any block that
looks anomalous (wrong token count, a non-digit, a value > 255) is re-parsed row by row with an
exact, slow parser that is the authority on what is wrong, so error messages name the exact row.

Row ``i`` (0-based, header excluded) gets ``sample_id`` ``row{i:05d}``. FER+'s ``fer2013new.csv`` is
aligned with this file row by row and its decoder uses the same ids, so FER2013 and FER+ samples
can be joined. (FER+'s own ``Image name`` column, ``fer0000059.png``, is *not* the row number: on
the real file it skips non-face rows, is not monotonic and repeats 4 names.)
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ferrepro.data.decoders import register_decoder
from ferrepro.data.decoders.common import DecodeContext, Decoded, DecodeError, resolve_labels, samples_frame
from ferrepro.data.registry import LayoutSpec

N_PIXELS = 48 * 48
REQUIRED_COLUMNS = ("emotion", "pixels", "usage")
# ~67 kB of text per block. _parse_block keeps about six byte-sized temporaries alive (digit masks,
# shifted copies), so it is their sum, not the text alone, that must fit in L2 cache: at 32 rows
# (270 kB each, ~1.6 MB together) they spill and the parse of the real FER2013 pixels cost 1.7x the
# CPU time (2.5 s vs 1.45 s on an AMD EPYC with 1 MB of L2 per core); 8 to 16 rows were equally fast.
_ROWS_PER_BLOCK = 8

_DIGIT_VALUE = np.zeros(256, np.uint16)
_DIGIT_VALUE[48:58] = np.arange(10)
_TENS, _HUNDREDS = _DIGIT_VALUE * 10, _DIGIT_VALUE * 100


def detect(root: Path, layout: LayoutSpec) -> bool:
    return (root / layout.options["file"]).is_file()


@register_decoder("fer2013_csv", detect=detect)
def decode(ctx: DecodeContext) -> Decoded:
    path = ctx.root / ctx.layout.options["file"]
    rows = read_fer2013_csv(path, ctx)
    labels = resolve_labels(rows.emotion, rows.lines, path, ctx)
    splits = resolve_splits(rows.usage, rows.lines, path, ctx)
    keep = rows.pixels_ok & (labels != "") & (splits != "")
    ctx.check(f"reading {path.name}")
    idx = np.flatnonzero(keep)
    samples = samples_frame(
        sample_id=[f"row{i:05d}" for i in idx],
        label=labels[idx],
        subject_id=[""] * len(idx),
        source_file=[f"{path.name}:{line}" for line in rows.lines[idx]],
        split=splits[idx],
        usage=rows.usage[idx],
        row=idx,
    )
    images = rows.pixels[idx].reshape(-1, 48, 48, 1)
    return Decoded(images=images, samples=samples, report={"source_rows": int(len(rows.lines))})


@dataclass
class Fer2013Rows:
    """All data rows of a FER2013 CSV, aligned with the file (row i = data row i)."""

    emotion: np.ndarray  # object array of str
    usage: np.ndarray  # object array of str, stripped
    pixels: np.ndarray  # uint8 n x 2304 (zeros where not pixels_ok)
    pixels_ok: np.ndarray  # bool
    lines: np.ndarray  # 1-based line number in the file


def read_fer2013_csv(path: Path, ctx: DecodeContext) -> Fer2013Rows:
    """Read a fer2013.csv / icml_face_data.csv; problems (with line numbers) go to ``ctx``."""
    header, n_cols = _read_header(path)
    try:
        emotion, usage, pixel_col, lines = _read_fast(path, header, n_cols)
    except _NeedsSlowPath:
        # a malformed line (truncated row, blank line, wrong field count): the line-by-line reader
        # is slower but knows every line number and reports each bad line
        emotion, usage, pixel_col, lines = _read_slow(path, header, n_cols, ctx)
    pixels, bad = parse_pixel_strings(pixel_col, N_PIXELS, workers=ctx.workers)
    ok = np.ones(len(lines), dtype=bool)
    for row, reason in sorted(bad.items()):
        ctx.problem(path, int(lines[row]), reason)
        ok[row] = False
    return Fer2013Rows(emotion=emotion, usage=usage, pixels=pixels, pixels_ok=ok, lines=lines)


class _NeedsSlowPath(Exception):
    pass


def _read_header(path: Path) -> tuple[dict[str, int], int]:
    """Column positions by normalised name (icml_face_data.csv's headers carry leading spaces)."""
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        first = next(csv.reader(fh), None)
    if not first:
        raise DecodeError(f"{path}:1: empty file; expected a header emotion,pixels,Usage")
    names = [c.strip().lower() for c in first]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise DecodeError(
            f"{path}:1: header {first} lacks columns {missing}; expected emotion, pixels and Usage "
            "(fer2013.csv or icml_face_data.csv as distributed on Kaggle)"
        )
    return {name: names.index(name) for name in REQUIRED_COLUMNS}, len(names)


def _read_fast(path: Path, header: dict[str, int], n_cols: int):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    names = [f"c{i}" for i in range(n_cols)]
    try:
        table = pcsv.read_csv(
            path,
            read_options=pcsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 24),
            # blank lines are not skipped: they would shift the row -> line numbering, so they send
            # the file to the slow path, which knows every line number
            parse_options=pcsv.ParseOptions(ignore_empty_lines=False),
            convert_options=pcsv.ConvertOptions(
                column_types={c: pa.string() for c in names}, strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        raise _NeedsSlowPath from None
    col = lambda key: table.column(f"c{header[key]}")  # noqa: E731
    # object arrays of Python str: messages then show 'Training', not np.str_('Training')
    emotion = np.asarray([v.strip() for v in col("emotion").to_pylist()], dtype=object)
    usage = np.asarray([v.strip() for v in col("usage").to_pylist()], dtype=object)
    lines = np.arange(2, table.num_rows + 2)  # header is line 1, then exactly one row per line
    return emotion, usage, col("pixels"), lines


def _read_slow(path: Path, header: dict[str, int], n_cols: int, ctx: DecodeContext):
    emotion, usage, pixels, lines = [], [], [], []
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        for fields in reader:
            line = reader.line_num
            if not fields:
                ctx.ignore(f"{path.name}:{line}", "blank line")
                continue
            if len(fields) != n_cols:
                ctx.problem(path, line, f"{len(fields)} fields, expected {n_cols} (truncated or malformed row)")
                continue
            emotion.append(fields[header["emotion"]].strip())
            usage.append(fields[header["usage"]].strip())
            pixels.append(fields[header["pixels"]])
            lines.append(line)
    return np.asarray(emotion, dtype=object), np.asarray(usage, dtype=object), pixels, np.asarray(lines, dtype=np.int64)


def resolve_splits(usage: np.ndarray, lines: np.ndarray, path: Path, ctx: DecodeContext) -> np.ndarray:
    out = np.full(len(usage), "", dtype=object)
    for value in map(str, np.unique(usage)):
        rows = np.flatnonzero(usage == value)
        if value in ctx.spec.splits:
            out[rows] = ctx.spec.splits[value]
        else:
            for row in rows:
                ctx.problem(
                    path, int(lines[row]), f"unknown Usage {value!r}; expected one of {sorted(ctx.spec.splits)}"
                )
    return out


# -- the pixel parser --------------------------------------------------------------------------


def parse_pixel_strings(
    strings, n_values: int = N_PIXELS, workers: int | None = None
) -> tuple[np.ndarray, dict[int, str]]:
    """Parse space-separated uint8 strings into an n x n_values array.

    ``strings``: a pyarrow (chunked) string array or any sequence of str. Returns the array
    (rows that failed are zero) and ``{row: reason}`` for every row that is not exactly
    ``n_values`` integers in 0..255.
    """
    import pyarrow as pa

    arr = strings if isinstance(strings, (pa.Array, pa.ChunkedArray)) else pa.array(list(strings), type=pa.string())
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    n = sum(len(c) for c in chunks)
    out = np.zeros((n, n_values), dtype=np.uint8)
    bad: dict[int, str] = {}
    workers = workers or min(2, os.cpu_count() or 1)
    jobs = []
    base = 0
    for chunk in chunks:
        offsets, data = _string_buffers(chunk)
        nulls = np.asarray(chunk.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        for start in range(0, len(chunk), _ROWS_PER_BLOCK):
            stop = min(len(chunk), start + _ROWS_PER_BLOCK)
            jobs.append((chunk, offsets, data, nulls, start, stop, base))
        base += len(chunk)

    def run(job) -> dict[int, str]:
        chunk, offsets, data, nulls, start, stop, row0 = job
        block = out[row0 + start : row0 + stop]
        if nulls[start:stop].any() or not _parse_block(data, offsets[start : stop + 1], block, n_values):
            return _parse_rows_exact(chunk, start, stop, block, row0, n_values)
        return {}

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for result in pool.map(run, jobs):
            bad.update(result)
    return out, bad


def _string_buffers(chunk) -> tuple[np.ndarray, np.ndarray]:
    import pyarrow as pa

    if pa.types.is_large_string(chunk.type):
        off_dtype = np.int64
    elif pa.types.is_string(chunk.type):
        off_dtype = np.int32
    else:
        raise TypeError(f"pixel column must be strings, got {chunk.type}")
    _, off_buf, data_buf = chunk.buffers()
    offsets = np.frombuffer(off_buf, dtype=off_dtype)[chunk.offset : chunk.offset + len(chunk) + 1].astype(np.int64)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return offsets, data


def _parse_block(data: np.ndarray, off: np.ndarray, out: np.ndarray, n_values: int) -> bool:
    """Vectorised parse of rows data[off[0]:off[-1]] into out; False if any row looks anomalous.

    A token ends at a digit whose next byte is not a digit of the same row; its value is read
    from up to three bytes back. Rows abut in the buffer without separators, so row starts and
    ends are masked explicitly.
    """
    b = data[off[0] : off[-1]]
    rel = off - off[0]
    if len(b) == 0:
        return False
    digit = (b - np.uint8(48)) < 10
    if not (digit | (b == 32)).all():  # anything but digits and spaces: let the exact parser judge
        return False
    inner = rel[1:-1]
    row_starts, row_ends = inner[inner < len(b)], inner[inner > 0] - 1
    prev_digit = np.empty_like(digit)  # byte before is a digit of the same row
    prev_digit[0] = False
    prev_digit[1:] = digit[:-1]
    prev_digit[row_starts] = False
    next_digit = np.empty_like(digit)
    next_digit[-1] = False
    next_digit[:-1] = digit[1:]
    next_digit[row_ends] = False
    ends = np.flatnonzero(digit & ~next_digit)
    counts = np.diff(np.searchsorted(ends, rel))
    if (counts != n_values).any():
        return False
    two = prev_digit[ends]
    three = prev_digit[ends - 1] & two
    if (prev_digit[ends - 2] & three).any():  # four or more digits
        return False
    values = _DIGIT_VALUE[b[ends]] + _TENS[b[ends - 1]] * two + _HUNDREDS[b[ends - 2]] * three
    if values.max(initial=0) > 255:
        return False
    out[:] = values.reshape(-1, n_values)
    return True


def _parse_rows_exact(chunk, start: int, stop: int, out: np.ndarray, row0: int, n_values: int) -> dict[int, str]:
    bad = {}
    for k, value in enumerate(chunk.slice(start, stop - start).to_pylist()):
        row_values, reason = parse_pixel_row(value, n_values)
        if reason:
            bad[row0 + start + k] = reason
        else:
            out[k] = row_values
    return bad


def parse_pixel_row(text: str | None, n_values: int = N_PIXELS) -> tuple[np.ndarray | None, str | None]:
    """The exact (slow) parser of one pixel string: (values, None) or (None, what is wrong)."""
    if text is None or not text.strip():
        return None, "empty pixels field"
    tokens = text.split()
    if len(tokens) != n_values:
        return None, f"{len(tokens)} pixel values, expected {n_values} (truncated or malformed row)"
    try:
        values = np.array(tokens, dtype=np.int64)
    except ValueError:
        k, token = next((k, t) for k, t in enumerate(tokens) if not t.lstrip("+-").isdigit())
        return None, f"non-numeric pixel value {token[:20]!r} at position {k + 1}"
    if values.min() < 0 or values.max() > 255:
        k = int(np.flatnonzero((values < 0) | (values > 255))[0])
        return None, f"pixel value {values[k]} at position {k + 1} is outside 0..255"
    return values.astype(np.uint8), None


def naive_parse(path: str | Path) -> np.ndarray:
    """The per-row pandas parse the fast path is benchmarked against (bench/bench_decode.py)."""
    frame = pd.read_csv(path)
    frame.columns = [c.strip().lower() for c in frame.columns]
    return frame["pixels"].str.split(" ", expand=True).astype(np.uint8).to_numpy().reshape(-1, 48, 48, 1)


def write_fer2013_csv(
    path: str | Path, labels: Sequence[int], pixels: np.ndarray, usage: Sequence[str], icml: bool = False
) -> Path:
    """Write a FER2013-style CSV (fixtures and the benchmark); ``icml`` writes icml_face_data.csv's header."""
    lut = np.array([str(i) for i in range(256)], dtype=object)
    path = Path(path)
    with open(path, "w", newline="") as fh:
        fh.write("emotion, Usage, pixels\n" if icml else "emotion,pixels,Usage\n")
        for label, row, use in zip(labels, pixels.reshape(len(pixels), -1), usage):
            text = " ".join(lut[row])
            fh.write(f"{label},{use},{text}\n" if icml else f"{label},{text},{use}\n")
    return path
