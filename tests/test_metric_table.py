"""The metric table (ferrepro.evaluation.metrics.METRICS) is the one place a metric is declared: metrics.json,
the bootstrap, experiments.json, the claims table and the paper schema all follow from it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_claims import CLASSES, efficiency_report, paper_config, registry, write_run  # noqa: F401 (fixture)
from test_per_class_claims import with_claims, write_paper

from ferrepro.config import SCHEMA_DIR, load_schema
from ferrepro.evaluation import stats
from ferrepro.evaluation.metrics import (
    BY_NAME,
    COUNT,
    EFFICIENCY,
    EFFICIENCY_METRICS,
    EXACT,
    FRACTION,
    HISTORY,
    METRICS,
    PREDICTIONS,
    SCHEMA_ENUMS,
    TIMING,
    classification_metrics,
)
from ferrepro.reporting import claims, experiments

REPO = Path(__file__).resolve().parents[1]
WHOLE_MODEL_CONFUSION = [m for m in METRICS if m.from_confusion and not m.per_class]
PER_CLASS = [m for m in METRICS if m.per_class]


def noisy(seed: int, n: int = 120, n_classes: int = 8, present: int = 7):
    """Labels of ``present`` classes (the last of ``n_classes`` never occurs) and 55 % right predictions."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, present, n)
    return y_true, np.where(rng.random(n) < 0.55, y_true, rng.integers(0, present, n))


# ------------------------------------------------------------------------------------------------ the table


def test_every_metric_is_declared_once_with_a_known_kind_and_source():
    assert len(BY_NAME) == len(METRICS)
    for m in METRICS:
        assert m.kind in (FRACTION, COUNT, EXACT, TIMING), m
        assert m.source in (PREDICTIONS, HISTORY, EFFICIENCY), m
        assert m.digits >= 0, m
        # a computed value needs test predictions; per-class values sit in metrics.json's per_class
        assert (m.score is None and m.confusion is None) == (m.source != PREDICTIONS), m
        assert not (m.per_class and m.score), m
        assert m.unit is None or m.kind == EXACT, m  # only exact values are shown in a unit (claims._ours_text)


def test_stats_bootstraps_every_metric_the_table_gives_a_confusion_form():
    assert set(stats.CONFUSION_METRICS) == {m.stats_name for m in WHOLE_MODEL_CONFUSION}
    assert stats.CLASS_METRICS == ("precision", "recall", "f1") == tuple(m.name for m in PER_CLASS)


def test_experiments_and_claims_have_a_reader_for_every_source():
    assert experiments.PREDICTION_METRICS == {m.name: m.stats_name for m in WHOLE_MODEL_CONFUSION}
    assert set(experiments.SEED_LEVEL_METRICS) == set(experiments.SPLIT_ACCURACIES) | {"epochs"}
    assert set(claims.EFFICIENCY_READERS) == set(EFFICIENCY_METRICS) == {"params", "gflops", "latency_ms"}
    for m in METRICS:
        if m.claimable and m.source == PREDICTIONS:
            key = f"{m.name}[happy]" if m.per_class else m.name
            assert experiments.is_prediction_metric(key), m


def test_the_paper_schema_takes_its_metric_names_from_the_table():
    raw = yaml.safe_load((SCHEMA_DIR / "paper.schema.yaml").read_text())["$defs"]["claim"]
    assert raw["properties"]["metric"] == {"type": "string", "x-enum": "metrics"}  # no copy of the names
    claim = load_schema("paper.schema.yaml")["$defs"]["claim"]
    assert claim["properties"]["metric"]["enum"] == SCHEMA_ENUMS["metrics"]
    with_class, class_metric = claim["allOf"]
    assert with_class["then"]["properties"]["metric"]["enum"] == ["precision", "recall", "f1"]
    assert class_metric["if"]["properties"]["metric"]["enum"] == SCHEMA_ENUMS["class_metrics"]
    # metrics without an interval (no confusion form) cannot be claimed
    assert "balanced_accuracy" not in SCHEMA_ENUMS["metrics"] and "test_accuracy" in SCHEMA_ENUMS["metrics"]


def test_the_table_and_the_schema_load_without_numpy():
    """The workflow reads the paper configs (and so the table) at parse time, with PyYAML and jsonschema only."""
    code = (
        "import sys, glob\n"
        "for name in ('numpy', 'scipy', 'sklearn', 'pandas', 'torch'):\n"
        "    sys.modules[name] = None\n"
        "from ferrepro.config import load_paper_config\n"
        "import ferrepro.config.model_specs\n"
        "for path in sorted(glob.glob('config/papers/*.yaml')):\n"
        "    load_paper_config(path)\n"
    )
    env = {"PYTHONPATH": str(REPO / "src"), "PATH": ""}
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True, capture_output=True, text=True)


# ----------------------------------------------------------------------------------------- computed values


def test_metrics_json_records_every_scored_metric_in_table_order():
    y_true, y_pred = noisy(0, n_classes=7)
    keys = list(classification_metrics(y_true, y_pred, CLASSES))
    scored = [m.stats_name for m in METRICS if m.score is not None]
    assert keys[: 1 + len(scored)] == ["n", *scored]
    assert keys[1 + len(scored) :] == ["per_class", "classes", "scored_classes", "unscored_classes", "confusion_matrix"]


@pytest.mark.parametrize("metric", WHOLE_MODEL_CONFUSION, ids=lambda m: m.name)
@pytest.mark.parametrize("scored", [None, [0, 2, 3, 5, 6]])
def test_the_confusion_form_equals_the_sklearn_score(metric, scored):
    y_true, y_pred = noisy(21)
    labels = np.arange(8) if scored is None else np.array(scored)
    codes = stats.encode_outcomes(y_true, y_pred, 8)
    expected = metric.score(y_true, y_pred, labels)
    assert stats.metric_from_codes(codes, 8, metric.stats_name, scored) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("metric", PER_CLASS, ids=lambda m: m.name)
def test_the_per_class_confusion_form_equals_metrics_json(metric):
    y_true, y_pred = noisy(3, n_classes=7, present=7)
    per_class = classification_metrics(y_true, y_pred, CLASSES)["per_class"]
    codes = stats.encode_outcomes(y_true, y_pred, 7)
    for index, name in enumerate(CLASSES):
        value = stats.metric_from_codes(codes, 7, metric.name, class_index=index)
        assert value == pytest.approx(per_class[name][metric.name], abs=1e-12)


# ------------------------------------------------------------------------------------------ flows through


def claims_for(tmp_path: Path, metric: str, value: float) -> tuple[dict, dict]:
    """A paper claiming ``value`` of ``metric``, 3 seeds of runs: experiments.json's entry and the claims row."""
    files = [write_run(tmp_path, "demo", "proposed", "fer2013", seed, *noisy(seed, n_classes=7)) for seed in range(3)]
    claim = {"table": "T9", "row": "ours", "dataset": "fer2013", "metric": metric, "value": value}
    paper = write_paper(tmp_path / "papers", with_claims(claim))
    out = tmp_path / "experiments"
    args = ["--metrics", *map(str, files), "--paper-configs", str(paper)]
    experiments.cli([*args, "--out-json", f"{out}.json", "--out-csv", f"{out}.csv", "--out-md", f"{out}.md"])
    table = claims.build_table(
        [paper], f"{out}.json", [], REPO / "config" / "datasets.yaml", claims.Workspace("full", ("demo",))
    )
    [row] = table[table["table"] == "T9"].to_dict("records")
    [group] = json.loads(Path(f"{out}.json").read_text())["groups"]
    return group["metrics"][metric], row


@pytest.mark.parametrize("metric", [m for m in WHOLE_MODEL_CONFUSION if m.claimable], ids=lambda m: m.name)
def test_a_claimed_prediction_metric_reaches_experiments_and_the_claims_table(tmp_path, metric):
    # what metrics.json records, averaged over the seeds
    expected = float(np.mean([metric.score(*noisy(seed, n_classes=7), np.arange(7)) for seed in range(3)]))
    entry, row = claims_for(tmp_path, metric.name, expected)
    assert entry["mean"] == pytest.approx(expected, abs=1e-12) and entry["interval"].startswith("bootstrap")
    assert entry["ci_low"] <= expected <= entry["ci_high"]
    assert row["verdict"] == "reproduced" and row["_mean"] == pytest.approx(expected, abs=1e-12)
    assert row["ours (mean ± sd)"].startswith(f"{expected:.{metric.digits}f} ± ")


def test_only_fraction_metrics_get_the_percentage_check(registry):
    """1.2 GFLOPs against our 0.6 is a FLOP count above ours, not a percentage mistake (kind exact, not fraction)."""
    cfg = paper_config()
    cfg["experiments"]["proposed"]["claims"] = [
        {"table": "E", "row": "flops", "dataset": "fer2013", "metric": "gflops", "value": 1.2}
    ]
    report = efficiency_report(gpu=False)
    report["demo"]["models"]["m0"]["flops"] = {"gflops": 0.6, "gmacs": 0.3}
    table = claims.claim_rows([cfg], [], report, registry, claims.Workspace("full", ("demo",)))
    [row] = table[table["table"] == "E"].to_dict("records")
    assert row["verdict"] == "not reproduced (higher)" and row["ours (mean ± sd)"] == "0.600"


# ----------------------------------------------------------------------- a metric added in one place: kappa


def test_cohen_kappa_flows_from_its_table_entry_everywhere(tmp_path):
    """cohen_kappa was added as one entry of the table; metrics.json, the bootstrap, experiments.json, the
    claims table and the paper schema have it without any other change."""
    from sklearn.metrics import cohen_kappa_score

    from ferrepro.config import load_paper_config

    y_true, y_pred = noisy(5, n_classes=7)
    metrics_json = classification_metrics(y_true, y_pred, CLASSES)
    assert metrics_json["cohen_kappa"] == cohen_kappa_score(y_true, y_pred)
    assert list(metrics_json).index("cohen_kappa") == list(metrics_json).index("weighted_f1") + 1
    assert "cohen_kappa" in stats.CONFUSION_METRICS and "cohen_kappa" in SCHEMA_ENUMS["metrics"]
    ci = stats.seed_mean_ci([(y_true, y_pred)], "cohen_kappa", 7, shared_test_set=False, n_resamples=500)
    assert ci["estimate"] == pytest.approx(cohen_kappa_score(y_true, y_pred), abs=1e-12)
    assert ci["ci_low"] < ci["estimate"] < ci["ci_high"]
    # a paper may claim it ...
    claim = {"table": "T9", "row": "ours", "dataset": "fer2013", "metric": "cohen_kappa", "value": 0.42}
    paper = load_paper_config(write_paper(tmp_path / "papers", with_claims(claim)))
    assert paper["experiments"]["proposed"]["claims"][0]["metric"] == "cohen_kappa"
    # ... and experiments.json and the claims table answer it
    expected = float(np.mean([cohen_kappa_score(*noisy(seed, n_classes=7)) for seed in range(3)]))
    entry, row = claims_for(tmp_path / "flow", "cohen_kappa", 0.99)
    assert entry["mean"] == pytest.approx(expected, abs=1e-12) and entry["interval"].startswith("bootstrap")
    assert row["metric"] == "cohen_kappa" and row["claimed"] == "0.9900"
    assert row["verdict"] == "not reproduced (higher)" and row["ours (mean ± sd)"].startswith(f"{expected:.4f} ± ")
