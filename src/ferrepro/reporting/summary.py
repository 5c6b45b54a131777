"""results/summary.{csv,md}: one row per trained run with its test accuracy and macro-F1.

For DVC, ``--metrics-dir results/metrics`` also writes one small flat file per run,
``<paper>/<experiment>/<dataset>/seed<k>.json``, so that ``dvc metrics show`` prints one row per run with a
few columns (a single nested file became one line of 150 columns).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
from pathlib import Path

import pandas as pd

COLUMNS = [
    "paper",
    "experiment",
    "dataset",
    "seed",
    "model",
    "split",
    "accuracy",
    "macro_f1",
    "balanced_accuracy",
    "val_accuracy",
    "selected_epoch",
    "epochs_run",
    "n",
]


def collect(metrics_files: list[str | Path]) -> pd.DataFrame:
    rows = []
    for path in metrics_files:
        m = json.loads(Path(path).read_text())
        rows.append({c: m.get(c) for c in COLUMNS})
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table.sort_values(["paper", "experiment", "dataset", "seed"]).reset_index(drop=True)


def to_markdown(table: pd.DataFrame) -> str:
    shown = table.copy()
    for c in ("accuracy", "macro_f1", "balanced_accuracy", "val_accuracy"):
        shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else f"{v:.4f}")
    header = "| " + " | ".join(shown.columns) + " |\n|" + "---|" * len(shown.columns) + "\n"
    body = "".join("| " + " | ".join(str(v) for v in row) + " |\n" for row in shown.itertuples(index=False))
    note = "\nRuns on `synthetic` data check that the pipeline works; they are never compared with a paper's claims.\n"
    return "# Summary of trained runs\n\n" + header + body + note


def to_dvc_metrics(table: pd.DataFrame) -> dict:
    out: dict = {}
    for row in table.itertuples(index=False):
        key = f"{row.paper}/{row.experiment}/{row.dataset}/seed{row.seed}"
        out[key] = {"accuracy": row.accuracy, "macro_f1": row.macro_f1}
    return out


# What `dvc metrics show` prints per run: few enough columns to read in a terminal.
DVC_METRIC_COLUMNS = ("accuracy", "macro_f1", "val_accuracy", "epochs_run")


def _plain(value):
    """A JSON value DVC can show: numpy scalars as Python numbers, NaN (no value) as null."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_dvc_metric_files(table: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """One flat JSON per run under ``out_dir`` (rewritten whole, so a run that left the matrix goes too)."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    written = []
    for row in table.to_dict("records"):
        path = out_dir / row["paper"] / row["experiment"] / row["dataset"] / f"seed{row['seed']}.json"
        if path in written:
            raise ValueError(
                f"two metrics files describe run {path.relative_to(out_dir).with_suffix('')}; "
                "pass each run's metrics.json once"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({c: _plain(row.get(c)) for c in DVC_METRIC_COLUMNS}, indent=2) + "\n")
        written.append(path)
    return written


def cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="ferrepro summary", description=__doc__)
    p.add_argument("--metrics", nargs="+", required=True, help="metrics.json files")
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-md", required=True)
    p.add_argument("--out-json", help="nested {run: {metric: value}}, all runs in one file")
    p.add_argument("--metrics-dir", help="folder of one small metrics file per run, for dvc metrics show")
    p.add_argument("--current-specs", help="folder of the current run specs (results/specs): refuse stale files")
    a = p.parse_args(argv)
    if a.current_specs:
        from ferrepro.reporting.runs import load_runs

        load_runs(a.metrics, a.current_specs)
    table = collect(a.metrics)
    table.to_csv(a.out_csv, index=False)
    Path(a.out_md).write_text(to_markdown(table))
    if a.out_json:
        Path(a.out_json).write_text(json.dumps(to_dvc_metrics(table), indent=2))
    if a.metrics_dir:
        write_dvc_metric_files(table, a.metrics_dir)
    print(to_markdown(table))
    return 0
