"""Tiny fixtures in each dataset's exact native layout, plus helpers that break them.

Each ``write_<dataset>`` function lays out a few images per class under ``root`` exactly as the
real distribution does (names, folders, label files, header quirks) and returns the raw folder
to hand to ``decode_dataset``. Images are small random-noise pictures drawn from a seeded
generator, so every image is distinct (the audit tests rely on that) and fixtures are
deterministic. The ``break_*`` helpers produce the broken variants used by the error-path tests.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import cv2
import numpy as np
import yaml

from ferrepro.data.decoders.fer2013_csv import write_fer2013_csv
from ferrepro.data.registry import Registry, default_registry_path, registry_from_dict

FER_CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]  # codes 0..6
FER_USAGES = ["Training", "PublicTest", "PrivateTest"]


def noise(rng: np.random.Generator, h: int, w: int, channels: int = 1) -> np.ndarray:
    shape = (h, w) if channels == 1 else (h, w, channels)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def write_image(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise RuntimeError(f"could not write fixture image {path}")
    return path


# -- FER2013 ------------------------------------------------------------------------------------


def fer2013_rows(n_per_class: int = 1, seed: int = 0):
    """(codes, pixels N x 48 x 48, usages): n_per_class rows per class and Usage."""
    rng = np.random.default_rng(seed)
    codes, usages = [], []
    for usage in FER_USAGES:
        for code in range(7):
            codes += [code] * n_per_class
            usages += [usage] * n_per_class
    pixels = rng.integers(0, 256, (len(codes), 48, 48), dtype=np.uint8)
    return codes, pixels, usages


def write_fer2013_csv_fixture(root: Path, n_per_class: int = 1, icml: bool = False, seed: int = 0) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    codes, pixels, usages = fer2013_rows(n_per_class, seed)
    write_fer2013_csv(root / ("icml_face_data.csv" if icml else "fer2013.csv"), codes, pixels, usages, icml=icml)
    return root


def write_kaggle_folders(root: Path, n_per_class: int = 1, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    file_id = 1000
    for folder, prefixes in (("train", ["Training"]), ("test", ["PublicTest", "PrivateTest"])):
        for cls in FER_CLASSES:
            for prefix in prefixes:
                for _ in range(n_per_class):
                    file_id += 7
                    write_image(root / folder / cls / f"{prefix}_{file_id}.jpg", noise(rng, 48, 48))
    return root


FERPLUS_HEADER = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
# one row per case the majority rule must get right (votes: neutral, happiness, surprise, sadness,
# anger, disgust, fear, contempt, unknown, NF) -> expected canonical label or drop reason
FERPLUS_CASES = [
    ((4, 0, 0, 1, 3, 2, 0, 0, 0, 0), None),  # 4 of 9 remaining votes: no majority
    ((6, 0, 1, 1, 0, 0, 0, 0, 2, 0), "neutral"),  # singles removed: 6 of 8
    ((0, 10, 0, 0, 0, 0, 0, 0, 0, 0), "happy"),
    ((0, 0, 6, 0, 0, 0, 4, 0, 0, 0), "surprise"),
    ((1, 1, 1, 1, 0, 0, 0, 0, 0, 6), None),  # winner NF: not a face
    ((0, 0, 0, 0, 0, 0, 0, 0, 9, 1), None),  # winner unknown
    ((0, 0, 0, 0, 0, 0, 0, 8, 2, 0), "contempt"),  # dropped under basic7
    ((0, 0, 0, 0, 2, 0, 7, 0, 1, 0), "fear"),  # the reference loader's off-by-two would drop it
    ((0, 0, 0, 7, 3, 0, 0, 0, 0, 0), "sad"),
    ((0, 0, 0, 0, 9, 1, 0, 0, 0, 0), "angry"),
    ((0, 0, 0, 0, 2, 8, 0, 0, 0, 0), "disgust"),
    ((0, 0, 0, 0, 0, 0, 0, 0, 0, 10), "nonface-empty-name"),  # image name left empty
]


def write_ferplus(root: Path, pixels_next_to_labels: bool = True, seed: int = 0) -> Path:
    """fer2013new.csv for FERPLUS_CASES x 3 usages, plus the aligned fer2013.csv.

    With ``pixels_next_to_labels=False`` fer2013.csv goes to the sibling ``fer2013/`` folder.
    """
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    lines, codes, usages = [FERPLUS_HEADER], [], []
    row = named = 0
    for usage in FER_USAGES:
        for votes, expected in FERPLUS_CASES:
            # as in the real file, names number the named rows only, so they drift from row numbers
            name = "" if expected == "nonface-empty-name" else f"fer{named:07d}.png"
            named += name != ""
            lines.append(f"{usage},{name}," + ",".join(map(str, votes)))
            codes.append(int(rng.integers(0, 7)))
            usages.append(usage)
            row += 1
    (root / "fer2013new.csv").write_text("\n".join(lines) + "\n")
    pixels = rng.integers(0, 256, (row, 48, 48), dtype=np.uint8)
    pixel_dir = root if pixels_next_to_labels else root.parent / "fer2013"
    pixel_dir.mkdir(parents=True, exist_ok=True)
    write_fer2013_csv(pixel_dir / "fer2013.csv", codes, pixels, usages)
    return root


# -- CK+ ------------------------------------------------------------------------------------------

CK48_FOLDERS = ["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"]
CK_CODES = {"anger": 1, "contempt": 2, "disgust": 3, "fear": 4, "happy": 5, "sadness": 6, "surprise": 7}


def write_ckplus48(root: Path, subjects=("S005", "S010", "S011"), seed: int = 0) -> Path:
    """Class folders of 48x48 PNGs: the last 3 frames of one sequence per subject and class."""
    rng = np.random.default_rng(seed)
    for k, folder in enumerate(CK48_FOLDERS):
        for subject in subjects:
            for frame in (9, 10, 11):
                write_image(root / folder / f"{subject}_{k + 1:03d}_{frame:08d}.png", noise(rng, 48, 48))
    return root


def write_ckplus_original(
    root: Path, subjects=("S005", "S010", "S011"), n_frames: int = 5, unlabelled: int = 1, seed: int = 0, size=(49, 64)
) -> Path:
    """cohn-kanade-images/ + Emotion/: one labelled sequence per subject and class (frames 1..n),
    plus ``unlabelled`` sequences per subject without an Emotion file (most CK+ sequences)."""
    rng = np.random.default_rng(seed)
    for subject in subjects:
        for k, folder in enumerate(CK48_FOLDERS):
            seq = f"{k + 1:03d}"
            for frame in range(1, n_frames + 1):
                write_image(
                    root / "cohn-kanade-images" / subject / seq / f"{subject}_{seq}_{frame:08d}.png", noise(rng, *size)
                )
            label_dir = root / "Emotion" / subject / seq
            label_dir.mkdir(parents=True, exist_ok=True)
            (label_dir / f"{subject}_{seq}_{n_frames:08d}_emotion.txt").write_text(f"   {CK_CODES[folder]:.7e}\n")
        for u in range(unlabelled):
            seq = f"{100 + u:03d}"
            for frame in range(1, 3):
                write_image(
                    root / "cohn-kanade-images" / subject / seq / f"{subject}_{seq}_{frame:08d}.png", noise(rng, *size)
                )
            (root / "Emotion" / subject / seq).mkdir(parents=True, exist_ok=True)
    return root


# -- JAFFE, KDEF ----------------------------------------------------------------------------------

JAFFE_CODES = ["AN", "DI", "FE", "HA", "NE", "SA", "SU"]


def write_jaffe(root: Path, posers=("KA", "KL", "KM"), as_zip: bool = False, seed: int = 0) -> Path:
    """Flat folder of KA.AN1.39.tiff files plus a README, or the same inside a zip
    (wrapped in ``jaffedbase/`` as distributed); returns the folder holding the files or the zip."""
    rng = np.random.default_rng(seed)
    files: dict[str, bytes] = {"README_FIRST.txt": b"JAFFE images, research use only\n"}
    number = 1
    for poser in posers:
        for code in JAFFE_CODES:
            ok, data = cv2.imencode(".tiff", noise(rng, 256, 256))
            files[f"{poser}.{code}1.{number}.tiff"] = data.tobytes()
            number += 1
    root.mkdir(parents=True, exist_ok=True)
    if as_zip:
        with zipfile.ZipFile(root / "jaffe.zip", "w") as zf:
            for name, data in files.items():
                zf.writestr(f"jaffedbase/{name}", data)
    else:
        for name, data in files.items():
            (root / name).write_bytes(data)
    return root


JAFFE_FOLDERS = {
    "AN": "angry",
    "DI": "disgust",
    "FE": "fear",
    "HA": "happy",
    "NE": "neutral",
    "SA": "sad",
    "SU": "surprise",
}


def write_jaffe_converted(
    root: Path,
    suffix: str = ".tiff.png",
    per_class: bool = False,
    wrapper: str = "jaffe",
    size=(200, 180),
    posers=("KA", "KL"),
    seed: int = 0,
) -> Path:
    """JAFFE as copies circulate: converted (KA.AN1.1.tiff.png), at another size, flat or in
    per-expression folders, under a wrapper folder; returns the raw folder (holding the wrapper)."""
    rng = np.random.default_rng(seed)
    number = 1
    for poser in posers:
        for code in JAFFE_CODES:
            folder = root / wrapper / (JAFFE_FOLDERS[code] if per_class else "")
            write_image(folder / f"{poser}.{code}1.{number}{suffix}", noise(rng, *size))
            number += 1
    return root


def zip_folder(folder: Path, archive: Path) -> Path:
    """Zip everything under ``folder`` (paths relative to it) and remove the folder's content."""
    import shutil

    files = sorted(p for p in folder.rglob("*") if p.is_file())
    with zipfile.ZipFile(archive, "w") as zf:
        for path in files:
            zf.write(path, path.relative_to(folder).as_posix())
    for child in folder.iterdir():
        if child != archive:
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    return archive


KDEF_CODES = ["AF", "AN", "DI", "HA", "NE", "SA", "SU"]


def write_kdef(
    root: Path,
    people=("F01", "M02"),
    sessions=("A", "B"),
    angles=("S", "HL"),
    seed: int = 0,
    flat: bool = False,
    suffix: str = ".JPG",
) -> Path:
    """KDEF/<person>/ folders as released, or (``flat``) one folder of converted copies (``suffix``)."""
    rng = np.random.default_rng(seed)
    for session in sessions:
        for person in people:
            folder = root / "KDEF" / ("" if flat else f"{session}{person}")
            for code in KDEF_CODES:
                for angle in angles:
                    write_image(folder / f"{session}{person}{code}{angle}{suffix}", noise(rng, 38, 28, 3))
    return root


# -- AffectNet, RAF-DB, FERG, UTKFace -------------------------------------------------------------

AFFECTNET_HEADER = (
    "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"
)


def write_affectnet(
    root: Path, codes=tuple(range(11)), per_code: int = 1, validation_header: bool = True, seed: int = 0
) -> Path:
    """training.csv / validation.csv with one row per expression code (0..10) per list."""
    rng = np.random.default_rng(seed)
    k = 0
    for list_name, header in (("training.csv", True), ("validation.csv", validation_header)):
        lines = [AFFECTNET_HEADER] if header else []
        for code in codes:
            for _ in range(per_code):
                k += 1
                rel = f"{k % 3 + 1}/img{k:04d}.jpg"
                write_image(root / "Manually_Annotated_Images" / rel, noise(rng, 40, 50, 3))
                landmarks = ";".join(str(v) for v in range(10))
                lines.append(f"{rel},5,4,30,28,{landmarks},{code},0.25,-0.5")
        (root / list_name).write_text("\n".join(lines) + "\n")
    return root


def write_rafdb(root: Path, per_class: int = 1, wrap: bool = True, variant: str = "aligned", seed: int = 0) -> Path:
    """``basic/EmoLabel/list_patition_label.txt`` + ``basic/Image/<variant>/``; with ``wrap`` the
    release folder also holds ``compound/`` as the real download does."""
    rng = np.random.default_rng(seed)
    base = root / "basic" if wrap else root
    lines = []
    for split in ("train", "test"):
        n = 0
        for label in range(1, 8):
            for _ in range(per_class):
                n += 1
                name = f"{split}_{n:05d}" if split == "train" else f"{split}_{n:04d}"
                image = f"{name}_aligned.jpg" if variant == "aligned" else f"{name}.jpg"
                size = (100, 100) if variant == "aligned" else (80, 60)
                write_image(base / "Image" / variant / image, noise(rng, *size, 3))
                lines.append(f"{name}.jpg {label}")
    (base / "EmoLabel").mkdir(parents=True, exist_ok=True)
    (base / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    if wrap:
        (root / "compound" / "EmoLabel").mkdir(parents=True, exist_ok=True)
    return root


def write_rafdb_class_folders(root: Path, per_class: int = 1, seed: int = 0) -> Path:
    """The re-packaged RAF-DB copy: train/<1..7>/train_00001_aligned.jpg, test/<1..7>/..."""
    rng = np.random.default_rng(seed)
    for split in ("train", "test"):
        n = 0
        for label in range(1, 8):
            for _ in range(per_class):
                n += 1
                write_image(root / split / str(label) / f"{split}_{n:05d}_aligned.jpg", noise(rng, 100, 100, 3))
    (root / "train_labels.csv").write_text("image,label\n")
    return root


FERG_EXPRESSIONS = ["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"]


def write_ferg(
    root: Path, characters=("aia", "bonnie", "ray"), per_class: int = 1, seed: int = 0, suffix: str = ".png"
) -> Path:
    """RGBA renders with a transparent border, as FERG ships them (``suffix``: a converted copy)."""
    rng = np.random.default_rng(seed)
    for character in characters:
        for expr in FERG_EXPRESSIONS:
            for n in range(1, per_class + 1):
                img = noise(rng, 32, 32, 4)
                img[:4, :, 3] = 0  # transparent top rows
                img[4:, :, 3] = 255
                if suffix.endswith((".jpg", ".jpeg")):
                    img = img[:, :, :3]  # JPEG has no alpha
                write_image(root / character / f"{character}_{expr}" / f"{character}_{expr}_{n}{suffix}", img)
    return root


def write_utkface(root: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for name in ("25_0_0_20170116174525125.jpg", "31_1_2_20170116171048641.jpg"):
        write_image(root / name, noise(rng, 20, 20, 3))
    return root


# -- broken variants ------------------------------------------------------------------------------


def truncate_file(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: max(1, int(len(data) * keep))])
    return path


def corrupt_file(path: Path) -> Path:
    """Overwrite a file with bytes no image decoder accepts (same name, same suffix)."""
    path.write_bytes(b"this is not an image" * 10)
    return path


def replace_csv_line(path: Path, line_no: int, transform) -> Path:
    """Apply ``transform(text) -> text`` to 1-based line ``line_no`` of a text file."""
    lines = path.read_text().split("\n")
    lines[line_no - 1] = transform(lines[line_no - 1])
    path.write_text("\n".join(lines))
    return path


def zip_with_member(path: Path, member: str, data: bytes = b"x") -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ok/file.txt", b"fine")
        zf.writestr(member, data)
    return path


def tar_with_member(path: Path, member: str, data: bytes = b"x", symlink_to: str | None = None) -> Path:
    with tarfile.open(path, "w") as tf:
        info = tarfile.TarInfo(member)
        if symlink_to is not None:
            info.type, info.linkname = tarfile.SYMTYPE, symlink_to
            tf.addfile(info)
        else:
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def registry_with(overrides: dict | None = None, path: Path | None = None) -> Registry:
    """The project registry with some dataset/layout keys replaced, e.g. official counts that
    match a fixture: ``{"fer2013": {"layouts": {"kaggle_folders": {"official_counts": {...}}}}}``."""
    raw = yaml.safe_load((path or default_registry_path()).read_text())
    for dataset, changes in (overrides or {}).items():
        body = raw["datasets"][dataset]
        for key, value in changes.items():
            if key == "layouts":
                for layout in body["layouts"]:
                    layout.update(value.get(layout["name"], {}))
            else:
                body[key] = value
    return registry_from_dict(raw, where="test registry")
