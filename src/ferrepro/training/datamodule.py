"""The LightningDataModule shared by every paper: the arrays of ``ferrepro.training.arrays`` as loaders.

``prepare_run_arrays`` (in ``ferrepro.training.arrays``) decides what a run's model sees; both training
and evaluation call it, so they cannot disagree. Images are converted once, at setup, from the
memory-mapped decoded array; training batches are then slices of an in-memory tensor.
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from ferrepro.labels import label_set
from ferrepro.runspec import RunSpec
from ferrepro.training.arrays import SplitArrays, prepare_run_arrays


class FERDataModule(L.LightningDataModule):
    def __init__(
        self,
        spec: RunSpec,
        decoded_dir: str,
        split_csv: str,
        feature_files: list[str] | None = None,
        landmarks_points: str | None = None,
    ):
        super().__init__()
        self.spec = spec
        self.decoded_dir, self.split_csv = decoded_dir, split_csv
        self.feature_files = list(feature_files or [])
        self.landmarks_points = landmarks_points
        self.batch_size = spec.batch_size
        self.classes = label_set(spec.label_set)
        self.num_workers = spec.trainer.num_workers
        self.seed = int(spec.seed)
        self.arrays: dict[str, SplitArrays] | None = None
        self.balance_report: dict = {}
        # The shuffle order comes from its own generator seeded by the run seed, so it is reproducible
        # and independent of how many random numbers model initialisation consumed. Its state is part
        # of every checkpoint (state_dict), so a resumed run shuffles its next epoch as an uninterrupted one.
        self.shuffle_generator = torch.Generator().manual_seed(self.seed)

    def state_dict(self) -> dict:
        return {"shuffle_generator": self.shuffle_generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.shuffle_generator.set_state(state["shuffle_generator"])

    def setup(self, stage: str | None = None) -> None:
        if self.arrays is None:
            self.arrays, self.balance_report = prepare_run_arrays(
                self.spec, self.decoded_dir, self.split_csv, self.feature_files, self.landmarks_points
            )
            empty = [k for k, v in self.arrays.items() if len(v.y) == 0]
            if empty:
                raise ValueError(f"{self.split_csv}: the {empty} split(s) are empty")

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        a = self.arrays[name]
        dataset = TensorDataset(*a.tensors())
        generator = self.shuffle_generator if shuffle else None
        # A last training batch of one sample breaks BatchNorm in training mode; drop only that case.
        drop_last = shuffle and len(a.y) % self.batch_size == 1
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            generator=generator,
            drop_last=drop_last,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    @property
    def feature_dim(self) -> int:
        f = self.arrays["train"].features
        return 0 if f is None else int(f.shape[1])

    @property
    def in_channels(self) -> int:
        return int(self.arrays["train"].x.shape[1])

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.arrays["train"].y, minlength=len(self.classes))
