"""Read evaluated runs back: metrics.json, predictions.parquet and train_summary.json of each.

Every reporting command (experiments, claims, comparisons, robustness tables) goes through here, so
there is one reading of the metrics contract and one place that says what is wrong with a file:

* ``group`` is the paper-config experiment whose claims a run answers (``experiment`` may be
  ``<group>-fold<k>`` for a cross-validation fold); absent in older files, it falls back to
  ``experiment``;
* ``eval_dataset`` is the dataset the run was tested on (``dataset`` is the one it was trained on);
  absent, it falls back to ``dataset`` (in-domain);
* ``fold`` is an int or null.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SYNTHETIC = "synthetic"
REQUIRED_KEYS = ("paper", "experiment", "dataset", "seed", "accuracy", "n", "classes", "confusion_matrix")


class RunFileError(ValueError):
    """A run's metrics or predictions are missing or malformed; the message names the file."""


@dataclass
class EvaluatedRun:
    """One evaluation of one trained model on one test set."""

    metrics_path: Path
    metrics: dict[str, Any]
    _predictions: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def folder(self) -> Path:
        return self.metrics_path.parent

    @property
    def paper(self) -> str:
        return str(self.metrics["paper"])

    @property
    def experiment(self) -> str:
        return str(self.metrics["experiment"])

    @property
    def group(self) -> str:
        return str(self.metrics.get("group") or self.metrics["experiment"])

    @property
    def fold(self) -> int | None:
        fold = self.metrics.get("fold")
        return None if fold is None else int(fold)

    @property
    def dataset(self) -> str:
        return str(self.metrics["dataset"])

    @property
    def eval_dataset(self) -> str:
        return str(self.metrics.get("eval_dataset") or self.metrics["dataset"])

    @property
    def seed(self) -> int:
        return int(self.metrics["seed"])

    @property
    def synthetic(self) -> bool:
        # Trained or tested on synthetic data: either way the number says nothing about a paper's claim.
        return bool(self.metrics.get("synthetic")) or SYNTHETIC in (self.dataset, self.eval_dataset)

    @property
    def leaky(self) -> bool:
        return bool(self.metrics.get("leaky", False))

    @property
    def classes(self) -> list[str]:
        return list(self.metrics["classes"])

    @property
    def predictions(self) -> pd.DataFrame:
        """predictions.parquet beside metrics.json, checked against it (same samples, known labels)."""
        if self._predictions is None:
            self._predictions = read_predictions(
                self.folder / "predictions.parquet", self.classes, int(self.metrics["n"])
            )
        return self._predictions

    def outcomes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sample_id, true class index, predicted class index), in file order."""
        table = self.predictions
        index = {name: i for i, name in enumerate(self.classes)}
        return (
            table["sample_id"].astype(str).to_numpy(),
            table["true_label"].map(index).to_numpy(np.int64),
            table["predicted_label"].map(index).to_numpy(np.int64),
        )

    def train_summary(self) -> dict[str, Any]:
        """train_summary.json of the trained model (for a cross-dataset evaluation: the run folder above it)."""
        for folder in (self.folder, *self.folder.parents[:3]):
            path = folder / "train_summary.json"
            if path.exists():
                return json.loads(path.read_text())
        raise RunFileError(f"{self.metrics_path}: no train_summary.json beside it or in the run folder above it")


def read_predictions(path: Path, classes: list[str], n: int) -> pd.DataFrame:
    if not path.exists():
        raise RunFileError(
            f"{path} is missing; every metrics.json needs its predictions.parquet (rerun the evaluate rule)"
        )
    table = pd.read_parquet(path)
    missing = {"sample_id", "true_label", "predicted_label"} - set(table.columns)
    if missing:
        raise RunFileError(f"{path}: missing columns {sorted(missing)}")
    if len(table) != n:
        raise RunFileError(
            f"{path}: {len(table)} rows but metrics.json says n = {n}; the two are from different evaluations"
        )
    unknown = sorted((set(table["true_label"]) | set(table["predicted_label"])) - set(classes))
    if unknown:
        raise RunFileError(f"{path}: labels {unknown} are not among the run's classes {classes}")
    duplicated = table["sample_id"].astype(str).duplicated()
    if duplicated.any():
        raise RunFileError(f"{path}: sample ids occur twice, e.g. {table.loc[duplicated, 'sample_id'].iloc[0]!r}")
    return table


def load_run(path: str | Path) -> EvaluatedRun:
    path = Path(path)
    if not path.exists():
        raise RunFileError(f"{path} does not exist")
    try:
        metrics = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise RunFileError(f"{path}: not valid JSON ({error})") from None
    missing = [key for key in REQUIRED_KEYS if key not in metrics]
    if missing:
        raise RunFileError(f"{path}: missing keys {missing}")
    return EvaluatedRun(path, metrics)


def check_current(run: EvaluatedRun, current_specs: str | Path) -> None:
    """Refuse a run's files unless they carry the digest of the run's current spec (results/specs/...).

    This is what keeps a table from reporting a number of an old setting: a training killed after a
    config change, a metrics file left from an earlier spec, a pulled workspace whose config moved on.
    """
    key = f"{run.paper}/{run.experiment}/{run.dataset}/seed{run.seed}"
    spec_file = Path(current_specs) / f"{key}.json"
    rebuild = f"rebuild it with `snakemake {run.metrics_path.as_posix()}`"
    if not spec_file.exists():
        raise RunFileError(
            f"{run.metrics_path}: run {key} is not in the current run matrix (no {spec_file}); "
            "remove the file or name the config that makes this run"
        )
    current = json.loads(spec_file.read_text())["spec_digest"]
    recorded = (run.metrics.get("provenance") or {}).get("spec_digest")
    trained = run.train_summary().get("spec_digest")
    if recorded != current or trained != current:
        raise RunFileError(
            f"{run.metrics_path}: stale: made for spec {recorded or '(none recorded)'} (trained for "
            f"{trained or '(none recorded)'}), but run {key}'s current spec is {current}; {rebuild}"
        )


def load_runs(paths: list[str | Path], current_specs: str | Path | None = None) -> list[EvaluatedRun]:
    """Read metrics files; with ``current_specs`` (the workflow's results/specs) refuse any stale one."""
    runs = [load_run(p) for p in paths]
    if current_specs is not None:
        for run in runs:
            check_current(run, current_specs)
    seen: dict[tuple, Path] = {}
    for run in runs:
        key = (run.paper, run.experiment, run.dataset, run.eval_dataset, run.seed)
        if key in seen:
            raise RunFileError(f"{run.metrics_path} and {seen[key]} are the same evaluation {key}")
        seen[key] = run.metrics_path
    return runs
