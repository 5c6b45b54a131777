"""Integration: the real Snakemake workflow on a tiny config in a temp dir.

One module-scoped run (a few minutes on 2 cores) backs several checks: outputs and metrics, a second
dry run scheduling nothing, and a hyperparameter change rerunning only the affected jobs.
"""

from __future__ import annotations

import json
import re
import subprocess

import pandas as pd
import pytest
import yaml
from scipy.stats import binomtest

from conftest import copy_workflow

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("workflow")]


def snakemake(workdir, env, *args, check=True):
    proc = subprocess.run(["snakemake", *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def scheduled_jobs(proc) -> dict[str, int]:
    """Parse the 'Job stats' table of a dry run into {rule: count} (empty when nothing is to be done)."""
    text = proc.stdout + proc.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    jobs = {}
    for line in table.splitlines():
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if m and m.group(1) != "total":
            jobs[m.group(1)] = int(m.group(2))
    return jobs


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, venv_env):
    work = copy_workflow(tmp_path_factory.mktemp("workflow"))
    config = yaml.safe_load((work / "config" / "config.yaml").read_text())
    config["synthetic"] = {"n_subjects": 14, "images_per_subject_per_class": 5, "size": 48, "seed": 21}
    config["profiles"]["quick"]["overrides"] = {"max_epochs": 8, "early_stopping": {"patience": 8}, "batch_size": 32}
    config["features"]["datasets"] = ["synthetic"]
    config["trainer"]["threads"] = 1
    # A second paper (a one-experiment copy of majeed2025) to prove that changes stay within one paper.
    other = yaml.safe_load((work / "config" / "papers" / "majeed2025.yaml").read_text())
    other["paper"] = "other2025"
    # Two experiments that fuse the same cached HoG features (a tiny IA-FEN): the cache must be built once.
    tiny = {"model": "nauman2025.ia_fen", "batch_size": 32,
            "model_kwargs": {"widths": [8, 8, 16, 16], "blocks_per_stage": [1, 1, 1, 1], "hidden_units": 16}}
    other["experiments"] = {"lenet5": other["experiments"]["lenet5"],
                            "fusion_hog": dict(tiny, features=["hog"]),
                            "fusion_hog_landmarks": dict(tiny, features=["hog", "landmarks"])}
    (work / "config" / "papers" / "other2025.yaml").write_text(yaml.safe_dump(other))
    config["papers"] = ["majeed2025", "other2025"]
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake(work, venv_env, "--cores", "2")
    (work / "first_run.log").write_text(proc.stdout + proc.stderr)
    return work


def test_every_run_has_metrics_and_figures(workspace):
    runs = sorted((workspace / "results" / "runs").glob("*/*/*/seed*"))
    assert [str(r.relative_to(workspace / "results" / "runs")) for r in runs] == [
        "majeed2025/lenet5/synthetic/seed0", "majeed2025/proposed/synthetic/seed0",
        "other2025/fusion_hog/synthetic/seed0", "other2025/fusion_hog_landmarks/synthetic/seed0",
        "other2025/lenet5/synthetic/seed0"]
    for run in runs:
        for name in ("model.pt", "history.csv", "train_summary.json", "metrics.json", "predictions.parquet",
                     "confusion_matrix.png", "learning_curve.png"):
            assert (run / name).stat().st_size > 0, f"{run}/{name}"
    for feature in ("hog", "sliding_hog", "landmarks"):
        assert (workspace / "results" / "features" / "synthetic" / f"{feature}.npy").exists()


def test_each_feature_is_computed_once_for_all_consumers(workspace):
    log = (workspace / "first_run.log").read_text()
    assert log.count("output: results/features/synthetic/hog.npy") == 1
    consumers = [block for block in log.split("\n\n") if "rule train:" in block and "results/features/synthetic/hog.npy" in block]
    assert len(consumers) == 2


def test_models_beat_chance_on_synthetic(workspace):
    summary = pd.read_csv(workspace / "results" / "summary.csv")
    assert len(summary) == 5
    # The tiny fusion models only check the plumbing; the paper's two models must learn.
    for row in summary[~summary["experiment"].isin(["fusion_hog", "fusion_hog_landmarks"])].itertuples():
        correct = round(row.accuracy * row.n)
        p = binomtest(correct, row.n, 1 / 7, alternative="greater").pvalue
        assert p < 0.01, f"{row.paper}/{row.experiment}: accuracy {row.accuracy:.3f} on {row.n} is not above chance"
        assert row.accuracy < 0.999, "synthetic data must not be trivially separable"
    metrics = json.loads((workspace / "results" / "metrics.json").read_text())
    assert set(metrics) == {f"{r.paper}/{r.experiment}/synthetic/seed0" for r in summary.itertuples()}
    fused = json.loads((workspace / "results" / "runs" / "other2025" / "fusion_hog_landmarks" / "synthetic" / "seed0"
                        / "metrics.json").read_text())
    assert fused["n"] + len(fused["excluded_missing_features"]) == summary["n"].iloc[0]


def test_second_dry_run_schedules_nothing(workspace, venv_env):
    assert scheduled_jobs(snakemake(workspace, venv_env, "-n")) == {}


def test_lint_is_clean(workspace, venv_env):
    proc = snakemake(workspace, venv_env, "--lint", check=False)
    assert "Congratulations" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_hyperparameter_change_reruns_only_that_papers_jobs(workspace, venv_env):
    path = workspace / "config" / "papers" / "majeed2025.yaml"
    original = path.read_text()
    data = yaml.safe_load(original)
    data["experiments"]["lenet5"]["optimizer"] = {"name": "sgd", "lr": 0.05}
    try:
        path.write_text(yaml.safe_dump(data))
        jobs = scheduled_jobs(snakemake(workspace, venv_env, "-n"))
        # The file changed, so both majeed2025 runs are out of date; other2025 and the data are not.
        assert jobs == {"train": 2, "evaluate": 2, "summary": 1, "all": 1}
        text = snakemake(workspace, venv_env, "-n", "--printshellcmds").stdout
        commands = [line for line in text.splitlines() if re.search(r"ferrepro (train|evaluate) ", line)]
        assert len(commands) == 4 and all("--out results/runs/majeed2025/" in c or "--run results/runs/majeed2025/" in c
                                          for c in commands), commands
    finally:
        path.write_text(original)
