"""Integration: the real Snakemake workflow on a tiny config in a temp dir.

One module-scoped run (a few minutes on 2 cores) backs several checks: outputs and metrics, a second
dry run scheduling nothing, and a hyperparameter change rerunning only the affected jobs.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import yaml
from conftest import copy_workflow, run_checked
from scipy.stats import binomtest

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("workflow")]


def snakemake(workdir, env, *args, check=True):
    return run_checked(["snakemake", *args], workdir, env, check=check)


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
    config["synthetic_shift"] = {"n_subjects": 4, "images_per_subject_per_class": 3, "size": 64, "seed": 22}
    config["presets"]["quick"]["overrides"] = {"max_epochs": 8, "early_stopping": {"patience": 8}, "batch_size": 32}
    config["presets"]["quick"]["max_folds"] = 1
    config["features"]["datasets"] = ["synthetic"]
    config["trainer"]["threads"] = 1
    # A second paper (a one-experiment copy of majeed2025) to prove that changes stay within one paper.
    majeed = yaml.safe_load((work / "config" / "papers" / "majeed2025.yaml").read_text())
    # Its Keras-SGD reading equals `proposed` on synthetic data (the quick preset sets the optimiser): not rerun.
    majeed["experiments"].pop("proposed_keras_sgd")
    (work / "config" / "papers" / "majeed2025.yaml").write_text(yaml.safe_dump(majeed, sort_keys=False))
    other = yaml.safe_load((work / "config" / "papers" / "majeed2025.yaml").read_text())
    other["paper"] = "other2025"
    # Two experiments that fuse the same cached HoG features (a tiny IA-FEN): the cache must be built once.
    tiny = {
        "model": "nauman2025.ia_fen",
        "batch_size": 32,
        "model_kwargs": {"widths": [8, 8, 16, 16], "blocks_per_stage": [1, 1, 1, 1], "hidden_units": 16},
    }
    # A cross-validated experiment (fold 0 only in the quick preset) to prove the fold expansion end to end.
    lenet5_cv = dict(other["experiments"]["lenet5"], split="subject_k3", folds="all")
    other["experiments"] = {
        "lenet5": other["experiments"]["lenet5"],
        "lenet5_cv": lenet5_cv,
        "fusion_hog": dict(tiny, features=["hog"]),
        "fusion_hog_landmarks": dict(tiny, features=["hog", "landmarks"]),
    }
    other.pop("comparisons", None)  # its ablation pairs name experiments dropped above
    (work / "config" / "papers" / "other2025.yaml").write_text(yaml.safe_dump(other))
    config["papers"] = ["majeed2025", "other2025"]
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake(work, venv_env, "--cores", "2")
    (work / "first_run.log").write_text(proc.stdout + proc.stderr)
    return work


def test_every_run_has_metrics_and_figures(workspace):
    runs = sorted((workspace / "results" / "runs").glob("*/*/*/seed*"))
    assert [str(r.relative_to(workspace / "results" / "runs")) for r in runs] == [
        "majeed2025/lenet5/synthetic/seed0",
        "majeed2025/lu2024/synthetic/seed0",
        "majeed2025/proposed/synthetic/seed0",
        "other2025/fusion_hog/synthetic/seed0",
        "other2025/fusion_hog_landmarks/synthetic/seed0",
        "other2025/lenet5/synthetic/seed0",
        "other2025/lenet5_cv-fold0/synthetic/seed0",
    ]
    for run in runs:
        for name in (
            "model.pt",
            "history.csv",
            "train_summary.json",
            "metrics.json",
            "predictions.parquet",
            "confusion_matrix.png",
            "learning_curve.png",
        ):
            assert (run / name).stat().st_size > 0, f"{run}/{name}"
    for feature in ("hog", "sliding_hog", "landmarks"):
        assert (workspace / "results" / "features" / "synthetic" / f"{feature}.npy").exists()


def test_each_feature_is_computed_once_for_all_consumers(workspace):
    log = (workspace / "first_run.log").read_text()
    assert log.count("output: results/features/synthetic/hog.npy") == 1
    consumers = [
        block for block in log.split("\n\n") if "rule train:" in block and "results/features/synthetic/hog.npy" in block
    ]
    assert len(consumers) == 2


def test_models_beat_chance_on_synthetic(workspace):
    summary = pd.read_csv(workspace / "results" / "summary.csv")
    assert len(summary) == 7
    # The tiny fusion models and our reading of Lu et al. (a slower-starting global-pooling network) only
    # check the plumbing in 8 epochs; the paper's own model and its LeNet-5 baseline must learn.
    plumbing_only = ["fusion_hog", "fusion_hog_landmarks", "lu2024"]
    for row in summary[~summary["experiment"].isin(plumbing_only)].itertuples():
        correct = round(row.accuracy * row.n)
        p = binomtest(correct, row.n, 1 / 7, alternative="greater").pvalue
        assert p < 0.01, f"{row.paper}/{row.experiment}: accuracy {row.accuracy:.3f} on {row.n} is not above chance"
        assert row.accuracy < 0.999, "synthetic data must not be trivially separable"
    metrics = json.loads((workspace / "results" / "metrics.json").read_text())
    assert set(metrics) == {f"{r.paper}/{r.experiment}/synthetic/seed0" for r in summary.itertuples()}
    fused = json.loads(
        (
            workspace
            / "results"
            / "runs"
            / "other2025"
            / "fusion_hog_landmarks"
            / "synthetic"
            / "seed0"
            / "metrics.json"
        ).read_text()
    )
    assert fused["n"] + len(fused["excluded_missing_features"]) == summary["n"].iloc[0]


def test_fold_run_uses_its_fold_split_and_names_its_group(workspace):
    metrics = json.loads(
        (
            workspace / "results" / "runs" / "other2025" / "lenet5_cv-fold0" / "synthetic" / "seed0" / "metrics.json"
        ).read_text()
    )
    assert (metrics["group"], metrics["fold"], metrics["split"]) == ("lenet5_cv", 0, "subject_k3_fold0")
    assert metrics["max_epochs"] == 8 and metrics["stopped_early"] is (metrics["epochs_run"] < 8)
    split = pd.read_csv(workspace / "results" / "splits" / "synthetic" / "subject_k3_fold0_seed0.csv")
    samples = pd.read_csv(workspace / "results" / "decoded" / "synthetic" / "samples.csv").merge(split, on="sample_id")
    by_split = samples.groupby("split_y" if "split_y" in samples else "split")["subject_id"].apply(set)
    assert not (by_split["train"] & by_split["test"]) and not (by_split["val"] & by_split["test"])


def test_cross_dataset_evaluation_tests_on_the_shifted_domain(workspace):
    run = workspace / "results" / "runs" / "majeed2025" / "proposed" / "synthetic" / "seed0"
    cross = json.loads((run / "cross" / "synthetic_shift" / "metrics.json").read_text())
    shifted = pd.read_csv(workspace / "results" / "decoded" / "synthetic_shift" / "samples.csv")
    assert cross["eval_dataset"] == "synthetic_shift" and cross["dataset"] == "synthetic" and cross["synthetic"]
    assert cross["n"] == len(shifted) == 4 * 7 * 3
    assert (run / "cross" / "synthetic_shift" / "confusion_matrix.png").stat().st_size > 0
    assert len(pd.read_parquet(run / "cross" / "synthetic_shift" / "predictions.parquet")) == cross["n"]


def test_second_dry_run_schedules_nothing(workspace, venv_env):
    assert scheduled_jobs(snakemake(workspace, venv_env, "-n")) == {}


def test_lint_is_clean(workspace, venv_env):
    proc = snakemake(workspace, venv_env, "--lint", check=False)
    assert "Congratulations" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_hyperparameter_change_reruns_only_that_papers_jobs(workspace, venv_env):
    path = workspace / "config" / "papers" / "majeed2025.yaml"
    original = path.read_text()
    data = yaml.safe_load(original)
    # (Not the optimiser: the quick preset's synthetic_overrides replace it, so editing it changes no spec.)
    data["experiments"]["lenet5"]["class_weights"] = True
    try:
        path.write_text(yaml.safe_dump(data))
        jobs = scheduled_jobs(snakemake(workspace, venv_env, "-n"))
        # Only lenet5's spec changed: its run alone is out of date; the paper's other runs, other2025's
        # lenet5 (same settings, another paper) and the data are not.
        assert {k: v for k, v in jobs.items() if k in ("train", "evaluate", "evaluate_cross", "summary")} == {
            "train": 1,
            "evaluate": 1,
            "summary": 1,
        }
        assert not {"make_synthetic", "split", "features_hog", "features_landmarks"} & set(jobs)
        text = snakemake(workspace, venv_env, "-n", "--printshellcmds").stdout
        commands = [line for line in text.splitlines() if re.search(r"ferrepro (train|evaluate) ", line)]
        assert len(commands) == 2 and all("results/runs/majeed2025/lenet5/" in c for c in commands), commands
    finally:
        path.write_text(original)
    # Reverting the edit brings back the spec the outputs were trained for: nothing to redo.
    assert scheduled_jobs(snakemake(workspace, venv_env, "-n")) == {}


@pytest.mark.parametrize(
    "removed",
    [("metrics.json",), ("model.pt", "history.csv", "train_summary.json")],
    ids=["deleted-metrics", "killed-training"],
)
def test_a_missing_run_file_is_rebuilt_not_left_stale(workspace, venv_env, removed):
    """A deleted metrics.json, or the outputs Snakemake removes after a killed training, must be rebuilt:
    the old numbers must never stay in the tables (issue 13)."""
    import shutil

    run = workspace / "results" / "runs" / "majeed2025" / "lenet5" / "synthetic" / "seed0"
    aside = workspace / "aside"
    aside.mkdir(exist_ok=True)
    for name in removed:
        shutil.move(run / name, aside / name)
    try:
        jobs = scheduled_jobs(snakemake(workspace, venv_env, "-n"))
        assert jobs.get("evaluate") == 1 and jobs.get("summary") == 1, jobs
        assert jobs.get("train", 0) == (1 if "model.pt" in removed else 0), jobs
    finally:
        for name in removed:
            shutil.move(aside / name, run / name)
