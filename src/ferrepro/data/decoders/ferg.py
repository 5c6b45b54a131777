"""FERG-DB: ``<character>/<character>_<expression>/<character>_<expression>_<n>.png`` for the six
stylised characters (aia, bonnie, jules, malcolm, mery, ray) and seven expressions (anger,
disgust, fear, joy, neutral, sadness, surprise).

The character is the subject: a subject-independent split holds whole characters out, which is
the only split under which FERG results say anything about unseen faces. The 256x256 renders
have transparent backgrounds; they are composited onto a flat background (registry option, white)
rather than having the alpha channel dropped, which would expose arbitrary colours.

Accepted forms: the character folders under any wrapper folders (``FERG_DB_256/``) or in a zip;
images in any common format, also converted with the original suffix kept (``aia_joy_1.png.jpg``).
"""

from __future__ import annotations

import re
from pathlib import Path

from ferrepro.data.decoders import register_decoder
from ferrepro.data.decoders.common import (
    DecodeContext,
    Decoded,
    image_stem,
    is_hidden_or_junk,
    is_image,
    read_rows,
)
from ferrepro.data.registry import LayoutSpec

COLUMNS = ["sample_id", "label", "subject_id", "source_file", "split"]


def detect(root: Path, layout: LayoutSpec) -> bool:
    return any((root / c).is_dir() for c in layout.options.get("characters", ()))


@register_decoder("ferg", detect=detect)
def decode(ctx: DecodeContext) -> Decoded:
    characters = set(ctx.layout.options["characters"])
    rows = []
    for char_dir in sorted(ctx.root.iterdir()):
        if is_hidden_or_junk(char_dir) or char_dir.is_file():
            ctx.ignore(char_dir, "hidden/system file" if is_hidden_or_junk(char_dir) else "not a character folder")
        elif char_dir.name not in characters:
            ctx.problem(
                char_dir, None, f"unexpected folder name {char_dir.name!r}; expected characters {sorted(characters)}"
            )
        else:
            rows.extend(_character_rows(char_dir, ctx))
    ctx.check("listing the FERG folders")
    return read_rows(rows, ctx, "FERG", COLUMNS, background=int(ctx.layout.options.get("background", 255)))


def _character_rows(char_dir: Path, ctx: DecodeContext) -> list[dict]:
    character = char_dir.name
    folder_name = re.compile(rf"^{re.escape(character)}_(?P<expr>[a-z]+)$")
    rows = []
    for expr_dir in sorted(char_dir.iterdir()):
        if is_hidden_or_junk(expr_dir) or expr_dir.is_file():
            ctx.ignore(expr_dir, "hidden/system file" if is_hidden_or_junk(expr_dir) else "not an expression folder")
            continue
        match = folder_name.match(expr_dir.name)
        if not match or match["expr"] not in ctx.layout.label_map:
            expected = sorted(f"{character}_{e}" for e in ctx.layout.label_map)
            ctx.problem(expr_dir, None, f"unexpected folder name {expr_dir.name!r}; expected one of {expected}")
            continue
        file_name = re.compile(rf"^{re.escape(expr_dir.name)}_\d+$")
        for path in sorted(expr_dir.iterdir()):
            if is_hidden_or_junk(path) or path.is_dir() or not is_image(path):
                ctx.ignore(path, "not an image")
            elif not file_name.match(image_stem(path)):
                ctx.problem(path, None, f"file name {path.name!r} is not {expr_dir.name}_<n>.png")
            elif (label := ctx.resolve_label(match["expr"], path)) is not None:
                rows.append(
                    {
                        "sample_id": image_stem(path),
                        "label": label,
                        "subject_id": character,
                        "source_file": path.relative_to(ctx.root).as_posix(),
                        "split": "",
                    }
                )
    return rows
