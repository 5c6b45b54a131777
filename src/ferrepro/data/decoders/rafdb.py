"""RAF-DB basic emotions: ``EmoLabel/list_patition_label.txt`` (sic) with lines
``train_00001.jpg 5``, and images in ``Image/aligned/train_00001_aligned.jpg`` (100x100 aligned
faces) or ``Image/original/train_00001.jpg``.

Labels are 1..7 in RAF's own order (1 surprise, 2 fear, 3 disgust, 4 happiness, 5 sadness,
6 anger, 7 neutral), mapped by the registry. The official split is the file-name prefix
(``train_`` / ``test_``); RAF-DB has no validation set. The aligned images are preferred (the
registry's ``prefer`` order) because that is what published RAF-DB numbers use. The raw folder may
be ``basic/`` itself or the release folder holding ``basic/`` and ``compound/``, under any wrapper
folders or in a zip; listed images may have been converted to any common image format (the list
still says ``.jpg``).

``class_folders`` (``options.form``) is the widespread re-packaged copy: ``train/<1..7>/`` and
``test/<1..7>/`` holding ``train_00001_aligned.jpg``, the folder being RAF's label code (the
``train_labels.csv`` / ``test_labels.csv`` beside them repeat the folders and are ignored).
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
    list_files,
    read_rows,
)
from ferrepro.data.registry import LayoutSpec

LIST_FILE = Path("EmoLabel/list_patition_label.txt")
LINE = re.compile(r"^(?P<name>(?P<prefix>[a-z]+)_\d+)\.(?P<ext>jpg|png)\s+(?P<label>\S+)$")
FOLDER_IMAGE = re.compile(r"^(?P<name>(?P<prefix>[a-z]+)_\d+)(_aligned)?$")
SPLIT_FOLDERS = ("train", "test")


def base_dir(root: Path) -> Path | None:
    for base in (root, root / "basic"):
        if (base / LIST_FILE).is_file():
            return base
    return None


def detect(root: Path, layout: LayoutSpec) -> bool:
    if layout.options.get("form") == "class_folders":
        return all((root / split).is_dir() for split in SPLIT_FOLDERS) and any(
            (root / "train" / code).is_dir() for code in layout.label_map
        )
    return base_dir(root) is not None


@register_decoder("rafdb", detect=detect)
def decode(ctx: DecodeContext) -> Decoded:
    if ctx.layout.options.get("form") == "class_folders":
        return decode_class_folders(ctx)
    base = base_dir(ctx.root)
    variant, folder = _image_variant(base, ctx)
    # by name without suffixes, so converted copies (train_00001_aligned.png) are found too
    images = {image_stem(path): path for path in list_files(folder) if is_image(path)}
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
        wanted = f"{match['name']}_aligned" if variant == "aligned" else match["name"]
        if label is None:
            continue
        image = images.get(wanted)
        if image is None:
            ctx.problem(
                list_path,
                line_no,
                f"listed image {ctx.rel(folder / wanted)}.jpg does not exist "
                "(nor a copy of it in another image format)",
            )
            continue
        rows.append(
            {
                "sample_id": match["name"],
                "label": label,
                "subject_id": "",
                "source_file": ctx.rel(image),
                "split": ctx.spec.splits[match["prefix"]],
                "image_variant": variant,
            }
        )
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


def decode_class_folders(ctx: DecodeContext) -> Decoded:
    rows = []
    for entry in sorted(ctx.root.iterdir()):
        if entry.name not in SPLIT_FOLDERS:
            ctx.ignore(entry, "not one of the split folders train/, test/")
    for split in SPLIT_FOLDERS:
        for class_dir in sorted((ctx.root / split).iterdir()):
            if is_hidden_or_junk(class_dir) or not class_dir.is_dir():
                ctx.ignore(class_dir, "not a class folder")
            elif class_dir.name not in ctx.layout.label_map:
                ctx.problem(
                    class_dir,
                    None,
                    f"unexpected folder name {class_dir.name!r}; expected RAF label codes "
                    f"{sorted(ctx.layout.label_map)}",
                )
            else:
                rows.extend(_folder_rows(class_dir, split, ctx))
    ctx.check("listing the RAF-DB class folders")
    columns = ["sample_id", "label", "subject_id", "source_file", "split", "image_variant"]
    return read_rows(rows, ctx, "RAF-DB", columns)


def _folder_rows(class_dir: Path, split: str, ctx: DecodeContext) -> list[dict]:
    rows = []
    for path in list_files(class_dir, ctx):
        if is_hidden_or_junk(path) or not is_image(path):
            ctx.ignore(path, "not an image")
            continue
        match = FOLDER_IMAGE.match(image_stem(path))
        if not match or match["prefix"] != split:
            ctx.problem(path, None, f"file name {path.name!r} is not {split}_<n>_aligned.jpg")
            continue
        label = ctx.resolve_label(class_dir.name, path)
        if label is not None:
            rows.append(
                {
                    "sample_id": match["name"],
                    "label": label,
                    "subject_id": "",
                    "source_file": path.relative_to(ctx.root).as_posix(),
                    "split": ctx.spec.splits[split],
                    "image_variant": "aligned" if image_stem(path).endswith("_aligned") else "original",
                }
            )
    return rows
