"""results/plots/: every run's learning curve, predictions and confusion-matrix image, laid out for ``dvc plots``.

dvc.yaml's top-level ``plots:`` name these three folders; DVC expands a folder into one plot per
file, so every run of every paper is plotted without dvc.yaml naming a single run:

* ``learning_curves/<paper>/<experiment>/<dataset>/seed<k>.csv``: the run's history.csv
  (epoch, train/val loss and accuracy; ``template: linear``);
* ``predictions/<paper>/<experiment>/<dataset>/seed<k>.csv``: true and predicted label per test
  sample (``template: confusion``, which DVC draws as a confusion matrix);
* ``confusion_matrices/<paper>/<experiment>/<dataset>/seed<k>.png``: the run's own figure (counts
  and row-normalised).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pandas as pd

FOLDERS = ("learning_curves", "predictions", "confusion_matrices")


def run_key(run_dir: Path) -> Path:
    """results/runs/<paper>/<experiment>/<dataset>/seed<k> -> <paper>/<experiment>/<dataset>/seed<k>."""
    parts = run_dir.parts
    if len(parts) < 4 or not parts[-1].startswith("seed"):
        raise ValueError(f"{run_dir} is not a run folder (results/runs/<paper>/<experiment>/<dataset>/seed<k>)")
    return Path(*parts[-4:])


def write_plot_data(run_dirs: list[str | Path], out: str | Path) -> int:
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)  # a run that left the matrix must not linger in the plots
    for folder in FOLDERS:
        (out / folder).mkdir(parents=True, exist_ok=True)
    for run_dir in map(Path, run_dirs):
        key = run_key(run_dir)
        for folder in FOLDERS:
            (out / folder / key).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run_dir / "history.csv", out / "learning_curves" / key.with_suffix(".csv"))
        predictions = pd.read_parquet(run_dir / "predictions.parquet", columns=["sample_id", "true_label", "predicted_label"])
        predictions.to_csv(out / "predictions" / key.with_suffix(".csv"), index=False)
        shutil.copyfile(run_dir / "confusion_matrix.png", out / "confusion_matrices" / key.with_suffix(".png"))
    return len(run_dirs)


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ferrepro plot-data", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="*", default=[], help="run folders")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    print(f"plot data of {write_plot_data(args.runs, args.out)} runs in {args.out}")
    return 0
