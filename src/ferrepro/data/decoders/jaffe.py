"""JAFFE: a flat folder of ``<poser>.<expression><n>.<id>.tiff`` files, e.g. ``KA.AN1.39.tiff``
(poser ``KA``, expression ``AN``, repetition 1, image number 39).

The folder may also arrive as the zip it is distributed in; ``ferrepro.data.acquire`` extracts it
safely before this decoder runs, and a single wrapper folder (``jaffedbase/``) is descended
into. Copies converted to png/jpg are accepted under the same names. Non-image files
(README, licence text) are ignored and listed in the report; an image whose name breaks the
pattern is a problem, because it cannot be labelled.
"""

from __future__ import annotations

import re
from pathlib import Path

from ferrepro.data.decoders.common import (
    IMAGE_SUFFIXES,
    DecodeContext,
    Decoded,
    image_rows,
    read_rows,
)
from ferrepro.data.registry import LayoutSpec

NAME = re.compile(r"^(?P<poser>[A-Z]{2})\.(?P<expr>[A-Z]{2})(?P<rep>\d+)\.(?P<number>\d+)$")


def detect(root: Path, layout: LayoutSpec) -> bool:
    return any(p.is_file() and NAME.match(p.stem) and p.suffix.lower() in IMAGE_SUFFIXES for p in root.iterdir())


def decode(ctx: DecodeContext) -> Decoded:
    rows = image_rows(sorted(ctx.root.iterdir()), ctx, _row, folders_allowed=False)
    ctx.check("listing the JAFFE files")
    columns = ["sample_id", "label", "subject_id", "source_file", "split", "expression_code", "image_number"]
    return read_rows(rows, ctx, "JAFFE", columns)


def _row(path: Path, ctx: DecodeContext) -> dict | None:
    match = NAME.match(path.stem)
    if not match:
        ctx.problem(path, None, f"file name {path.name!r} is not <poser>.<expression><n>.<id>.tiff (e.g. KA.AN1.39.tiff)")
        return None
    label = ctx.resolve_label(match["expr"], path)
    subject = ctx.subject_from_name(path.name, path)
    if label is None or subject is None:
        return None
    return {
        "sample_id": path.stem,
        "label": label,
        "subject_id": subject,
        "source_file": path.name,
        "split": "",
        "expression_code": f"{match['expr']}{match['rep']}",
        "image_number": int(match["number"]),
    }
