"""KDEF: ``KDEF/<session><gender><id>/<session><gender><id><expression><angle>.JPG``, e.g.
``AF01/AF01ANS.JPG``: session A (or B, the same people photographed again), female, person 01,
angry, straight.

Expressions AF (afraid), AN, DI, HA, NE, SA, SU; angles FL (full left profile), HL (half left),
S (straight), HR, FR. The angle, session and gender are kept as columns so an experiment can
select e.g. frontal images only; the subject is gender + id (``F01``), the same person in both
sessions, so subject-independent splits never put one person's session A and B on two sides.
Images are 562x762 colour JPEGs, resized to the registry's size.

Accepted forms: the release's person folders (``KDEF/AF01/``), per-expression folders or one flat
folder, under any wrapper folders and in zips; conversions to any common image format, also with
the original suffix kept (``AF01ANS.JPG.png``).
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
    is_image,
    list_files,
    read_rows,
)
from ferrepro.data.registry import LayoutSpec

NAME = re.compile(
    r"^(?P<session>[AB])(?P<gender>[FM])(?P<id>\d{2})(?P<expr>AF|AN|DI|HA|NE|SA|SU)(?P<angle>FL|FR|HL|HR|S)$", re.I
)
PERSON_FOLDER = re.compile(r"^[AB][FM]\d{2}$", re.I)
COLUMNS = ["sample_id", "label", "subject_id", "source_file", "split", "session", "gender", "person", "angle"]


def kdef_dir(root: Path) -> Path:
    """The KDEF_and_AKDEF download holds KDEF/ next to AKDEF/ (averaged faces, not samples)."""
    return root / "KDEF" if (root / "KDEF").is_dir() else root


def detect(root: Path, layout: LayoutSpec) -> bool:
    return any(is_image(p) and NAME.match(image_stem(p)) for p in list_files(kdef_dir(root)))


@register_decoder("kdef", detect=detect)
def decode(ctx: DecodeContext) -> Decoded:
    base = kdef_dir(ctx.root)
    for other in sorted(ctx.root.iterdir()) if base != ctx.root else ():
        if other != base:
            ctx.ignore(other, "outside the KDEF/ folder")
    rows = image_rows(list_files(base, ctx), ctx, _row)
    ctx.check("listing the KDEF files")
    return read_rows(rows, ctx, "KDEF", COLUMNS)


def _row(path: Path, ctx: DecodeContext) -> dict | None:
    stem = image_stem(path)
    match = NAME.match(stem)
    if not match:
        ctx.problem(
            path, None, f"file name {path.name!r} is not <A|B><F|M><id><AF|AN|DI|HA|NE|SA|SU><FL|HL|S|HR|FR>.JPG"
        )
        return None
    person = stem[:4].upper()
    if PERSON_FOLDER.match(path.parent.name) and path.parent.name.upper() != person:
        ctx.problem(path, None, f"file of {person} is in the folder of {path.parent.name} (misplaced or misnamed)")
        return None
    label = ctx.resolve_label(match["expr"].upper(), path)
    subject = ctx.subject_from_name(path.name.upper(), path)
    if label is None or subject is None:
        return None
    return {
        "sample_id": stem.upper(),
        "label": label,
        "subject_id": subject,
        "source_file": path.relative_to(ctx.root).as_posix(),
        "split": "",
        "session": match["session"].upper(),
        "gender": match["gender"].upper(),
        "person": match["id"],
        "angle": match["angle"].upper(),
    }
