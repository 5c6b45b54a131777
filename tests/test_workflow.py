"""Integration: the real Snakemake workflow on the test configs of .test/, each in its own temp dir.

Every ``.test/<name>/config.yaml`` runs once, as a user runs it (``snakemake --configfile ...``, merged over
config/config.yaml), and must complete every run it plans. The quick config (a few minutes on 2 cores)
backs most checks: outputs and metrics, a second dry run scheduling nothing, and a hyperparameter change
rerunning only the affected jobs; cross_validation and feature_fusion add the checks of their own.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import yaml
from conftest import REPO, copy_workflow, run_checked
from scipy.stats import binomtest

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("workflow")]

TEST_CONFIGS = sorted(path.parent.name for path in (REPO / ".test").glob("*/config.yaml"))
RUN_FILES = (
    "model.pt",
    "history.csv",
    "train_summary.json",
    "metrics.json",
    "predictions.parquet",
    "confusion_matrix.png",
    "learning_curve.png",
)


def snakemake(workdir, env, *args, config="quick", check=True):
    """snakemake with the test config ``.test/<config>/config.yaml``."""
    return run_checked(["snakemake", "--configfile", f".test/{config}/config.yaml", *args], workdir, env, check=check)


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


def run_config(work, env, config):
    proc = snakemake(work, env, "--cores", "2", config=config)
    (work / "first_run.log").write_text(proc.stdout + proc.stderr)
    return work


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, venv_env):
    """The quick test config, run once (the checks below read it, and restore what they change)."""
    return run_config(copy_workflow(tmp_path_factory.mktemp("workflow")), venv_env, "quick")


@pytest.fixture(scope="module")
def configured_workspace(request, tmp_path_factory, venv_env):
    """name -> the workspace where ``.test/<name>/config.yaml`` ran (each runs once; quick is `workspace`)."""
    done = {}

    def run(name):
        if name not in done:
            done[name] = (
                request.getfixturevalue("workspace")
                if name == "quick"
                else run_config(copy_workflow(tmp_path_factory.mktemp(name)), venv_env, name)
            )
        return done[name]

    return run


def planned_runs(work) -> list[str]:
    """Run folders of the run matrix the workflow expanded: one spec file each (written at parse time)."""
    specs = sorted((work / "results" / "specs").glob("*/*/*/seed*.json"))
    return [str(p.relative_to(work / "results" / "specs").with_suffix("")) for p in specs]


def test_every_directory_of_dot_test_holds_a_config():
    assert {"quick", "cross_validation", "feature_fusion"} <= set(TEST_CONFIGS)
    assert sorted(p.name for p in (REPO / ".test").iterdir() if p.is_dir()) == TEST_CONFIGS


@pytest.mark.parametrize("config", TEST_CONFIGS)
def test_test_config_completes_every_run_it_plans(configured_workspace, venv_env, config):
    work = configured_workspace(config)
    runs = planned_runs(work)
    assert runs, f".test/{config}/config.yaml plans no run"
    for run in runs:
        for name in RUN_FILES:
            assert (work / "results" / "runs" / run / name).stat().st_size > 0, f"{run}/{name}"
    summary = pd.read_csv(work / "results" / "summary.csv")
    assert sorted(f"{r.paper}/{r.experiment}/{r.dataset}/seed{r.seed}" for r in summary.itertuples()) == runs
    # A second dry run schedules nothing: every output is up to date for the config it was made for.
    assert scheduled_jobs(snakemake(work, venv_env, "-n", config=config)) == {}


@pytest.mark.parametrize("config", TEST_CONFIGS)
def test_lint_is_clean(configured_workspace, venv_env, config):
    proc = snakemake(configured_workspace(config), venv_env, "--lint", config=config, check=False)
    assert "Congratulations" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


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
        for name in RUN_FILES:
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


def test_hyperparameter_change_reruns_only_that_papers_jobs(workspace, venv_env):
    path = workspace / ".test" / "quick" / "papers" / "majeed2025.yaml"
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


def test_cross_validation_runs_every_fold_and_pools_them(configured_workspace):
    work = configured_workspace("cross_validation")
    samples = pd.read_csv(work / "results" / "decoded" / "synthetic" / "samples.csv")
    tested = [
        set(split.loc[split["split"] == "test", "sample_id"])
        for split in (
            pd.read_csv(work / "results" / "splits" / "synthetic" / f"subject_k3_fold{k}_seed0.csv") for k in range(3)
        )
    ]
    # The three folds' test sets partition the data: every image is tested exactly once.
    assert sum(len(t) for t in tested) == len(samples) and set().union(*tested) == set(samples["sample_id"])
    experiments = pd.read_csv(work / "results" / "experiments.csv").set_index("experiment")
    pooled = experiments.loc["lenet5_k3"]
    assert pooled["seeds (folds)"] == "1 seed x 3 folds" and pooled["test samples per seed"] == len(samples)
    claim = pd.read_csv(work / "results" / "claims.csv").set_index("experiment").loc["lenet5_k3"]
    assert claim["n seeds (folds)"] == "1 (3 folds)"


def test_feature_fusion_compares_fused_and_cnn_only_on_the_same_test_images(configured_workspace):
    work = configured_workspace("feature_fusion")
    runs = work / "results" / "runs" / "fusion2025"
    n = {
        name: json.loads((runs / name / "synthetic" / "seed0" / "metrics.json").read_text())["n"]
        for name in ("cnn", "cnn_hog")
    }
    comparison = pd.read_csv(work / "results" / "comparisons.csv").set_index(["a", "b"]).loc[("cnn_hog", "cnn")]
    assert comparison["n pairs"] == n["cnn"] == n["cnn_hog"]
    log = (work / "first_run.log").read_text()
    trainings = [block for block in log.split("\n\n") if "rule train:" in block]
    fused = [block for block in trainings if "results/features/synthetic/hog.npy" in block]
    assert len(trainings) == 2 and len(fused) == 1 and "fusion2025/cnn_hog/" in fused[0]
    # Only the feature a run fuses is computed (features: {datasets: []} asks for none by itself).
    assert sorted(p.name for p in (work / "results" / "features" / "synthetic").glob("*.npy")) == ["hog.npy"]
