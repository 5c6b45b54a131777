"""Per-class precision, recall and F1 per paper and dataset (the papers' per-class tables), from metrics.json.

``results/per_class.{csv,md,html}``: for every paper, training dataset and test dataset, one row per
experiment and class with the mean over runs (seeds, folds) of the class's precision, recall and F1 from
each run's ``per_class`` entry (ferrepro.evaluation.metrics), and the test images of the class summed over
the runs. A class without a single test image in any run shows ``n/a``, never 0: nothing measured it.
Tables built from synthetic data say so in their title.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from ferrepro.reporting.tables import Section, fmt, synthetic_title, write_sections

COLUMNS = ["paper", "trained on", "tested on", "experiment", "class", "precision", "recall", "F1", "support", "runs"]
NA = "n/a"
LEAD = (
    "Per-class precision, recall and F1 on the test split: mean over runs (seeds, folds) of each run's value; "
    "support: test images of the class over all runs; n/a: the class has no test image here."
)


def per_class_rows(runs) -> pd.DataFrame:
    """One row per (paper, trained on, tested on, experiment, class), in the runs' class order."""
    groups: dict[tuple, list] = {}
    for run in runs:
        groups.setdefault((run.paper, run.dataset, run.eval_dataset, run.group), []).append(run)
    records = []
    for (paper, dataset, eval_dataset, group), members in sorted(groups.items()):
        for name in members[0].classes:
            entries = [(r.metrics.get("per_class") or {}).get(name) for r in members]
            scored = [e for e in entries if e and e.get("support", 0) > 0]
            support = sum(int(e.get("support", 0)) for e in entries if e)
            values = {
                k: fmt(float(np.mean([e[k] for e in scored]))) if scored else NA for k in ("precision", "recall", "f1")
            }
            records.append(
                {
                    "paper": paper,
                    "trained on": dataset,
                    "tested on": eval_dataset,
                    "experiment": group,
                    "class": name,
                    "precision": values["precision"],
                    "recall": values["recall"],
                    "F1": values["f1"],
                    "support": support,
                    "runs": len(members),
                    "_synthetic": any(r.synthetic for r in members),
                }
            )
    return pd.DataFrame(records, columns=COLUMNS + ["_synthetic"])


def per_class_sections(table: pd.DataFrame) -> list[Section]:
    sections = []
    for (paper, dataset, eval_dataset), rows in table.groupby(["paper", "trained on", "tested on"], sort=False):
        where = (
            f"trained and tested on {dataset}"
            if dataset == eval_dataset
            else f"trained on {dataset}, tested on {eval_dataset}"
        )
        title = synthetic_title(f"{paper}: per-class P/R/F1, {where}", bool(rows["_synthetic"].any()))
        sections.append(
            Section(
                title,
                rows[["experiment", "class", "precision", "recall", "F1", "support", "runs"]],
                table_id=f"per-class-{paper}-{dataset}-{eval_dataset}",
            )
        )
    return sections


def write_per_class(table: pd.DataFrame, csv: str | Path, md: str | Path, html_path: str | Path | None = None) -> None:
    synthetic = bool(table["_synthetic"].any())
    Path(csv).parent.mkdir(parents=True, exist_ok=True)
    table.rename(columns={"_synthetic": "synthetic"}).to_csv(csv, index=False)
    lead = LEAD if len(table) else "No evaluated run in this workspace."
    write_sections(
        synthetic_title("Per-class precision, recall and F1", synthetic),
        lead,
        per_class_sections(table),
        md,
        html_path,
        page_id="per-class",
    )


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ferrepro per-class", description=__doc__.split("\n\n")[0])
    parser.add_argument("--metrics", nargs="*", default=[], help="metrics.json files (in-domain and cross-dataset)")
    parser.add_argument("--current-specs", help="folder of the current run specs (results/specs): refuse stale files")
    parser.add_argument("--out-csv", required=True)
    parser.add_argument("--out-md", required=True)
    parser.add_argument("--out-html")
    args = parser.parse_args(argv)
    from ferrepro.reporting.runs import load_runs

    table = per_class_rows(load_runs(args.metrics, args.current_specs))
    write_per_class(table, args.out_csv, args.out_md, args.out_html)
    print(f"{len(table)} per-class rows")
    return 0
