"""Training progress: one log line per epoch, the progress bar only on a terminal, no repeated Lightning noise."""

from __future__ import annotations

import io
import logging
import re
import warnings

import pandas as pd
import pytest

from ferrepro.runspec import RunSpec
from ferrepro.training.progress import LOG_DIR, epoch_line, format_duration, show_progress_bar
from ferrepro.training.run import train_run

LINE = re.compile(
    r"^ferrepro train: epoch (\d+)/(\d+)  train loss \d+\.\d{4} acc \d\.\d{3}  "
    r"val loss \d+\.\d{4} acc \d\.\d{3}  lr \d\.\d\de[-+]\d\d  \d+\.\d s  ETA \S+$"
)


def test_epoch_line_has_every_field_and_an_eta_from_the_mean_epoch_time():
    metrics = {"train_loss": 1.74213, "train_acc": 0.3125, "val_loss": 1.698, "val_acc": 0.3549}
    line = epoch_line(3, 150, metrics, 1e-3, 12.43, mean_seconds=12.5)
    assert line == (
        "ferrepro train: epoch 3/150  train loss 1.7421 acc 0.312  val loss 1.6980 acc 0.355  "
        "lr 1.00e-03  12.4 s  ETA 30m38s"
    )  # 147 epochs left x 12.5 s = 1838 s
    assert LINE.match(line)


def test_epoch_line_says_na_for_a_missing_metric():
    line = epoch_line(1, 2, {"train_loss": 2.0, "train_acc": 0.1, "val_loss": float("nan")}, None, 1.0, 1.0)
    assert "val loss n/a acc n/a" in line and "lr n/a" in line and line.endswith("ETA 1s")


@pytest.mark.parametrize("seconds,text", [(0, "0s"), (42.4, "42s"), (303, "5m03s"), (7620, "2h07m")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal():
    assert show_progress_bar(_Tty()) is True
    assert show_progress_bar(io.StringIO()) is False  # a log file: Snakemake's log: redirection
    closed = io.StringIO()
    closed.close()
    assert show_progress_bar(closed) is False


def _spec(max_epochs: int) -> RunSpec:
    spec = {
        "paper": "majeed2025",
        "experiment": "lenet5",
        "dataset": "synthetic",
        "seed": 0,
        "model": "majeed2025.lenet5",
        "split": "subject",
        "input": {"size": 48, "channels": "gray", "normalize": "per_image"},
        "optimizer": {"name": "adam", "lr": 0.001},
        "lr_schedule": {"name": "none"},
        "batch_size": 32,
        "max_epochs": max_epochs,
        "early_stopping": {"monitor": "val_loss", "patience": 5},
        "checkpoint_monitor": "val_acc",
        "augmentation": "majeed2025",
        "class_weights": False,
        "trainer": {
            "accelerator": "cpu",
            "devices": 1,
            "precision": "32-true",
            "num_workers": 0,
            "deterministic": True,
            "threads": 1,
        },
    }
    return RunSpec.from_dict(spec, "test_progress._spec")


def test_a_training_logs_one_line_per_epoch_and_no_repeated_lightning_noise(
    tiny_synthetic, split_csv, tmp_path, capsys, caplog
):
    """Seen: each train log held only three Lightning messages (repeated in all runs) and no epoch at all."""
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.INFO):
        warnings.simplefilter("always")
        summary = train_run(_spec(3), tiny_synthetic, split_csv, tmp_path)
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("ferrepro train: epoch")]
    assert len(lines) == summary["epochs_run"] == 3
    assert all(LINE.match(line) for line in lines), lines
    assert [LINE.match(line).groups() for line in lines] == [("1", "3"), ("2", "3"), ("3", "3")]

    history = pd.read_csv(tmp_path / "history.csv")
    last = history.iloc[-1]
    assert (
        f"train loss {last['train_loss']:.4f} acc {last['train_acc']:.3f}  "
        f"val loss {last['val_loss']:.4f} acc {last['val_acc']:.3f}" in lines[-1]
    )

    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "on_after_batch_transfer" in m or "LeafSpec" in m], messages
    assert not [r for r in caplog.records if r.getMessage().startswith("💡 Tip")]
    # Lightning's own CSV log is kept in the run folder.
    kept = pd.read_csv(tmp_path / LOG_DIR / "metrics.csv")
    assert {"train_loss", "val_acc", "epoch"} <= set(kept.columns) and kept["epoch"].max() == 2


PRIORITIES_SCRIPT = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import OutputSettings, ResourceSettings

work = Path(sys.argv[1])
with SnakemakeApi(OutputSettings()) as api:
    workflow = api.workflow(resource_settings=ResourceSettings(), snakefile=work / "Snakefile", workdir=work)
    print("PRIORITIES=" + json.dumps({r.name: r.priority for r in workflow._workflow.rules}))
"""


def test_efficiency_jobs_yield_to_every_other_job(tmp_path, venv_env):
    """Seen: the five efficiency jobs, each holding every core, ran first; the first training began ~8 min in."""
    import json
    import subprocess
    import sys

    from conftest import copy_workflow

    work = copy_workflow(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", PRIORITIES_SCRIPT, str(work)],
        cwd=work,
        env=venv_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("PRIORITIES=")), None)
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    priorities = json.loads(line.removeprefix("PRIORITIES="))
    others = {name: p for name, p in priorities.items() if name != "efficiency"}
    assert priorities["efficiency"] < min(others.values()), priorities
