"""CK+ in its two common forms.

``folders`` (the widespread 48x48 copy, e.g. Kaggle "CK+48"): class folders ``anger/``,
``contempt/``, ``disgust/``, ``fear/``, ``happy/``, ``sadness/``, ``surprise/`` holding
``S005_001_00000011.png`` (subject ``S005``, sequence ``001``, frame ``11``). It already holds the
last three frames of each of the 327 labelled sequences.

``original`` (the release from the CK+ authors): ``cohn-kanade-images/S005/001/S005_001_*.png``
plus ``Emotion/S005/001/S005_001_<frame>_emotion.txt``, whose single number is the CK+ code
(0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy, 6 sadness, 7 surprise) of the
labelled (peak) frame. Only 327 of the 593 sequences have a label file. We take the
``last_frames`` frames ending at the labelled frame (3 by default: the usual protocol, and what
the 48x48 copy holds). The official counts are per labelled sequence (``count_unit: sequence``).
Original frames are 640x490 (a few 640x480 / 720x480, some RGB), so they are converted to grey and
resized to the layout's ``size``.

Accepted forms of the class-folder copy: the class folders under any wrapper folders (``CK+48/``)
or in a zip, with the usual spellings of the class names (``anger``/``angry``, ``sadness``/``sad``,
... : the registry's ``label_map``), images in any common format, also converted with the original
suffix kept (``S005_001_00000011.png.jpg``). Copies at another size than 48x48 need
``decode: {ckplus: {resize: true}}`` (and ``size``) in ``config/config.yaml``. A flat folder of CK+
frames cannot be decoded: its file names carry no label.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ferrepro.data.decoders import register_decoder
from ferrepro.data.decoders.common import (
    DecodeContext,
    Decoded,
    image_stem,
    is_hidden_or_junk,
    is_image,
    list_files,
    read_rows,
)
from ferrepro.data.registry import LayoutSpec

FRAME = re.compile(r"^(?P<subject>S\d{3})_(?P<seq>\d{3})_(?P<frame>\d{8})$")
EMOTION_FILE = re.compile(r"^(?P<subject>S\d{3})_(?P<seq>\d{3})_(?P<frame>\d{8})_emotion\.txt$")
# two class folders tell the class-folder copy from any other folder of folders
MIN_CLASS_FOLDERS = 2


def detect(root: Path, layout: LayoutSpec) -> bool:
    if layout.options.get("form") == "original":
        return (root / "cohn-kanade-images").is_dir() and (root / "Emotion").is_dir()
    return sum((root / name).is_dir() for name in layout.label_map) >= MIN_CLASS_FOLDERS


@register_decoder("ckplus", detect=detect)
def decode(ctx: DecodeContext) -> Decoded:
    if ctx.layout.options.get("form") == "original":
        return decode_original(ctx)
    return decode_folders(ctx)


# -- 48x48 class folders ----------------------------------------------------------------------


def decode_folders(ctx: DecodeContext) -> Decoded:
    rows = []
    for entry in sorted(ctx.root.iterdir()):
        if is_hidden_or_junk(entry) or entry.is_file():
            ctx.ignore(entry, "hidden/system file" if is_hidden_or_junk(entry) else "not a class folder")
            continue
        if entry.name not in ctx.layout.label_map:
            ctx.problem(
                entry, None, f"unexpected folder name {entry.name!r}; expected one of {sorted(ctx.layout.label_map)}"
            )
            continue
        for path in list_files(entry, ctx):
            row = _frame_row(path, entry.name, ctx)
            if row:
                rows.append(row)
    ctx.check("listing the CK+ class folders")
    return _read(rows, ctx)


def _frame_row(path: Path, class_name: str, ctx: DecodeContext) -> dict | None:
    if is_hidden_or_junk(path):
        ctx.ignore(path, "hidden or system file")
        return None
    if not is_image(path):
        ctx.ignore(path, "not an image")
        return None
    stem = image_stem(path)
    match = FRAME.match(stem)
    if not match:
        ctx.problem(
            path, None, f"file name {path.name!r} is not S<subject>_<sequence>_<frame>.png (e.g. S005_001_00000011.png)"
        )
        return None
    subject = ctx.subject_from_name(path.name, path)
    label = ctx.resolve_label(class_name, path)
    if label is None or subject is None:
        return None
    rel = path.relative_to(ctx.root).as_posix()
    return {
        "sample_id": f"{path.parent.relative_to(ctx.root).as_posix()}/{stem}",
        "label": label,
        "subject_id": subject,
        "source_file": rel,
        "split": "",
        "sequence": f"{match['subject']}_{match['seq']}",
        "frame": int(match["frame"]),
    }


# -- original release -------------------------------------------------------------------------


def decode_original(ctx: DecodeContext) -> Decoded:
    images_root, emotion_root = ctx.root / "cohn-kanade-images", ctx.root / "Emotion"
    n_last = int(ctx.layout.options.get("last_frames", 3))
    rows, units = [], []
    for label_file in list_files(emotion_root, ctx):
        if is_hidden_or_junk(label_file):
            ctx.ignore(label_file, "hidden or system file")
            continue
        match = EMOTION_FILE.match(label_file.name)
        if not match:
            ctx.problem(label_file, None, "unexpected file in Emotion/; expected S005_001_00000011_emotion.txt")
            continue
        code, line = _read_code(label_file, ctx)
        if code is None:
            continue
        label = ctx.resolve_label(code, label_file, line)
        sequence = f"{match['subject']}_{match['seq']}"
        frames = _sequence_frames(images_root / match["subject"] / match["seq"], int(match["frame"]), label_file, ctx)
        if label is None or not frames:
            continue
        units.append({"split": "", "label": label, "sequence": sequence})
        for frame_path in frames[-n_last:]:
            rel = frame_path.relative_to(ctx.root).as_posix()
            rows.append(
                {
                    "sample_id": image_stem(frame_path),
                    "label": label,
                    "subject_id": match["subject"],
                    "source_file": rel,
                    "split": "",
                    "sequence": sequence,
                    "frame": int(FRAME.match(image_stem(frame_path))["frame"]),
                    "label_file": label_file.relative_to(ctx.root).as_posix(),
                }
            )
    ctx.check("reading the CK+ Emotion/ labels")
    decoded = _read(rows, ctx)
    kept = set(decoded.samples["sequence"])
    decoded.units = pd.DataFrame([u for u in units if u["sequence"] in kept], columns=["split", "label", "sequence"])
    decoded.report["labelled_sequences"] = len(units)
    decoded.report["last_frames"] = n_last
    return decoded


def _read_code(path: Path, ctx: DecodeContext) -> tuple[str | None, int | None]:
    """The integer code in an Emotion file (written as e.g. '   3.0000000e+00')."""
    lines = [
        (i + 1, text.strip()) for i, text in enumerate(path.read_text(errors="replace").splitlines()) if text.strip()
    ]
    if len(lines) != 1:
        ctx.problem(path, None, f"expected exactly one number, found {len(lines)} non-empty lines")
        return None, None
    line, text = lines[0]
    try:
        value = float(text)
    except ValueError:
        ctx.problem(path, line, f"{text[:30]!r} is not a number")
        return None, line
    if value != int(value):
        ctx.problem(path, line, f"emotion code {value} is not an integer")
        return None, line
    return str(int(value)), line


def _sequence_frames(folder: Path, labelled_frame: int, label_file: Path, ctx: DecodeContext) -> list[Path]:
    """Frames of a sequence up to and including the labelled one, in frame order."""
    if not folder.is_dir():
        ctx.problem(label_file, None, f"label file has no image sequence folder {ctx.rel(folder)}")
        return []
    frames = {}
    for path in sorted(folder.iterdir()):
        match = FRAME.match(image_stem(path))
        if is_image(path) and match:
            frames[int(match["frame"])] = path
        else:
            ctx.ignore(path, "not a CK+ frame image")
    if labelled_frame not in frames:
        ctx.problem(label_file, None, f"labelled frame {labelled_frame} is missing from {ctx.rel(folder)}")
        return []
    return [frames[k] for k in sorted(frames) if k <= labelled_frame]


def _read(rows: list[dict], ctx: DecodeContext) -> Decoded:
    columns = (
        list(rows[0]) if rows else ["sample_id", "label", "subject_id", "source_file", "split", "sequence", "frame"]
    )
    return read_rows(rows, ctx, "CK+", columns)
