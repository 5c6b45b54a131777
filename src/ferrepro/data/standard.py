"""The standard decoded format that every dataset is turned into.

A decoded dataset is a folder holding:

- ``images.npy``: uint8 array N x H x W x C (C = 1 for grayscale, 3 for RGB), written with
  ``np.save`` so later rules open it with ``mmap_mode="r"`` and never re-parse the source;
- ``samples.csv``: one row per image, in the same order, with at least the columns in
  ``SAMPLE_COLUMNS`` (extra dataset-specific columns, e.g. KDEF's ``angle``, are allowed);
- ``decode_report.json``: counts (decoded, per label, per split, dropped/quarantined with reasons)
  so nothing is ever lost silently.

``split`` holds the dataset's *official* split (``train``/``val``/``test``) where one exists and is
empty otherwise; the split protocol actually used by an experiment lives in ``results/splits``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ferrepro.labels import ALL_LABELS
from ferrepro.provenance import file_sha256

SAMPLE_COLUMNS = ["sample_id", "label", "subject_id", "source_file", "split"]
OFFICIAL_SPLITS = {"train", "val", "test", ""}
IMAGES_FILE = "images.npy"
SAMPLES_FILE = "samples.csv"
REPORT_FILE = "decode_report.json"


class DecodedFormatError(ValueError):
    """A decoded dataset breaks the standard format."""


@dataclass
class DecodedDataset:
    images: np.ndarray  # N x H x W x C uint8, usually a read-only memmap
    samples: pd.DataFrame
    report: dict

    @property
    def n(self) -> int:
        return len(self.samples)


def validate(images: np.ndarray, samples: pd.DataFrame, where: str = "dataset") -> None:
    """Raise DecodedFormatError naming the first thing that breaks the format."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise DecodedFormatError(
            f"{where}: images must be uint8 N x H x W x C with C in (1, 3); got {images.dtype} {images.shape}"
        )
    missing = [c for c in SAMPLE_COLUMNS if c not in samples.columns]
    if missing:
        raise DecodedFormatError(f"{where}: samples table lacks columns {missing}")
    if len(samples) != len(images):
        raise DecodedFormatError(f"{where}: {len(samples)} sample rows but {len(images)} images")
    dup = samples["sample_id"][samples["sample_id"].duplicated()]
    if len(dup):
        raise DecodedFormatError(f"{where}: duplicated sample ids, e.g. {dup.iloc[:3].tolist()}")
    bad_labels = sorted(set(samples["label"]) - ALL_LABELS)
    if bad_labels:
        raise DecodedFormatError(f"{where}: labels {bad_labels} are not canonical ({sorted(ALL_LABELS)})")
    bad_splits = sorted(set(samples["split"].fillna("")) - OFFICIAL_SPLITS)
    if bad_splits:
        raise DecodedFormatError(f"{where}: split values {bad_splits} not in {sorted(OFFICIAL_SPLITS)}")


def write_decoded(out_dir: str | Path, images: np.ndarray, samples: pd.DataFrame, report: dict) -> Path:
    """Validate and write a decoded dataset; returns the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    samples = samples.reset_index(drop=True).copy()
    samples["subject_id"] = samples["subject_id"].fillna("").astype(str)
    samples["split"] = samples["split"].fillna("").astype(str)
    validate(images, samples, where=str(out))
    np.save(out / IMAGES_FILE, np.ascontiguousarray(images))
    samples.to_csv(out / SAMPLES_FILE, index=False)
    report = dict(report)
    report.setdefault("n_samples", int(len(samples)))
    report.setdefault("image_shape", list(images.shape[1:]))
    report.setdefault("per_label", samples["label"].value_counts().sort_index().to_dict())
    report.setdefault(
        "per_split_label",
        {s or "(none)": g["label"].value_counts().sort_index().to_dict() for s, g in samples.groupby("split")},
    )
    # Computed once here, so that every number a run reports can name the exact data it was measured on.
    report["sha256"] = {name: file_sha256(out / name) for name in (IMAGES_FILE, SAMPLES_FILE)}
    (out / REPORT_FILE).write_text(json.dumps(report, indent=2, sort_keys=True, default=int))
    return out


def data_digest(folder: str | Path) -> dict[str, str]:
    """{file: sha256} of a decoded dataset's images.npy and samples.csv, as recorded at decode time.

    A folder decoded before digests were recorded is hashed now (and said so by the key ``computed``).
    """
    folder = Path(folder)
    report_path = folder / REPORT_FILE
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    if report.get("sha256"):
        return dict(report["sha256"])
    return {**{name: file_sha256(folder / name) for name in (IMAGES_FILE, SAMPLES_FILE)}, "computed": "after decoding"}


def load_decoded(folder: str | Path, mmap: bool = True) -> DecodedDataset:
    """Open a decoded dataset; images are memory-mapped read-only by default."""
    folder = Path(folder)
    for name in (IMAGES_FILE, SAMPLES_FILE):
        if not (folder / name).exists():
            raise FileNotFoundError(
                f"{folder / name} is missing: decode the dataset first (snakemake results/decoded/<dataset>/{name})"
            )
    images = np.load(folder / IMAGES_FILE, mmap_mode="r" if mmap else None)
    samples = pd.read_csv(folder / SAMPLES_FILE, dtype={"subject_id": str, "split": str}, keep_default_na=False)
    report_path = folder / REPORT_FILE
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    validate(images, samples, where=str(folder))
    return DecodedDataset(images=images, samples=samples, report=report)
