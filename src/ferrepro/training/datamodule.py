"""The LightningDataModule shared by every paper: decoded dataset + split list -> tensors.

Images are converted to the model's input once, at setup, from the memory-mapped decoded array;
training batches are then slices of an in-memory tensor. Only the rows of the split list are
loaded, and the split a sample belongs to comes from the split list alone.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from ferrepro.data.splits import SPLITS, read_split
from ferrepro.data.standard import load_decoded
from ferrepro.labels import encode, label_set
from ferrepro.training.inputs import to_model_input


class SplitArrays:
    """Model-ready arrays of one split: x (N x C x H x W float32), y (N int64), sample ids, and the
    handcrafted feature matrix (N x D float32) when the run fuses features, else None.

    ``excluded`` lists the samples left out because a feature row is missing (NaN: e.g. no face for the
    landmark detector). They are never imputed; the count is reported in the run's summary and metrics.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, sample_ids: np.ndarray,
                 features: np.ndarray | None = None, excluded: list[str] | None = None):
        self.x, self.y, self.sample_ids, self.features = x, y, sample_ids, features
        self.excluded = excluded or []

    def tensors(self) -> tuple:
        parts = [torch.from_numpy(self.x)]
        if self.features is not None:
            parts.append(torch.from_numpy(self.features))
        return (*parts, torch.from_numpy(self.y))


def load_feature_matrix(feature_files: list[str | Path], n_samples: int) -> np.ndarray | None:
    """Concatenate cached feature arrays (each N x D_i, rows in decoded order) into N x sum(D_i)."""
    if not feature_files:
        return None
    arrays = []
    for path in feature_files:
        a = np.load(path, mmap_mode="r")
        if a.ndim != 2 or len(a) != n_samples:
            raise ValueError(f"{path}: expected {n_samples} x D features (one row per decoded sample), got {a.shape}; "
                             "the feature cache is stale: rerun its features rule")
        arrays.append(a)
    return np.concatenate([np.asarray(a, dtype=np.float32) for a in arrays], axis=1)


def load_split_arrays(decoded_dir: str | Path, split_csv: str | Path, input_spec: dict,
                      classes: tuple[str, ...], feature_files: list[str | Path] | None = None) -> dict[str, SplitArrays]:
    ds = load_decoded(decoded_dir)
    features = load_feature_matrix(list(feature_files or []), ds.n)
    split = read_split(split_csv)
    position = {sid: i for i, sid in enumerate(ds.samples["sample_id"].astype(str))}
    unknown = [sid for sid in split["sample_id"] if sid not in position]
    if unknown:
        raise ValueError(f"{split_csv}: {len(unknown)} sample ids are not in {decoded_dir}, e.g. {unknown[:3]}; "
                         "the split list is stale: delete it and rerun the split rule")
    out = {}
    for name in SPLITS:
        ids = split.loc[split["split"] == name, "sample_id"].to_numpy()
        rows = np.array([position[s] for s in ids], dtype=np.int64)
        excluded: list[str] = []
        f = None
        if features is not None:
            complete = ~np.isnan(features[rows]).any(axis=1)
            excluded = [str(s) for s in ids[~complete]]
            rows, ids = rows[complete], ids[complete]
            f = features[rows]
        labels = ds.samples["label"].to_numpy()[rows]
        x = to_model_input(ds.images[rows], input_spec["size"], input_spec["channels"])
        out[name] = SplitArrays(x, encode(labels, classes), ids, f, excluded)
    return out


class FERDataModule(L.LightningDataModule):
    def __init__(self, decoded_dir: str, split_csv: str, input_spec: dict, batch_size: int,
                 label_set_name: str = "basic7", num_workers: int = 0, seed: int = 0,
                 feature_files: list[str] | None = None):
        super().__init__()
        self.decoded_dir, self.split_csv = decoded_dir, split_csv
        self.feature_files = list(feature_files or [])
        self.input_spec, self.batch_size = input_spec, batch_size
        self.classes = label_set(label_set_name)
        self.num_workers, self.seed = num_workers, seed
        self.arrays: dict[str, SplitArrays] | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.arrays is None:
            self.arrays = load_split_arrays(self.decoded_dir, self.split_csv, self.input_spec, self.classes,
                                            self.feature_files)
            empty = [k for k, v in self.arrays.items() if len(v.y) == 0]
            if empty:
                raise ValueError(f"{self.split_csv}: the {empty} split(s) are empty")

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        a = self.arrays[name]
        dataset = TensorDataset(*a.tensors())
        # The shuffle order comes from its own generator seeded by the run seed, so it is reproducible
        # and independent of how many random numbers model initialisation consumed.
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        # A last training batch of one sample breaks BatchNorm in training mode; drop only that case.
        drop_last = shuffle and len(a.y) % self.batch_size == 1
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=shuffle, generator=generator, drop_last=drop_last,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    @property
    def feature_dim(self) -> int:
        f = self.arrays["train"].features
        return 0 if f is None else int(f.shape[1])

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.arrays["train"].y, minlength=len(self.classes))
