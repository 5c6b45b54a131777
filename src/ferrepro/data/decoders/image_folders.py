"""Kaggle's FER2013 image folders: ``train/<class>/Training_<id>.jpg`` and
``test/<class>/{PublicTest,PrivateTest}_<id>.jpg``.

The two test splits share the ``test/`` folder and are told apart only by the file-name prefix,
so the prefix (not the folder) decides the official split, and a prefix that does not belong in
its folder (a ``Training_`` file under ``test/``) is a problem.

The ``<id>`` numbers are not FER2013 row numbers and are not unique across the class folders (the
real copy holds ``Training_52789098.jpg`` under both ``neutral/`` and ``surprise/``), so the
sample id is the relative path without its suffix.
"""

from __future__ import annotations

import re
from pathlib import Path

from ferrepro.data.decoders import register_decoder
from ferrepro.data.decoders.common import (
    IMAGE_SUFFIXES,
    DecodeContext,
    Decoded,
    is_hidden_or_junk,
    read_rows,
)
from ferrepro.data.registry import LayoutSpec

NAME = re.compile(r"^(?P<prefix>[A-Za-z]+)_(?P<id>\d+)$")


def detect(root: Path, layout: LayoutSpec) -> bool:
    return all((root / folder).is_dir() for folder in layout.options.get("folders", ("train", "test")))


@register_decoder("image_folders", detect=detect)
def decode(ctx: DecodeContext) -> Decoded:
    rows = list_samples(ctx)
    ctx.check("listing the image folders")
    return read_rows(rows, ctx, "image-folder", list(rows[0]) if rows else _EMPTY)


_EMPTY = dict.fromkeys(["sample_id", "label", "subject_id", "source_file", "split", "usage", "file_id"])


def list_samples(ctx: DecodeContext) -> list[dict]:
    opts = ctx.layout.options
    allowed = {folder: set(prefixes) for folder, prefixes in opts["allowed_prefixes"].items()}
    rows = []
    for entry in sorted(ctx.root.iterdir()):
        if entry.name not in allowed:
            ctx.ignore(entry, "not one of the split folders " + "/".join(sorted(allowed)))
    for folder in opts["folders"]:
        for class_dir in sorted((ctx.root / folder).iterdir()):
            if is_hidden_or_junk(class_dir):
                ctx.ignore(class_dir, "hidden or system file")
                continue
            if not class_dir.is_dir():
                ctx.problem(
                    class_dir,
                    None,
                    f"unexpected file in {folder}/; expected class folders {sorted(ctx.layout.label_map)}",
                )
                continue
            if class_dir.name not in ctx.layout.label_map:
                ctx.problem(
                    class_dir,
                    None,
                    f"unexpected folder name {class_dir.name!r}; expected one of {sorted(ctx.layout.label_map)}",
                )
                continue
            for path in sorted(class_dir.iterdir()):
                row = _sample_row(path, folder, class_dir.name, allowed[folder], ctx)
                if row:
                    rows.append(row)
    return rows


def _sample_row(path: Path, folder: str, class_name: str, prefixes: set[str], ctx: DecodeContext) -> dict | None:
    if is_hidden_or_junk(path):
        ctx.ignore(path, "hidden or system file")
        return None
    if path.is_dir() or path.suffix.lower() not in IMAGE_SUFFIXES:
        ctx.problem(path, None, f"unexpected {'folder' if path.is_dir() else 'file'}; expected <Usage>_<id>.jpg images")
        return None
    match = NAME.match(path.stem)
    if not match or match["prefix"] not in prefixes:
        ctx.problem(
            path,
            None,
            f"file name {path.name!r} does not start with one of {sorted(prefixes)}_<id> expected in {folder}/",
        )
        return None
    label = ctx.resolve_label(class_name, path)
    if label is None:
        return None
    rel = path.relative_to(ctx.root).as_posix()
    return {
        "sample_id": rel.rsplit(".", 1)[0],
        "label": label,
        "subject_id": "",
        "source_file": rel,
        "split": ctx.spec.splits[match["prefix"]],
        "usage": match["prefix"],
        "file_id": match["id"],
    }
