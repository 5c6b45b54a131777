"""Integration: the reporting stage on a tiny workspace of its own, and the report in a real browser.

One module-scoped run of the real workflow (majeed2025's two models at 48x48 synthetic, 3 epochs, one
with `robustness: true` and a `comparisons:` pair) backs checks of the claims table, the statistics
tables, `dvc plots` / `dvc metrics`, and `snakemake --report` rendered by headless Chromium.
"""

from __future__ import annotations

import base64
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, copy_workflow, run_checked
from ferrepro.config import load_paper_config
from ferrepro.evaluation.robustness import SEVERITIES
from ferrepro.reporting import browser

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("report")]


def run(cmd, cwd, env, timeout=900):
    return run_checked(cmd, cwd, env, timeout)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, venv_env):
    work = copy_workflow(tmp_path_factory.mktemp("report"))
    config = yaml.safe_load((work / "config" / "config.yaml").read_text())
    config["synthetic"] = {"n_subjects": 8, "images_per_subject_per_class": 3, "size": 48, "seed": 3}
    if "synthetic_shift" in config:
        config["synthetic_shift"] = dict(config["synthetic_shift"], n_subjects=4, images_per_subject_per_class=2, size=48)
    config["profiles"]["quick"]["overrides"] = {"max_epochs": 3, "early_stopping": {"patience": 3}, "batch_size": 32,
                                                "trainer": {"threads": 1}}
    config["features"]["datasets"] = []
    config["trainer"]["threads"] = 1
    path = work / "config" / "papers" / "majeed2025.yaml"
    majeed = yaml.safe_load(path.read_text())
    majeed["experiments"] = {name: majeed["experiments"][name] for name in ("proposed", "lenet5")}
    majeed["experiments"]["lenet5"]["robustness"] = True
    majeed["comparisons"] = [{"a": "proposed", "b": "lenet5", "label": "proposed vs LeNet-5"}]
    majeed.pop("profile_overrides", None)
    path.write_text(yaml.safe_dump(majeed, sort_keys=False))
    config["papers"] = ["majeed2025"]
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    run(["snakemake", "--cores", "2"], work, venv_env)
    return work


def claims_in_configs(work) -> int:
    papers = [load_paper_config(p) for p in sorted((work / "config" / "papers").glob("*.yaml"))]
    return sum(len(e.get("claims") or []) for p in papers for e in p["experiments"].values())


def test_claims_table_has_every_claim_and_never_compares_synthetic_runs(workspace):
    table = pd.read_csv(workspace / "results" / "claims.csv")
    assert len(table) == claims_in_configs(workspace)
    assert table["paper"].nunique() == len(list((workspace / "config" / "papers").glob("*.yaml")))
    classification = table[(table["paper"] == "majeed2025") & (table["metric"] == "test_accuracy")
                           & (table["dataset"] == "fer2013")]
    assert classification["verdict"].eq("synthetic only").all()
    groups = json.loads((workspace / "results" / "experiments.json").read_text())["groups"]
    [synthetic] = [g for g in groups if g["experiment"] == "proposed" and g["eval_dataset"] == "synthetic"]
    assert classification["ours_mean"].iloc[0] == pytest.approx(synthetic["metrics"]["test_accuracy"]["mean"])
    metrics = json.loads((workspace / "results" / "runs" / "majeed2025" / "proposed" / "synthetic" / "seed0"
                          / "metrics.json").read_text())
    assert synthetic["metrics"]["test_accuracy"]["mean"] == pytest.approx(metrics["accuracy"])
    # Only synthetic data ran here, and majeed2025 claims no parameter or FLOP count: no real verdict anywhere.
    assert set(table["verdict"]) == {"untestable", "synthetic only"}
    assert (workspace / "results" / "claims.png").read_bytes()[:4] == b"\x89PNG"


def test_statistics_efficiency_and_robustness_tables(workspace):
    results = workspace / "results"
    comparisons = pd.read_csv(results / "comparisons.csv")
    [row] = comparisons.to_dict("records")
    assert row["comparison"] == "proposed vs LeNet-5" and "/" in row["McNemar (only a / only b correct)"]
    efficiency = json.loads((results / "efficiency" / "majeed2025.json").read_text())
    shapes = {tuple(m["input_shape"]) for m in efficiency["models"].values()}
    assert shapes == {(1, 48, 48)}  # FER2013's size, the paper's (full profile)
    robustness = pd.read_csv(results / "robustness.csv")
    assert len(robustness) == sum(len(levels) for levels in SEVERITIES.values())  # one run, 3 x 3 conditions
    assert set(robustness["experiment"]) == {"lenet5"}
    for name in ("experiments", "claims", "comparisons", "efficiency", "robustness"):
        assert (results / f"{name}.md").read_text().startswith("# ")
        assert (results / f"{name}.html").read_text().startswith('<div class="ferrepro-table"')


def test_dvc_plots_and_metrics_cover_every_run_without_naming_one(workspace, venv_env, tmp_path):
    env = dict(venv_env, DVC_NO_ANALYTICS="1")
    project = tmp_path / "dvc"
    project.mkdir()
    copy_workflow(project)
    (project / "dvc.yaml").write_text((REPO / "dvc.yaml").read_text())
    shutil.copytree(workspace / "results", project / "results")
    run(["git", "init", "-q"], project, env)
    run(["dvc", "init", "-q"], project, env)
    plots = json.loads(run(["dvc", "plots", "show", "--json"], project, env).stdout)["data"]
    runs = sorted(str(p.relative_to(workspace / "results" / "runs")) for p in (workspace / "results" / "runs").glob("*/*/*/seed*"))
    for folder, suffix, kind in (("learning_curves", ".csv", "vega"), ("predictions", ".csv", "vega"),
                                 ("confusion_matrices", ".png", "image")):
        ids = sorted(k for k in plots if k.startswith(f"results/plots/{folder}/"))
        assert ids == [f"results/plots/{folder}/{r}{suffix}" for r in runs]
        assert all(plots[i][0]["type"] == kind for i in ids)
    curve = plots[f"results/plots/learning_curves/{runs[0]}.csv"][0]["content"]
    assert {d["field"] for d in curve["data"]["values"]} == {"train_acc", "val_acc"}
    metrics = run(["dvc", "metrics", "show", "--json"], project, env).stdout
    assert all(f'"{r}"' in metrics for r in runs) and '"accuracy"' in metrics


@pytest.fixture(scope="module")
def report(workspace, venv_env):
    if browser.find_chromium() is None:
        pytest.skip("Chromium is not installed (make test installs Debian's chromium where apt-get is available)")
    run(["snakemake", "--report", "results/report.html"], workspace, venv_env)
    return workspace / "results" / "report.html"


def test_report_opens_on_the_claims_table_in_a_real_browser(report, workspace):
    dom = browser.dump_dom(report)
    table = re.search(r'<div class="ferrepro-table" id="claims">.*?<tbody>(.*?)</tbody>', dom, re.S)
    assert table, "the rendered front page has no claims table"
    rows = re.findall(r"<tr", table.group(1))
    assert len(rows) == claims_in_configs(workspace)
    assert "synthetic only" in table.group(1)
    shot = browser.screenshot(report, workspace / "results" / "report_screenshot.png")
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (1000, 1600) and pixels.std() > 10  # not a blank page


def test_report_renders_a_confusion_matrix(report, workspace):
    view = browser.with_view(report, workspace / "results" / "report_confusion.html", suffix="confusion_matrix.png")
    dom = browser.dump_dom(view)
    shown = re.search(r'data-ferrepro-view="([^"]+)"', dom).group(1)
    assert shown.endswith("confusion_matrix.png") and shown != "missing"
    images = re.findall(r'<img src="data:image/png;[^"]*?base64,([^"]+)"', dom)
    assert images, "no PNG rendered"
    assert base64.b64decode(images[0]) == (workspace / shown).read_bytes()
    browser.screenshot(view, workspace / "results" / "report_confusion.png")
