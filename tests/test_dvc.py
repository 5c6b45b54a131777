"""The DVC team loop, end to end in temp dirs with a local-directory remote.

User A runs the tiny pipeline, commits and pushes; user B clones, pulls, and Snakemake schedules nothing;
B changes one paper's hyperparameter and only that paper's jobs rerun.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml
from conftest import REPO, copy_workflow
from test_workflow import scheduled_jobs

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("workflow")]


def run(cmd, cwd, env):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed in {cwd}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def env(venv_env):
    return dict(
        venv_env,
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME="a",
        GIT_AUTHOR_EMAIL="a@example.invalid",
        GIT_COMMITTER_NAME="a",
        GIT_COMMITTER_EMAIL="a@example.invalid",
    )


def make_project(path, env):
    copy_workflow(path)
    for name in ("dvc.yaml", "Makefile", ".gitignore"):
        shutil.copy2(REPO / name, path / name)
    config = yaml.safe_load((path / "config" / "config.yaml").read_text())
    config["synthetic"] = {"n_subjects": 6, "images_per_subject_per_class": 3, "size": 48, "seed": 5}
    config["presets"]["quick"]["overrides"] = {"max_epochs": 2, "early_stopping": {"patience": 2}}
    config["features"]["datasets"] = []
    config["trainer"]["threads"] = 1
    majeed = yaml.safe_load((path / "config" / "papers" / "majeed2025.yaml").read_text())
    majeed["experiments"] = {"lenet5": majeed["experiments"]["lenet5"]}
    majeed.pop("comparisons", None)  # its ablation pairs name experiments dropped above
    (path / "config" / "papers" / "majeed2025.yaml").write_text(yaml.safe_dump(majeed))
    other = dict(majeed, paper="other2025")
    (path / "config" / "papers" / "other2025.yaml").write_text(yaml.safe_dump(other))
    config["papers"] = ["majeed2025", "other2025"]
    (path / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    run(["git", "init", "-q", "-b", "main"], path, env)
    run(["dvc", "init", "-q"], path, env)
    run(["dvc", "remote", "add", "-d", "storage", str(path.parent / "remote")], path, env)
    # The dvc plots of the real dvc.yaml name the default runs; this tiny project has other runs.
    dvc = yaml.safe_load((path / "dvc.yaml").read_text())
    dvc.pop("plots", None)
    (path / "dvc.yaml").write_text(yaml.safe_dump(dvc, sort_keys=False))


def test_push_clone_pull_schedules_nothing_and_edits_stay_local(tmp_path, env):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    make_project(a, env)
    run(["dvc", "repro"], a, env)  # runs the Snakemake workflow as the stage's command
    run(["git", "add", "-A"], a, env)
    run(["git", "commit", "-qm", "results"], a, env)
    run(["dvc", "push"], a, env)
    metrics_a = (a / "results" / "metrics.json").read_text()

    run(["git", "clone", "-q", str(a), str(b)], tmp_path, env)
    assert not (b / "results" / "runs").exists(), "results must come from DVC, not git"
    run(["make", "pull"], b, env)
    assert (b / "results" / "metrics.json").read_text() == metrics_a
    assert (b / "results" / "runs" / "other2025" / "lenet5" / "synthetic" / "seed0" / "model.pt").exists()
    assert scheduled_jobs(run(["snakemake", "-n"], b, env)) == {}

    path = b / "config" / "papers" / "majeed2025.yaml"
    paper = yaml.safe_load(path.read_text())
    paper["experiments"]["lenet5"]["batch_size"] = 16
    path.write_text(yaml.safe_dump(paper))
    dry = run(["snakemake", "-n", "--printshellcmds"], b, env)
    # Training and evaluation rerun for that one run only; the tables that read it or the paper config are
    # rebuilt; the efficiency measurement (its networks did not change) is not.
    assert scheduled_jobs(dry) == {
        "train": 1,
        "evaluate": 1,
        "summary": 1,
        "experiments": 1,
        "claims": 1,
        "comparisons": 1,
        "per_class": 1,
        "efficiency_table": 1,
        "plot_data": 1,
        "all": 1,
    }
    trained = [line for line in dry.stdout.splitlines() if "ferrepro train " in line]
    assert len(trained) == 1 and "results/runs/majeed2025/lenet5/" in trained[0]

    # Issue 13: a config edit in the pulled clone (no Snakemake metadata there) must retrain what it
    # changes. Before spec files were train inputs, this scheduled 0 jobs and kept models of epochs 2.
    path.write_text(yaml.safe_dump(yaml.safe_load((a / "config" / "papers" / "majeed2025.yaml").read_text())))
    config_path = b / "config" / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["presets"]["quick"]["overrides"]["max_epochs"] = 3
    config_path.write_text(yaml.safe_dump(config))
    jobs = scheduled_jobs(run(["snakemake", "-n"], b, env))
    assert jobs.get("train") == 2 and jobs.get("evaluate") == 2, jobs
