"""results/plots/: every run's learning curve and confusion matrix, as PNG images, laid out for ``dvc plots``.

dvc.yaml's top-level ``plots:`` name these two folders; DVC expands a folder into one plot per
file, so every run of every paper is plotted without dvc.yaml naming a single run:

* ``learning_curves/<paper>/<experiment>/<dataset>/seed<k>.png``: the run's learning_curve.png;
* ``confusion_matrices/<paper>/<experiment>/<dataset>/seed<k>.png``: the run's confusion_matrix.png
  (counts and row-normalised).

Only images: DVC draws CSV data with Vega-Lite, whose scripts its HTML page loads from a CDN, so those
plots were blank offline; an image is embedded in the page and renders anywhere.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

# folder under results/plots -> the run's figure copied into it
FIGURES = {"learning_curves": "learning_curve.png", "confusion_matrices": "confusion_matrix.png"}
FOLDERS = tuple(FIGURES)


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
        for folder, figure in FIGURES.items():
            shutil.copyfile(run_dir / figure, out / folder / key.with_suffix(".png"))
    return len(run_dirs)


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="ferrepro plot-data",
        description="Copy every run's learning curve and confusion matrix into "
        "results/plots/, where dvc plots finds them.",
    )
    parser.add_argument("--runs", nargs="*", default=[], help="run folders")
    parser.add_argument("--out", required=True)
    parser.add_argument("--current-specs", help="folder of the current run specs (results/specs): refuse stale runs")
    args = parser.parse_args(argv)
    if args.current_specs:
        from ferrepro.reporting.runs import load_runs

        load_runs([Path(run) / "metrics.json" for run in args.runs], args.current_specs)
    print(f"plot data of {write_plot_data(args.runs, args.out)} runs in {args.out}")
    return 0
