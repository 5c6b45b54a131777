"""AffectNet, manually annotated part: ``training.csv`` / ``validation.csv`` plus
``Manually_Annotated_Images/<subDirectory_filePath>``.

List columns: subDirectory_filePath, face_x, face_y, face_width, face_height, facial_landmarks,
expression, valence, arousal. Expression codes: 0 neutral, 1 happy, 2 sad, 3 surprise, 4 fear,
5 disgust, 6 anger, 7 contempt, 8 none, 9 uncertain, 10 no-face. Codes 8-10 are not expressions
and are dropped with counts (the registry's ``drop``); contempt is kept only under the
``basic7+contempt`` label set. The official validation set is the test set (AffectNet's own test
set was never released), so ``validation.csv`` rows get split ``test``.

Faces are cropped to the annotated face box (clamped to the image) and resized to the registry's
size (224x224 by default, the input size the reproduced papers use). Some releases ship
``validation.csv`` without a header row; a header-less list is read with the training columns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ferrepro.data.decoders import register_decoder
from ferrepro.data.decoders.common import (
    DecodeContext,
    Decoded,
    DecodeError,
    compact,
    read_images,
    resolve_labels,
    samples_frame,
)
from ferrepro.data.registry import LayoutSpec

COLUMNS = [
    "subDirectory_filePath",
    "face_x",
    "face_y",
    "face_width",
    "face_height",
    "facial_landmarks",
    "expression",
    "valence",
    "arousal",
]
BOX = ["face_x", "face_y", "face_width", "face_height"]


def detect(root: Path, layout: LayoutSpec) -> bool:
    return image_dir(root, layout) is not None


def image_dir(root: Path, layout: LayoutSpec) -> Path | None:
    for rel in layout.options.get("image_dirs", ["Manually_Annotated_Images"]):
        if (root / rel).is_dir():
            return root / rel
    return None


@register_decoder("affectnet", detect=detect)
def decode(ctx: DecodeContext) -> Decoded:
    images_root = image_dir(ctx.root, ctx.layout)
    lists = [
        _list_rows(ctx.root / file_name, name, images_root, ctx)
        for name, file_name in ctx.layout.options["lists"].items()
    ]
    rows = pd.concat(lists, ignore_index=True)
    ctx.check("reading the AffectNet lists")
    crop = ctx.layout.options.get("crop_to_face_box", True)
    boxes = list(rows[BOX].itertuples(index=False, name=None)) if crop else None
    paths = [images_root / rel for rel in rows["source_file"]]
    images, ok = read_images(paths, [f"{images_root.name}/{rel}" for rel in rows["source_file"]], ctx, boxes=boxes)
    ctx.check("reading the AffectNet images")
    columns = ["sample_id", "label", "subject_id", "source_file", "split", "list", "line", "valence", "arousal"]
    return Decoded(images=compact(images, ok), samples=samples_frame(**rows.loc[ok, columns].reset_index(drop=True)))


def read_list(path: Path) -> tuple[pd.DataFrame, int]:
    """The list as strings, and the file line of its first data row (2 with a header, 1 without)."""
    if not path.is_file():
        raise DecodeError(
            f"{path} is missing; AffectNet needs training.csv and validation.csv next to Manually_Annotated_Images/"
        )
    head = pd.read_csv(path, nrows=0).columns.str.strip().tolist()
    if "subDirectory_filePath" in head:
        table, first_line = pd.read_csv(path, dtype=str, keep_default_na=False), 2
        table.columns = table.columns.str.strip()
    elif len(head) == len(COLUMNS):
        table, first_line = pd.read_csv(path, dtype=str, keep_default_na=False, header=None, names=COLUMNS), 1
    else:
        raise DecodeError(f"{path}:1: header {head} is not AffectNet's ({', '.join(COLUMNS)})")
    missing = [c for c in ("subDirectory_filePath", *BOX, "expression") if c not in table.columns]
    if missing:
        raise DecodeError(f"{path}:1: columns {missing} are missing; expected {', '.join(COLUMNS)}")
    return table, first_line


def _list_rows(path: Path, list_name: str, images_root: Path, ctx: DecodeContext) -> pd.DataFrame:
    """Rows of one list that are kept, as a frame; vectorised because training.csv has 414k rows."""
    table, first_line = read_list(path)
    lines = first_line + np.arange(len(table))
    labels = resolve_labels(table["expression"].str.strip().to_numpy(), lines, path, ctx)
    boxes = table[BOX].apply(pd.to_numeric, errors="coerce")
    box_ok = (boxes.notna().all(axis=1) & (boxes["face_width"] > 0) & (boxes["face_height"] > 0)).to_numpy()
    rel = table["subDirectory_filePath"].str.strip()
    first_seen = pd.Series(lines, index=rel).groupby(level=0).transform("min").to_numpy()
    keep = labels != ""
    for i in np.flatnonzero(keep & ~box_ok):
        ctx.problem(
            path, int(lines[i]), f"face box {table.loc[i, BOX].tolist()} is not four numbers with positive size"
        )
    duplicate = keep & box_ok & (first_seen != lines)
    for i in np.flatnonzero(duplicate):
        ctx.problem(path, int(lines[i]), f"image {rel[i]!r} is listed twice (first at line {first_seen[i]})")
    keep &= box_ok & ~duplicate
    for i in np.flatnonzero(keep):
        if not (images_root / rel[i]).is_file():
            ctx.problem(path, int(lines[i]), f"listed image {images_root.name}/{rel[i]} does not exist")
            keep[i] = False
    idx = np.flatnonzero(keep)
    return pd.DataFrame(
        {
            "sample_id": rel[idx].str.rsplit(".", n=1).str[0].to_numpy(),
            "label": labels[idx],
            "subject_id": "",
            "source_file": rel[idx].to_numpy(),
            "split": ctx.spec.splits[list_name],
            "list": list_name,
            "line": lines[idx],
            "valence": pd.to_numeric(table["valence"], errors="coerce").to_numpy()[idx]
            if "valence" in table
            else np.nan,
            "arousal": pd.to_numeric(table["arousal"], errors="coerce").to_numpy()[idx]
            if "arousal" in table
            else np.nan,
            **{c: boxes[c].to_numpy()[idx].astype(np.int64) for c in BOX},
        }
    )
