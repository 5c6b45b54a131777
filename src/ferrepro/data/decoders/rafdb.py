"""RAF-DB basic emotions: ``EmoLabel/list_patition_label.txt`` (sic) with lines
``train_00001.jpg 5``, and images in ``Image/aligned/train_00001_aligned.jpg`` (100x100 aligned
faces) or ``Image/original/train_00001.jpg``.

Labels are 1..7 in RAF's own order (1 surprise, 2 fear, 3 disgust, 4 happiness, 5 sadness,
6 anger, 7 neutral), mapped by the registry. The official split is the file-name prefix
(``train_`` / ``test_``); RAF-DB has no validation set. The aligned images are preferred (the
registry's ``prefer`` order) because that is what published RAF-DB numbers use. The raw folder may
be ``basic/`` itself or the release folder holding ``basic/`` and ``compound/``.
"""

from __future__ import annotations

import re
from pathlib import Path

from ferrepro.data.decoders.common import DecodeContext, Decoded, read_rows
from ferrepro.data.registry import LayoutSpec

LIST_FILE = Path("EmoLabel/list_patition_label.txt")
LINE = re.compile(r"^(?P<name>(?P<prefix>[a-z]+)_\d+)\.(?P<ext>jpg|png)\s+(?P<label>\S+)$")


def base_dir(root: Path) -> Path | None:
    for base in (root, root / "basic"):
        if (base / LIST_FILE).is_file():
            return base
    return None


def detect(root: Path, layout: LayoutSpec) -> bool:
    return base_dir(root) is not None


def decode(ctx: DecodeContext) -> Decoded:
    base = base_dir(ctx.root)
    variant, folder = _image_variant(base, ctx)
    rows = []
    list_path = base / LIST_FILE
    for line_no, text in enumerate(list_path.read_text(errors="replace").splitlines(), start=1):
        if not text.strip():
            continue
        match = LINE.match(text.strip())
        if not match:
            ctx.problem(list_path, line_no, f"{text.strip()[:60]!r} is not '<train|test>_<n>.jpg <label>'")
            continue
        if match["prefix"] not in ctx.spec.splits:
            ctx.problem(list_path, line_no, f"file prefix {match['prefix']!r} is not one of {sorted(ctx.spec.splits)}")
            continue
        label = ctx.resolve_label(match["label"], list_path, line_no)
        image = folder / (f"{match['name']}_aligned.jpg" if variant == "aligned" else f"{match['name']}.{match['ext']}")
        if label is None:
            continue
        if not image.is_file():
            ctx.problem(list_path, line_no, f"listed image {ctx.rel(image)} does not exist")
            continue
        rows.append({
            "sample_id": match["name"],
            "label": label,
            "subject_id": "",
            "source_file": ctx.rel(image),
            "split": ctx.spec.splits[match["prefix"]],
            "image_variant": variant,
        })
    ctx.check(f"reading {LIST_FILE}")
    columns = ["sample_id", "label", "subject_id", "source_file", "split", "image_variant"]
    return read_rows(rows, ctx, "RAF-DB", columns)


def _image_variant(base: Path, ctx: DecodeContext) -> tuple[str, Path]:
    from ferrepro.data.decoders.common import DecodeError

    prefer = ctx.layout.options.get("prefer", ["aligned", "original"])
    for variant in prefer:
        if (base / "Image" / variant).is_dir():
            return variant, base / "Image" / variant
    raise DecodeError(f"{base}/Image: none of the image folders {[f'Image/{v}/' for v in prefer]} exists")
