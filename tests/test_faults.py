"""Fault injection (issue 13): a killed training, a changed spec, odd config values, broken files.

Each test reproduces a way the pipeline used to print a number that was not what it claimed to be,
or to run a command nobody asked for.
"""

from __future__ import annotations

import json

import lightning as L
import pytest

from ferrepro.data.splits import make_split
from ferrepro.data.standard import load_decoded
from ferrepro.evaluation.evaluate import evaluate_run
from ferrepro.training.run import WORK_DIR, train_run


def _spec(**overrides):
    spec = {
        "paper": "majeed2025", "experiment": "lenet5", "dataset": "synthetic", "seed": 0,
        "model": "majeed2025.lenet5", "split": "subject", "init": "keras_glorot",
        "input": {"size": 48, "channels": "gray", "normalize": "per_image"},
        "optimizer": {"name": "adam", "lr": 0.001}, "lr_schedule": {"name": "none"},
        "batch_size": 16, "max_epochs": 4, "early_stopping": {"monitor": "val_loss", "patience": 5},
        "checkpoint_monitor": "val_acc", "augmentation": "majeed2025", "class_weights": False,
        "trainer": {"accelerator": "cpu", "devices": 1, "precision": "32-true", "num_workers": 0,
                    "deterministic": True, "threads": 1},
    }
    spec.update(overrides)
    return spec


class Killed(RuntimeError):
    """Stands in for SIGKILL: the process dies after an epoch's checkpoint is on disk."""


class KillDuringEpoch(L.Callback):
    """Dies at the end of 0-based epoch ``epoch``, before its checkpoint: the last one on disk is epoch-1's."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            raise Killed(f"killed during epoch {self.epoch + 1}")


@pytest.fixture(scope="module")
def split_csv(tiny_synthetic, tmp_path_factory):
    path = tmp_path_factory.mktemp("split") / "subject_seed0.csv"
    make_split(load_decoded(tiny_synthetic).samples, "subject", 0).to_csv(path, index=False)
    return path


def test_a_killed_training_resumes_and_ends_with_the_same_metrics_byte_for_byte(tiny_synthetic, split_csv, tmp_path):
    # Dropout, augmentation and shuffling all draw random numbers: a resume restores every generator.
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    train_run(_spec(), tiny_synthetic, split_csv, whole)
    evaluate_run(whole, tiny_synthetic, split_csv)

    with pytest.raises(Killed):
        train_run(_spec(), tiny_synthetic, split_csv, resumed, extra_callbacks=[KillDuringEpoch(2)])
    assert (resumed / WORK_DIR / "checkpoints" / "last.ckpt").exists(), "the interrupted run kept its checkpoint"
    summary = train_run(_spec(), tiny_synthetic, split_csv, resumed)
    evaluate_run(resumed, tiny_synthetic, split_csv)

    assert summary["resumed_from_epoch"] == 2
    assert (resumed / "metrics.json").read_bytes() == (whole / "metrics.json").read_bytes()
    assert (resumed / "history.csv").read_bytes() == (whole / "history.csv").read_bytes()
    assert json.loads((whole / "train_summary.json").read_text())["resumed_from_epoch"] is None


def test_an_interrupted_training_with_another_spec_starts_afresh_and_says_so(tiny_synthetic, split_csv, tmp_path,
                                                                             capsys):
    with pytest.raises(Killed):
        train_run(_spec(), tiny_synthetic, split_csv, tmp_path, extra_callbacks=[KillDuringEpoch(1)])
    summary = train_run(_spec(batch_size=8), tiny_synthetic, split_csv, tmp_path)
    assert summary["resumed_from_epoch"] is None and summary["epochs_run"] == 4
    assert "starting afresh" in capsys.readouterr().out
