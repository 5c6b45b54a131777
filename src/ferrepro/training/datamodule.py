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
    """Model-ready arrays of one split: x (N x C x H x W float32), y (N int64), sample ids."""

    def __init__(self, x: np.ndarray, y: np.ndarray, sample_ids: np.ndarray):
        self.x, self.y, self.sample_ids = x, y, sample_ids


def load_split_arrays(decoded_dir: str | Path, split_csv: str | Path, input_spec: dict,
                      classes: tuple[str, ...]) -> dict[str, SplitArrays]:
    ds = load_decoded(decoded_dir)
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
        labels = ds.samples["label"].to_numpy()[rows]
        x = to_model_input(ds.images[rows], input_spec["size"], input_spec["channels"])
        out[name] = SplitArrays(x, encode(labels, classes), ids)
    return out


class FERDataModule(L.LightningDataModule):
    def __init__(self, decoded_dir: str, split_csv: str, input_spec: dict, batch_size: int,
                 label_set_name: str = "basic7", num_workers: int = 0, seed: int = 0):
        super().__init__()
        self.decoded_dir, self.split_csv = decoded_dir, split_csv
        self.input_spec, self.batch_size = input_spec, batch_size
        self.classes = label_set(label_set_name)
        self.num_workers, self.seed = num_workers, seed
        self.arrays: dict[str, SplitArrays] | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.arrays is None:
            self.arrays = load_split_arrays(self.decoded_dir, self.split_csv, self.input_spec, self.classes)
            empty = [k for k, v in self.arrays.items() if len(v.y) == 0]
            if empty:
                raise ValueError(f"{self.split_csv}: the {empty} split(s) are empty")

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        a = self.arrays[name]
        dataset = TensorDataset(torch.from_numpy(a.x), torch.from_numpy(a.y))
        # The shuffle order comes from its own generator seeded by the run seed, so it is reproducible
        # and independent of how many random numbers model initialisation consumed.
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=shuffle, generator=generator,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.arrays["train"].y, minlength=len(self.classes))
