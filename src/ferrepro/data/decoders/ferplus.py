"""FER+ (``fer2013new.csv``): Microsoft's 10-annotator votes for every FER2013 row.

``fer2013new.csv`` holds no pixels. It has exactly the rows of the original ``fer2013.csv`` in the
same order, so row ``i`` of one is row ``i`` of the other. The pixels therefore come from
``fer2013.csv`` / ``icml_face_data.csv`` (next to it, or in the fer2013 raw folder), and the
alignment is verified, not assumed: the row counts must match and the ``Usage`` of every row must
agree; any disagreement stops the decode whatever the quarantine setting, because a shifted
alignment would mislabel every row after it. Kaggle's image folders cannot be used: their
``Training_<id>`` numbers are not row numbers (checked on the real data: see the project notes).

Label rule: majority vote as in Microsoft's reference code (``FERPlusReader._process_data``,
``majority`` mode), since the paper that introduced FER+ defines the vote rules there:

1. votes of exactly 1 are removed (a single annotator is treated as an outlier);
2. the emotion with the most remaining votes wins if it holds *more than half* of them;
   otherwise the row has no majority and is dropped;
3. a winning ``unknown`` or ``NF`` (not a face) is dropped; ``contempt`` is dropped under the
   basic7 label set. Rows with an empty ``Image name`` are non-faces (173 in the real file).

Sample ids are FER2013 row numbers (``row00059``), as in the FER2013 CSV decoder. The ``Image name``
column is kept as ``ferplus_name`` but is not an id: on the real file it is not the row number
(it skips non-face rows), is not monotonic, and 4 names occur twice (rows 5274/6968, 5348/11817,
8423/15835, 33200/34334), so FERPlus's own PNG export overwrites 4 images.

The reference code's loader also drops rows whose winner is fear or contempt because of an
off-by-two index (``idx < emotion_count - 2`` with ``emotion_count = 8``); we do not reproduce that
bug. Every drop is counted per reason in the decode report. The vote counts are kept as
``votes_<name>`` columns so soft-label training can use them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ferrepro.data.acquire import ARCHIVE_SUFFIXES, MissingDatasetError, missing_message
from ferrepro.data.decoders import register_decoder
from ferrepro.data.decoders.common import DecodeContext, Decoded, DecodeError, samples_frame
from ferrepro.data.decoders.fer2013_csv import read_fer2013_csv
from ferrepro.data.registry import LayoutSpec

LABEL_FILE = "fer2013new.csv"
VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")


def detect(root: Path, layout: LayoutSpec) -> bool:
    return (root / LABEL_FILE).is_file()


@register_decoder("ferplus", detect=detect)
def decode(ctx: DecodeContext) -> Decoded:
    label_path = ctx.root / LABEL_FILE
    votes_table = read_label_file(label_path, ctx)
    pixels_path = find_pixels_csv(ctx)
    fer = read_fer2013_csv(pixels_path, ctx)
    fer_rows = fer.lines - 2  # data row index of each parsed fer2013 row (header is line 1)
    check_alignment(votes_table, fer.usage, fer_rows, label_path, pixels_path)

    n = len(votes_table)
    pixel_ok = np.zeros(n, dtype=bool)
    pixel_index = np.full(n, -1, dtype=np.int64)
    pixel_index[fer_rows] = np.arange(len(fer_rows))
    pixel_ok[fer_rows] = fer.pixels_ok
    ctx.drop("fer2013 pixel row quarantined", int((pixel_index >= 0).sum() - pixel_ok.sum()))

    labels = majority_labels(votes_table, ctx)
    splits = votes_table["Usage"].map(ctx.spec.splits).fillna("").to_numpy()
    keep = (labels != "") & pixel_ok & (splits != "")
    ctx.check(f"reading {LABEL_FILE} with {pixels_path.name}")

    idx = np.flatnonzero(keep)
    votes = votes_table.loc[idx, list(VOTE_COLUMNS)]
    samples = samples_frame(
        sample_id=[f"row{i:05d}" for i in idx],
        label=labels[idx],
        subject_id=[""] * len(idx),
        source_file=[f"{pixels_path.name}:{i + 2}" for i in idx],
        split=splits[idx],
        usage=votes_table["Usage"].to_numpy()[idx],
        row=idx,
        ferplus_line=idx + 2,
        ferplus_name=votes_table["Image name"].to_numpy()[idx],
        **{f"votes_{c}": votes[c].to_numpy() for c in VOTE_COLUMNS},
    )
    images = fer.pixels[pixel_index[idx]].reshape(-1, 48, 48, 1)
    units = pd.DataFrame({"split": votes_table["Usage"].map(ctx.spec.splits).fillna("(unknown)"), "label": ""})
    non_faces = int((votes_table["Image name"] == "").sum())
    report = {
        "pixels_csv": str(pixels_path),
        "source_rows": n,
        "non_faces_without_image_name": non_faces,
        "expected_non_faces": ctx.layout.options.get("expected_non_faces"),
        "vote_rule": "FERPlus reference majority: drop single votes, winner needs > 50% of the remaining votes",
    }
    return Decoded(images=images, samples=samples, units=units, report=report)


def read_label_file(path: Path, ctx: DecodeContext) -> pd.DataFrame:
    table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    table.columns = [c.strip() for c in table.columns]
    missing = [c for c in ("Usage", "Image name", *VOTE_COLUMNS) if c not in table.columns]
    if missing:
        raise DecodeError(
            f"{path}:1: columns {missing} are missing; expected Usage, Image name, {', '.join(VOTE_COLUMNS)}"
        )
    votes = table[list(VOTE_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    bad = votes.isna().any(axis=1) | (votes < 0).any(axis=1) | (votes % 1 != 0).any(axis=1)
    for row in np.flatnonzero(bad.to_numpy()):
        ctx.problem(
            path,
            int(row) + 2,
            f"vote counts {table.loc[row, list(VOTE_COLUMNS)].tolist()} are not non-negative integers",
        )
    table[list(VOTE_COLUMNS)] = votes.fillna(0).astype(np.int64)
    table["Usage"] = table["Usage"].str.strip()
    table["Image name"] = table["Image name"].str.strip()
    table["_bad_votes"] = bad.to_numpy()
    return table


def find_pixels_csv(ctx: DecodeContext) -> Path:
    """fer2013.csv / icml_face_data.csv next to the label file, else in the fer2013 raw folder (beside the FER+
    folder, or in the configured raw root)."""
    names = list(ctx.layout.options.get("pixels_csv", ["fer2013.csv", "icml_face_data.csv"]))
    pixels_dataset = ctx.layout.options.get("pixels_dataset", "fer2013")
    folders = [ctx.root]
    if ctx.raw_dir is not None:
        folders += [ctx.raw_dir, ctx.raw_dir.parent / pixels_dataset]
    if ctx.raw_root is not None:
        folders.append(ctx.raw_root / pixels_dataset)
    for folder in folders:
        for name in names:
            if (folder / name).is_file():
                return folder / name
    kaggle = any((f / "train").is_dir() and (f / "test").is_dir() for f in folders if f.is_dir())
    why = (
        "only FER2013's Kaggle image folders were found; their Training_<id> file ids are not fer2013.csv row "
        "numbers, so FER+ rows cannot be aligned with them. "
        if kaggle
        else ""
    )
    # an archive in one of those folders (e.g. the FER2013 raw folder holding the tar as downloaded) is not
    # opened: say so, rather than leave the user wondering why a decodable FER2013 is not found
    archives = sorted(
        {
            str(a)
            for f in folders
            if f.is_dir()
            for a in f.iterdir()
            if a.is_file() and a.name.lower().endswith(ARCHIVE_SUFFIXES)
        }
    )
    if archives:
        why += (
            f"Archives found but not opened: {archives}. FER+ reads the pixels from an extracted fer2013.csv or "
            "icml_face_data.csv only; extract it next to fer2013new.csv. An archive of the Kaggle image folders "
            "(train/, test/) cannot be used at all"
            + (
                ". "
                if kaggle
                else ": their Training_<id> file ids are not fer2013.csv row numbers, "
                "so FER+ rows cannot be aligned with them. "
            )
        )
    raise MissingDatasetError(
        missing_message(
            ctx.spec,
            ctx.raw_dir or ctx.root,
            f"FER+ labels need the FER2013 pixels: none of {names} found in "
            f"{[str(f) for f in dict.fromkeys(folders)]}. {why}",
        )
    )


def check_alignment(
    votes_table: pd.DataFrame, fer_usage: np.ndarray, fer_rows: np.ndarray, label_path: Path, pixels_path: Path
) -> None:
    n_fer = int(fer_rows.max()) + 1 if len(fer_rows) else 0
    if n_fer != len(votes_table):
        raise DecodeError(
            f"{label_path} has {len(votes_table)} rows but {pixels_path} has {n_fer}: FER+ must be paired with the "
            "original fer2013.csv (35,887 rows, original order)."
        )
    ferplus_usage = votes_table["Usage"].to_numpy()[fer_rows]
    mismatch = np.flatnonzero(ferplus_usage != fer_usage)
    if len(mismatch):
        first = int(fer_rows[mismatch[0]])
        raise DecodeError(
            f"{label_path}:{first + 2} says Usage {ferplus_usage[mismatch[0]]!r} but {pixels_path}:{first + 2} says "
            f"{fer_usage[mismatch[0]]!r} ({len(mismatch)} rows disagree): the two files are not aligned row by row. "
            "Use the original fer2013.csv in its original order."
        )


def majority_labels(table: pd.DataFrame, ctx: DecodeContext) -> np.ndarray:
    """Canonical label per row, '' for rows dropped (reason counted) or bad (already reported)."""
    votes = table[list(VOTE_COLUMNS)].to_numpy(dtype=np.int64)
    votes = np.where(votes <= 1, 0, votes)  # single votes are outliers (reference rule)
    total, top = votes.sum(axis=1), votes.max(axis=1)
    winner = votes.argmax(axis=1)
    majority = top * 2 > total  # strictly more than half; implies a unique winner
    out = np.full(len(table), "", dtype=object)
    usable = ~table["_bad_votes"].to_numpy()
    non_face = (table["Image name"] == "").to_numpy() & usable
    ctx.drop("FER+ non-face (empty image name)", int(non_face.sum()))
    no_majority = usable & ~non_face & ~majority
    ctx.drop("FER+ no majority after removing single votes", int(no_majority.sum()))
    candidates = usable & ~non_face & majority
    for k, column in enumerate(VOTE_COLUMNS):
        rows = candidates & (winner == k)
        if not rows.any():
            continue
        status, result = ctx.classify_label(column)
        if status == "ok":
            out[rows] = result
        elif status == "drop":
            ctx.drop(result, int(rows.sum()))
        else:
            for row in np.flatnonzero(rows):
                ctx.problem(LABEL_FILE, int(row) + 2, result)
    return out
