"""JAFFE: ``<poser>.<expression><n>.<id>.tiff`` files, e.g. ``KA.AN1.39.tiff`` (poser ``KA``,
expression ``AN``, repetition 1, image number 39).

Accepted in every form the copies circulate in: the original flat folder of TIFFs; conversions to
any common image format that keep the original name (``KA.AN1.39.tiff.png``, ``KA.AN1.39.jpg``);
flat or per-expression sub-folders (``happy/KA.HA1.29.tiff.png``), under any number of wrapper
folders (``jaffedbase/``); and zips of any of these (``ferrepro.data.acquire`` extracts them safely
first). The label always comes from the file name, so folder names do not matter. Conversions are
often not 256x256: set ``decode: {jaffe: {resize: true}}`` in ``config/config.yaml`` to accept them.
Non-image files (README, licence text) are ignored and listed in the report; an image whose name
breaks the pattern is a problem, because it cannot be labelled.
"""

from __future__ import annotations

import re
from pathlib import Path

from ferrepro.data.decoders import register_decoder
from ferrepro.data.decoders.common import (
    DecodeContext,
    Decoded,
    image_rows,
    image_stem,
    is_hidden_or_junk,
    is_image,
    list_files,
    read_rows,
)
from ferrepro.data.registry import LayoutSpec

NAME = re.compile(r"^(?P<poser>[A-Z]{2})\.(?P<expr>[A-Z]{2})(?P<rep>\d+)\.(?P<number>\d+)$")


def detect(root: Path, layout: LayoutSpec) -> bool:
    return any(is_image(p) and NAME.match(image_stem(p)) and not is_hidden_or_junk(p) for p in list_files(root))


@register_decoder("jaffe", detect=detect)
def decode(ctx: DecodeContext) -> Decoded:
    rows = image_rows(list_files(ctx.root, ctx), ctx, _row)
    ctx.check("listing the JAFFE files")
    columns = ["sample_id", "label", "subject_id", "source_file", "split", "expression_code", "image_number"]
    return read_rows(rows, ctx, "JAFFE", columns)


def _row(path: Path, ctx: DecodeContext) -> dict | None:
    stem = image_stem(path)
    match = NAME.match(stem)
    if not match:
        ctx.problem(
            path,
            None,
            f"file name {path.name!r} is not <poser>.<expression><n>.<id>.tiff "
            "(e.g. KA.AN1.39.tiff, or a conversion such as KA.AN1.39.tiff.png)",
        )
        return None
    label = ctx.resolve_label(match["expr"], path)
    subject = ctx.subject_from_name(path.name, path)
    if label is None or subject is None:
        return None
    return {
        "sample_id": stem,
        "label": label,
        "subject_id": subject,
        "source_file": path.relative_to(ctx.root).as_posix(),
        "split": "",
        "expression_code": f"{match['expr']}{match['rep']}",
        "image_number": int(match["number"]),
    }
