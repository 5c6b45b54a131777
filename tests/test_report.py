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
        config["synthetic_shift"] = dict(
            config["synthetic_shift"], n_subjects=4, images_per_subject_per_class=2, size=48
        )
    config["presets"]["quick"]["overrides"] = {
        "max_epochs": 3,
        "early_stopping": {"patience": 3},
        "batch_size": 32,
        "trainer": {"threads": 1},
    }
    config["features"]["datasets"] = []
    config["trainer"]["threads"] = 1
    path = work / "config" / "papers" / "majeed2025.yaml"
    majeed = yaml.safe_load(path.read_text())
    majeed["experiments"] = {name: majeed["experiments"][name] for name in ("proposed", "lenet5")}
    majeed["experiments"]["lenet5"]["robustness"] = True
    majeed["comparisons"] = [{"a": "proposed", "b": "lenet5", "label": "proposed vs LeNet-5"}]
    majeed.pop("preset_overrides", None)
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
    classification = table[
        (table["paper"] == "majeed2025")
        & (table["metric"] == "test_accuracy")
        & (table["dataset"] == "fer2013 (ours: synthetic)")
    ]
    assert classification["verdict"].eq("synthetic only").all()
    groups = json.loads((workspace / "results" / "experiments.json").read_text())["groups"]
    [synthetic] = [g for g in groups if g["experiment"] == "proposed" and g["eval_dataset"] == "synthetic"]
    assert classification["ours_mean"].iloc[0] == pytest.approx(synthetic["metrics"]["test_accuracy"]["mean"])
    metrics = json.loads(
        (
            workspace / "results" / "runs" / "majeed2025" / "proposed" / "synthetic" / "seed0" / "metrics.json"
        ).read_text()
    )
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
    assert shapes == {(1, 48, 48)}  # FER2013's size, the paper's (full preset)
    robustness = pd.read_csv(results / "robustness.csv")
    assert len(robustness) == sum(len(levels) for levels in SEVERITIES.values())  # one run, 3 x 3 conditions
    assert set(robustness["experiment"]) == {"lenet5"}
    assert (results / "leaky_vs_proper.png").read_bytes()[:4] == b"\x89PNG"
    assert "| proposed | happy |" in (results / "per_class.md").read_text()
    for name in ("experiments", "claims", "comparisons", "efficiency", "robustness", "per_class"):
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
    runs = sorted(
        str(p.relative_to(workspace / "results" / "runs")) for p in (workspace / "results" / "runs").glob("*/*/*/seed*")
    )
    # Images only (seen: DVC's Vega plots load their scripts from a CDN and were blank offline).
    assert {p.split("/")[2] for p in plots} == {"learning_curves", "confusion_matrices"}
    for folder in ("learning_curves", "confusion_matrices"):
        ids = sorted(k for k in plots if k.startswith(f"results/plots/{folder}/"))
        assert ids == [f"results/plots/{folder}/{r}.png" for r in runs]
        assert all(plots[i][0]["type"] == "image" for i in ids)
    # Seen: `dvc metrics show` printed one line of 8,932 characters; now one short row per run.
    shown = run(["dvc", "metrics", "show"], project, env).stdout.splitlines()
    assert shown[0].split()[0] == "Path"
    assert sorted(shown[0].split()[1:]) == ["accuracy", "epochs_run", "macro_f1", "val_accuracy"]
    assert sorted(line.split()[0] for line in shown[1:]) == [f"results/metrics/{r}.json" for r in runs]
    assert max(map(len, shown)) < 160  # the path and four numbers
    # `dvc params diff` sees the configs' keys.
    run(["git", "add", "-A"], project, env)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "x"], project, env)
    path = project / "config" / "papers" / "majeed2025.yaml"
    path.write_text(path.read_text().replace("batch_size: 64", "batch_size: 16", 1))
    diff = run(["dvc", "params", "diff"], project, env).stdout
    assert "config/papers/majeed2025.yaml" in diff and "batch_size" in diff


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
    # It leads with the verdicts: the counts, then majeed2025's compact table, then the full table.
    assert dom.index('id="claims-overview"') < dom.index('id="claims-majeed2025"') < dom.index('id="claims"')
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


# ----------------------------------------------------------------------------- figures (no workflow needed)


def test_row_normalised_confusion_says_na_for_a_class_without_test_samples():
    """Seen: a class with no support showed 0.00, as if it were never recognised."""
    from ferrepro.evaluation.plots import row_normalised

    values, text = row_normalised(np.array([[3, 1], [0, 0]]))
    assert list(text[0]) == ["0.75", "0.25"] and list(text[1]) == ["n/a", "n/a"]
    assert np.isnan(values[1]).all()


def test_learning_curve_counts_epochs_from_1_with_integer_ticks_and_full_accuracy_range():
    """Seen: fractional epoch ticks, 0-based epochs (epochs_run counts from 1), a y-axis zoomed onto noise."""
    import matplotlib.pyplot as plt

    from ferrepro.evaluation.plots import learning_curve_figure

    history = pd.DataFrame(
        {
            "epoch": [0, 1, 2],
            "train_loss": [1.95, 1.94, 1.93],
            "train_acc": [0.15, 0.16, 0.17],
            "val_loss": [1.96, 1.95, 1.955],
            "val_acc": [0.14, 0.2, 0.18],
        }
    )
    fig = learning_curve_figure(history, selected_epoch=1, title="demo / synthetic")
    loss_ax, acc_ax = fig.axes
    assert list(acc_ax.lines[0].get_xdata()) == [1, 2, 3]
    fig.canvas.draw()
    ticks = [t for t in acc_ax.get_xticks() if 0.5 <= t <= 3.5]
    assert ticks == [1, 2, 3]
    assert acc_ax.get_ylim() == (0, 1) and loss_ax.get_ylim()[0] == 0
    # The selected epoch (0-based 1) is marked at epoch 2, on the vertical line and with a star on val.
    assert any(list(line.get_xdata()) == [2, 2] for line in acc_ax.lines)
    assert any(line.get_marker() == "*" and list(line.get_xdata()) == [2] for line in acc_ax.lines)
    plt.close(fig)


def test_claims_chart_has_full_labels_axis_label_chance_line_and_a_synthetic_title():
    """Seen: truncated labels, no x-axis label, no chance line, claims at 0.99 on the frame, no "synthetic"."""
    import matplotlib.pyplot as plt

    from ferrepro.evaluation.plots import claims_figure

    long_table = "Table 4 (subject-independent, 5-fold cross-validation, mean of folds)"
    table = pd.DataFrame(
        [
            {
                "paper": "demo2025",
                "experiment": "proposed",
                "variant": "",
                "dataset": "ckplus",
                "table": long_table,
                "metric": "test_accuracy",
                "verdict": "synthetic only",
                "_claimed": 0.99,
                "_mean": 0.4,
                "_low": 0.35,
                "_high": 0.45,
            },
            {
                "paper": "demo2025",
                "experiment": "proposed_leaky",
                "variant": "LEAKY",
                "dataset": "ckplus",
                "table": "Table 4",
                "metric": "test_accuracy",
                "verdict": "synthetic only",
                "_claimed": 0.995,
                "_mean": 0.6,
                "_low": 0.55,
                "_high": 0.65,
            },
        ]
    )
    fig = claims_figure(table, preset="quick")
    ax = fig.axes[0]
    labels = " ".join(t.get_text().replace("\n", " ") for t in ax.get_yticklabels())
    assert long_table in labels and "proposed_leaky (LEAKY)" in labels
    assert ax.get_xlabel() == "test accuracy (fraction)"
    assert ax.get_xlim()[1] > 1.0  # 0.99 and 0.995 are inside the frame
    assert any(list(line.get_xdata()) == [1 / 7, 1 / 7] for line in ax.lines)  # the chance line
    title = fig._suptitle.get_text()
    assert "preset quick" in title and "SYNTHETIC" in title
    plt.close(fig)
