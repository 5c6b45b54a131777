"""results/summary.{csv,md}: one row per trained run with its test accuracy and macro-F1."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

COLUMNS = ["paper", "experiment", "dataset", "seed", "model", "split", "accuracy", "macro_f1",
           "balanced_accuracy", "val_accuracy", "selected_epoch", "epochs_run", "n"]


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
    note = ("\nRuns on `synthetic` data check that the pipeline works; they are never compared with a paper's "
            "claims.\n")
    return "# Summary of trained runs\n\n" + header + body + note


def to_dvc_metrics(table: pd.DataFrame) -> dict:
    out: dict = {}
    for row in table.itertuples(index=False):
        key = f"{row.paper}/{row.experiment}/{row.dataset}/seed{row.seed}"
        out[key] = {"accuracy": row.accuracy, "macro_f1": row.macro_f1}
    return out


def cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="ferrepro summary", description=__doc__)
    p.add_argument("--metrics", nargs="+", required=True, help="metrics.json files")
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-md", required=True)
    p.add_argument("--out-json", help="nested {run: {metric: value}} for `dvc metrics show`")
    a = p.parse_args(argv)
    table = collect(a.metrics)
    table.to_csv(a.out_csv, index=False)
    Path(a.out_md).write_text(to_markdown(table))
    if a.out_json:
        Path(a.out_json).write_text(json.dumps(to_dvc_metrics(table), indent=2))
    print(to_markdown(table))
    return 0
