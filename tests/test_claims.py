"""The reporting layer: experiments over seeds and folds, the claims table and its verdicts, comparisons.

Runs are written here as the evaluate rule writes them (metrics.json, predictions.parquet,
train_summary.json) with outcomes we choose, so every number the tables show is known in advance.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ferrepro.config import ConfigError, load_paper_config, validate_against_schema
from ferrepro.config.checks import validate_comparisons
from ferrepro.data.registry import load_registry
from ferrepro.evaluation.metrics import classification_metrics
from ferrepro.labels import label_set
from ferrepro.reporting import claims as claims_mod
from ferrepro.reporting.claims import Workspace, claim_rows
from ferrepro.reporting.comparisons import comparison_rows
from ferrepro.reporting.experiments import aggregate, aggregate_group
from ferrepro.reporting.robustness_table import robustness_rows
from ferrepro.reporting.runs import RunFileError, load_runs

REPO = Path(__file__).resolve().parents[1]
CLASSES = list(label_set("basic7"))


def write_run(
    root: Path,
    paper: str,
    experiment: str,
    dataset: str,
    seed: int,
    y_true,
    y_pred,
    ids=None,
    group: str | None = None,
    fold: int | None = None,
    eval_dataset: str | None = None,
    leaky: bool = False,
    val_accuracy: float | None = 0.5,
    n_val: int = 40,
    selected_epoch: int = 9,
    excluded=(),
) -> Path:
    """One evaluated run in the evaluate rule's format; returns its metrics.json."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    ids = [f"s{i}" for i in range(len(y_true))] if ids is None else list(ids)
    folder = root / "runs" / paper / experiment / dataset / f"seed{seed}"
    if eval_dataset and eval_dataset != dataset:
        folder = folder / "cross" / eval_dataset
    folder.mkdir(parents=True, exist_ok=True)
    metrics = classification_metrics(y_true, y_pred, CLASSES)
    metrics.update(
        run=f"{paper}/{experiment}/{dataset}/seed{seed}",
        paper=paper,
        experiment=experiment,
        group=group or experiment,
        fold=fold,
        dataset=dataset,
        eval_dataset=eval_dataset or dataset,
        seed=seed,
        synthetic="synthetic" in (dataset, eval_dataset or dataset),
        leaky=leaky,
        val_accuracy=val_accuracy,
        selected_epoch=selected_epoch,
        epochs_run=selected_epoch + 5,
        excluded_missing_features=list(excluded),
    )
    (folder / "metrics.json").write_text(json.dumps(metrics))
    pd.DataFrame(
        {"sample_id": ids, "true_label": np.asarray(CLASSES)[y_true], "predicted_label": np.asarray(CLASSES)[y_pred]}
    ).to_parquet(folder / "predictions.parquet")
    summary_dir = folder if not (eval_dataset and eval_dataset != dataset) else folder.parents[1]
    (summary_dir / "train_summary.json").write_text(json.dumps({"n_val": n_val, "selected_epoch": selected_epoch}))
    return folder / "metrics.json"


def outcomes(rng, n, accuracy):
    y_true = rng.integers(0, 7, n)
    return y_true, np.where(rng.random(n) < accuracy, y_true, (y_true + 1) % 7)


# ------------------------------------------------------------------------------------------ experiments


def test_folds_are_pooled_per_seed_and_seeds_averaged(tmp_path):
    rng = np.random.default_rng(0)
    files, per_seed_accuracy = [], []
    for seed in (0, 1):
        correct = 0
        for fold in range(3):
            y_true, y_pred = outcomes(rng, 40, 0.6 + 0.1 * seed)
            ids = [f"f{fold}_{i}" for i in range(40)]  # each sample in one fold's test set
            files.append(
                write_run(tmp_path, "p", f"exp-fold{fold}", "kdef", seed, y_true, y_pred, ids, group="exp", fold=fold)
            )
            correct += int(np.sum(y_true == y_pred))
        per_seed_accuracy.append(correct / 120)
    [row] = aggregate(files)
    acc = row["metrics"]["test_accuracy"]
    assert row["experiment"] == "exp" and row["n_seeds"] == 2 and row["folds"] == [0, 1, 2]
    assert row["n_test"] == {0: 120, 1: 120}
    assert row["shared_test_set"]  # pooled folds cover the same 120 samples for both seeds
    assert acc["mean"] == pytest.approx(np.mean(per_seed_accuracy))
    assert acc["sd"] == pytest.approx(np.std(per_seed_accuracy, ddof=1))
    assert acc["ci_low"] < acc["mean"] < acc["ci_high"]
    assert acc["resampling"] == "shared test set, paired across seeds"


def test_a_sample_in_two_folds_is_an_error_naming_both_files(tmp_path):
    y = np.arange(10) % 7
    files = [
        write_run(tmp_path, "p", f"e-fold{k}", "kdef", 0, y, y, [f"s{i}" for i in range(10)], group="e", fold=k)
        for k in (0, 1)
    ]
    with pytest.raises(RunFileError, match="e-fold0.*e-fold1|e-fold1.*e-fold0"):
        aggregate(files)


def test_seed_dependent_test_sets_are_resampled_independently(tmp_path):
    rng = np.random.default_rng(1)
    files = [
        write_run(tmp_path, "p", "e", "ferg", seed, *outcomes(rng, 80, 0.5), ids=[f"{seed}_{i}" for i in range(80)])
        for seed in range(3)
    ]
    [row] = aggregate(files)
    assert not row["shared_test_set"]
    assert row["metrics"]["macro_f1"]["resampling"] == "independent per seed"


def test_claimed_metrics_are_added_and_val_accuracy_and_epochs_have_their_own_intervals(tmp_path):
    rng = np.random.default_rng(2)
    files = [
        write_run(
            tmp_path,
            "p",
            "e",
            "fer2013",
            seed,
            *outcomes(rng, 60, 0.5),
            val_accuracy=0.5 + 0.05 * seed,
            n_val=200,
            selected_epoch=10 * seed,
        )
        for seed in range(3)
    ]
    runs = load_runs(files)
    row = aggregate_group(runs, ("test_accuracy", "macro_f1", "mcc", "val_accuracy", "epochs"))
    assert set(row["metrics"]) == {"test_accuracy", "macro_f1", "mcc", "val_accuracy", "epochs"}
    val = row["metrics"]["val_accuracy"]
    assert val["mean"] == pytest.approx(0.55) and val["ci_low"] < 0.55 < val["ci_high"]
    epochs = row["metrics"]["epochs"]
    assert epochs["values"] == [1, 11, 21]  # 1-based
    assert (epochs["ci_low"], epochs["ci_high"]) == (1, 21)


def test_missing_predictions_file_is_reported_with_its_path(tmp_path):
    path = write_run(tmp_path, "p", "e", "fer2013", 0, [0, 1, 2], [0, 1, 1])
    (path.parent / "predictions.parquet").unlink()
    with pytest.raises(RunFileError, match=r"predictions\.parquet is missing"):
        aggregate([path])


# ------------------------------------------------------------------------------------------ claims


def paper_config(**extra_experiments) -> dict:
    experiments = {
        "proposed": {
            "description": "the model",
            "claims": [
                {"table": "T1", "row": "ours", "dataset": "fer2013", "metric": "test_accuracy", "value": 0.70},
                {"table": "T1", "row": "ours", "dataset": "fer2013", "metric": "macro_f1", "value": 0.10},
                {
                    "table": "T1",
                    "row": "ours",
                    "dataset": "fer2013",
                    "metric": "test_accuracy",
                    "value": 0.95,
                    "note": "high",
                },
                {
                    "table": "T2",
                    "row": "mobile",
                    "dataset": "fer2013",
                    "metric": "latency_ms",
                    "value": 68,
                    "untestable": "a phone latency: not measurable here",
                },
                {"table": "T3", "row": "secret", "dataset": "privateset", "metric": "test_accuracy", "value": 0.9},
                {"table": "T3", "row": "faces", "dataset": "utkface", "metric": "test_accuracy", "value": 0.9},
                {"table": "T4", "row": "other", "dataset": "jaffe", "metric": "test_accuracy", "value": 0.9},
                {"table": "E", "row": "size", "dataset": "fer2013", "metric": "params", "value": 11_600_000},
                {"table": "E", "row": "flops", "dataset": "fer2013", "metric": "gflops", "value": 4.2},
                {"table": "E", "row": "gpu", "dataset": "fer2013", "metric": "latency_ms", "value": 21},
            ],
        },
        "proposed_leaky": {
            "balance": {"method": "oversample", "order": "leaky"},
            "claims": [{"table": "T1", "row": "ours", "dataset": "fer2013", "metric": "test_accuracy", "value": 0.70}],
        },
        "undescribed": {
            "runnable": False,
            "description": "Not runnable: the paper gives no protocol",
            "claims": [{"table": "T5", "row": "x", "dataset": "fer2013", "metric": "test_accuracy", "value": 0.8}],
        },
    }
    experiments.update(extra_experiments)
    return {"paper": "demo", "title": "demo", "experiments": experiments}


def group(experiment, dataset, eval_dataset, acc, low, high, synthetic=False, leaky=False):
    metric = {"mean": acc, "sd": 0.01, "ci_low": low, "ci_high": high, "interval": "bootstrap BCa 95% CI"}
    return {
        "paper": "demo",
        "experiment": experiment,
        "dataset": dataset,
        "eval_dataset": eval_dataset,
        "synthetic": synthetic,
        "leaky": leaky,
        "n_seeds": 3,
        "n_folds": 0,
        "metrics": {"test_accuracy": metric, "macro_f1": dict(metric, mean=0.5, ci_low=0.45, ci_high=0.55)},
    }


def efficiency_report(gpu: bool) -> dict:
    latency = {"threads": 2, "device_name": "cpu", "results": [{"batch_size": 1, "median_ms": 118.0}]}
    gpu_latency = (
        {
            "device_name": "A GPU",
            "results": [{"batch_size": 1, "n_runs": 50, "times_ms": list(np.linspace(19.0, 23.0, 50))}],
        }
        if gpu
        else None
    )
    model = {
        "model": "demo.net",
        "input_shape": [3, 224, 224],
        "num_classes": 7,
        "parameters": {"total": 11_152_897},
        "flops": {"gflops": 6.021, "gmacs": 3.0105},
        "latency_cpu": latency,
        "latency_gpu": gpu_latency,
    }
    return {"demo": {"paper": "demo", "models": {"m0": model}, "experiments": {"proposed": {"fer2013": "m0"}}}}


@pytest.fixture(scope="module")
def registry():
    return load_registry(REPO / "config" / "datasets.yaml")


def table_for(groups, registry, gpu=False, papers=("demo",), cfg=None):
    return claim_rows(
        [cfg or paper_config()], groups, efficiency_report(gpu), registry, Workspace("full", tuple(papers))
    )


def test_one_row_per_claim_with_every_verdict_and_reason(registry):
    groups = [
        group("proposed", "fer2013", "fer2013", 0.69, 0.66, 0.72),
        group("proposed_leaky", "fer2013", "fer2013", 0.9, 0.88, 0.92, leaky=True),
    ]
    table = table_for(groups, registry)
    cfg = paper_config()
    assert len(table) == sum(len(e.get("claims", [])) for e in cfg["experiments"].values())
    by = {(r["table"], r["row"], r["metric"], r["experiment"], r["claimed"]): r for r in table.to_dict("records")}

    def check(key, verdict, reason=""):
        row = by[key]
        assert row["verdict"] == verdict, row
        assert reason in row["reason / note"], row
        return row

    check(("T1", "ours", "test_accuracy", "proposed", "0.7000"), "reproduced")
    check(("T1", "ours", "test_accuracy", "proposed", "0.9500"), "not reproduced (higher)")
    check(("T1", "ours", "macro_f1", "proposed", "0.1000"), "not reproduced (lower)")
    check(("T1", "ours", "test_accuracy", "proposed_leaky", "0.7000"), "not reproduced (lower)")
    check(("T2", "mobile", "latency_ms", "proposed", "68"), "untestable", "phone latency")
    check(("T3", "secret", "test_accuracy", "proposed", "0.9000"), "untestable", "not in config/datasets.yaml")
    check(
        ("T3", "faces", "test_accuracy", "proposed", "0.9000"), "untestable", registry["utkface"].no_labels_reason[:30]
    )
    check(
        ("T4", "other", "test_accuracy", "proposed", "0.9000"), "untestable", "no run of proposed was tested on jaffe"
    )
    assert "preset full" in by[("T4", "other", "test_accuracy", "proposed", "0.9000")]["reason / note"]
    check(("T5", "x", "test_accuracy", "undescribed", "0.8000"), "untestable", "the paper gives no protocol")
    ours = by[("T1", "ours", "test_accuracy", "proposed", "0.7000")]
    assert (ours["ours (mean ± sd)"], ours["95% CI"], ours["n seeds (folds)"]) == (
        "0.6900 ± 0.0100",
        "[0.6600, 0.7200]",
        "3",
    )


def test_efficiency_claims_exact_counts_with_rounding_and_both_flop_readings(registry):
    table = table_for([], registry)
    rows = {r["metric"]: r for r in table.to_dict("records") if r["table"] == "E"}
    # 11,152,897 does not round to 11.6 M (11.55-11.65 M): the claim is higher than ours.
    assert rows["params"]["verdict"] == "not reproduced (higher)" and rows["params"]["ours (mean ± sd)"] == "11.153 M"
    # 6.021 GFLOPs (2 per MAC): the claim 4.2 is lower; read as MACs (3.01) it is higher, and the note says so.
    assert rows["gflops"]["verdict"] == "not reproduced (lower)"
    assert (
        "3.010 GMACs" in rows["gflops"]["reason / note"]
        and "not reproduced (higher)" in rows["gflops"]["reason / note"]
    )
    assert rows["latency_ms"]["verdict"] == "untestable" and "no GPU" in rows["latency_ms"]["reason / note"]
    assert "118.0 ms" in rows["latency_ms"]["reason / note"]


def test_gpu_latency_is_compared_with_the_median_ci(registry):
    table = table_for([], registry, gpu=True)
    [row] = [r for r in table.to_dict("records") if r["row"] == "gpu"]
    assert row["verdict"] == "reproduced" and "A GPU" in row["reason / note"]
    parameters = copy.deepcopy(paper_config())
    parameters["experiments"]["proposed"]["claims"] = [
        {"table": "E", "row": "size", "dataset": "fer2013", "metric": "params", "value": 11_150_000}
    ]
    [exact] = [r for r in table_for([], registry, cfg=parameters).to_dict("records") if r["metric"] == "params"]
    assert exact["verdict"] == "reproduced"  # 11,152,897 rounds to 11.15 M


def test_synthetic_runs_are_shown_but_never_compared(registry):
    groups = [group("proposed", "synthetic", "synthetic", 0.7, 0.6, 0.8, synthetic=True)]
    table = table_for(groups, registry)
    row = table[(table.table == "T1") & (table.metric == "test_accuracy") & (table.experiment == "proposed")].iloc[0]
    assert row["verdict"] == "synthetic only" and row["ours (mean ± sd)"] == "0.7000 ± 0.0100"
    assert "synthetic" in row["reason / note"]
    # ... but a permanent reason still wins over 'synthetic only'
    assert table[table.table == "T3"]["verdict"].eq("untestable").all()


def test_cross_dataset_runs_answer_a_claim_on_the_target_dataset(registry):
    groups = [group("proposed", "fer2013", "jaffe", 0.85, 0.8, 0.92)]
    table = table_for(groups, registry)
    [row] = table[table.table == "T4"].to_dict("records")
    assert row["verdict"] == "reproduced" and "trained on fer2013, tested on jaffe" in row["reason / note"]


def test_leaky_rows_sit_next_to_their_proper_rows(registry):
    table = table_for([], registry)
    experiments = list(table["experiment"])
    proper = experiments.index("proposed")  # the first T1 accuracy claim
    assert experiments[proper + 1] == "proposed_leaky" and table.iloc[proper + 1]["variant"] == "LEAKY"


def test_not_run_paper_is_named_in_the_reason(registry):
    table = table_for([], registry, papers=())
    row = table[(table.table == "T1") & (table.metric == "macro_f1")].iloc[0]
    assert row["verdict"] == "untestable" and "not in `papers:`" in row["reason / note"]


def test_every_real_paper_claim_gets_a_row(registry):
    papers = [load_paper_config(p) for p in sorted((REPO / "config" / "papers").glob("*.yaml"))]
    table = claim_rows(papers, [], {}, registry, Workspace("quick", tuple(p["paper"] for p in papers)))
    expected = sum(len(e.get("claims") or []) for p in papers for e in p["experiments"].values())
    assert len(table) == expected and set(table["paper"]) == {p["paper"] for p in papers}
    assert set(table["verdict"]) <= {"untestable"}  # nothing ran: no number, no verdict
    assert table["reason / note"].str.len().gt(0).all()


def test_claims_chart_is_written(tmp_path, registry):
    groups = [group("proposed", "fer2013", "fer2013", 0.69, 0.66, 0.72)]
    claims_mod.plot_claims(table_for(groups, registry), tmp_path / "claims.png")
    assert (tmp_path / "claims.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------------------ comparisons


def test_comparisons_must_name_existing_experiments():
    cfg = paper_config()
    cfg["comparisons"] = [{"a": "proposed", "b": "nonexistent", "label": "x"}]
    with pytest.raises(ConfigError, match=r"demo.yaml: comparisons\[0\].*`b: nonexistent` is not an experiment"):
        validate_comparisons(cfg, "demo.yaml")
    cfg["comparisons"] = [{"a": "proposed", "b": "proposed", "label": "x"}]
    with pytest.raises(ConfigError, match="with itself"):
        validate_comparisons(cfg, "demo.yaml")


def test_comparisons_schema_accepts_pairs_and_rejects_unknown_keys():
    cfg = paper_config()
    cfg["comparisons"] = [{"a": "proposed", "b": "proposed_leaky", "label": "ok"}]
    validate_against_schema(cfg, "paper.schema.yaml", "demo.yaml")
    cfg["comparisons"] = [{"a": "proposed", "b": "proposed_leaky", "labl": "typo"}]
    with pytest.raises(ConfigError, match="comparisons/0"):
        validate_against_schema(cfg, "paper.schema.yaml", "demo.yaml")


def test_the_real_paper_configs_declare_valid_comparisons():
    papers = sorted(p.stem for p in (REPO / "config" / "papers").glob("*.yaml"))
    # loading a paper config checks its comparisons (validate_comparisons)
    assert all(load_paper_config(REPO / "config" / "papers" / f"{p}.yaml").get("comparisons") for p in papers)


def test_paired_comparison_uses_mcnemar_on_the_hand_made_table(tmp_path):
    # 60 samples: both right on 30, only a right on 12, only b right on 3, both wrong on 15.
    right_a = np.r_[np.ones(30), np.ones(12), np.zeros(3), np.zeros(15)].astype(bool)
    right_b = np.r_[np.ones(30), np.zeros(12), np.ones(3), np.zeros(15)].astype(bool)
    y_true = np.arange(60) % 7
    files = [
        write_run(tmp_path, "demo", "a", "fer2013", 0, y_true, np.where(right_a, y_true, (y_true + 1) % 7)),
        write_run(tmp_path, "demo", "b", "fer2013", 0, y_true, np.where(right_b, y_true, (y_true + 1) % 7)),
    ]
    cfg = {"paper": "demo", "experiments": {"a": {}, "b": {}}, "comparisons": [{"a": "a", "b": "b", "label": "a vs b"}]}
    [row] = comparison_rows([cfg], load_runs(files)).to_dict("records")
    assert row["McNemar (only a / only b correct)"] == "12 / 3"
    from scipy.stats import binomtest

    assert float(row["McNemar p"].split()[0]) == pytest.approx(binomtest(3, 15, 0.5).pvalue, rel=1e-2)
    assert row["difference a - b"] == "0.1500" and row["n pairs"] == 60


def test_leaky_vs_proper_is_compared_unpaired(tmp_path):
    rng = np.random.default_rng(3)
    files = [
        write_run(
            tmp_path,
            "demo",
            "a",
            "fer2013",
            0,
            *outcomes(rng, 100, 0.9),
            ids=[f"leak{i}" for i in range(100)],
            leaky=True,
        ),
        write_run(tmp_path, "demo", "b", "fer2013", 0, *outcomes(rng, 100, 0.5)),
    ]
    cfg = {"paper": "demo", "experiments": {"a": {}, "b": {}}, "comparisons": [{"a": "a", "b": "b", "label": "leak"}]}
    [row] = comparison_rows([cfg], load_runs(files)).to_dict("records")
    assert row["McNemar p"] == "" and "unpaired" in row["note"]
    low, high = (float(v) for v in row["95% CI"].strip("[]").split(","))
    assert 0 < low < high


def test_samples_one_fusion_model_could_not_score_are_dropped_from_the_pairs(tmp_path):
    y = np.arange(20) % 7
    ids = [f"s{i}" for i in range(20)]
    files = [
        write_run(tmp_path, "demo", "a", "fer2013", 0, y[2:], y[2:], ids[2:], excluded=ids[:2]),
        write_run(tmp_path, "demo", "b", "fer2013", 0, y, (y + 1) % 7, ids),
    ]
    cfg = {"paper": "demo", "experiments": {"a": {}, "b": {}}, "comparisons": [{"a": "a", "b": "b", "label": "f"}]}
    [row] = comparison_rows([cfg], load_runs(files)).to_dict("records")
    assert row["n pairs"] == 18 and "2 samples scored by only one model" in row["note"]


# ------------------------------------------------------------------------------------------ robustness


def test_robustness_table_checks_both_readings_of_the_claim():
    report = {
        "paper": "abdeldayem2025",
        "group": "full",
        "dataset": "synthetic",
        "seed": 0,
        "fold": None,
        "clean_accuracy": 0.5,
        "synthetic": True,
        "conditions": [
            {
                "perturbation": "occlusion",
                "severity": 1,
                "magnitude": 0.05,
                "accuracy": 0.48,
                "drop_pp": 2.0,
                "drop_ci_low_pp": 0.5,
                "drop_ci_high_pp": 3.5,
                "relative_drop_pct": 4.0,
            }
        ],
    }
    [row] = robustness_rows([report]).to_dict("records")
    # 2 pp absolute is within "< 3"; relative to a clean accuracy of 0.5 it is a 4 % drop, which is not.
    assert row["paper's claim"].startswith("< 3 (§4.4") and row["within claim (pp / relative)"] == "yes / no"
    two = robustness_rows([report, dict(report, seed=1)])
    mean_row = two[two["seed"] == "mean of 2"].iloc[0]
    assert mean_row["drop (pp)"] == "2.00 ± 0.00"


def test_a_run_capped_by_the_preset_cannot_refute_a_higher_claim(registry):
    cfg = paper_config()
    cfg["defaults"] = {"max_epochs": 150}
    capped = dict(group("proposed", "fer2013", "fer2013", 0.69, 0.66, 0.72), max_epochs=10, runs_at_epoch_limit=3)
    rows = {
        (r["metric"], r["claimed"]): r
        for r in table_for([capped], registry, cfg=cfg).to_dict("records")
        if r["experiment"] == "proposed" and r["table"] == "T1"
    }
    higher = rows[("test_accuracy", "0.9500")]
    assert higher["verdict"] == "untestable" and "capped at 10 epochs" in higher["reason / note"]
    assert "allows 150" in higher["reason / note"] and higher["ours (mean ± sd)"] == "0.6900 ± 0.0100"
    # A claim BELOW what even the capped runs reach is still refuted, and one inside the CI still agrees.
    assert rows[("macro_f1", "0.1000")]["verdict"] == "not reproduced (lower)"
    assert rows[("test_accuracy", "0.7000")]["verdict"] == "reproduced"
    # Runs that stopped early (or had the paper's own budget) are not flagged.
    for uncapped in (dict(capped, runs_at_epoch_limit=0), dict(capped, max_epochs=150)):
        row = next(
            r
            for r in table_for([uncapped], registry, cfg=cfg).to_dict("records")
            if r["experiment"] == "proposed" and r["claimed"] == "0.9500"
        )
        assert row["verdict"] == "not reproduced (higher)" and "capped" not in row["reason / note"]


def test_an_epoch_count_claim_is_a_count_and_a_capped_run_cannot_test_it(registry):
    cfg = paper_config()
    cfg["defaults"] = {"max_epochs": 150}
    cfg["experiments"]["proposed"]["claims"].append(
        {"table": "T1", "row": "ours", "dataset": "fer2013", "metric": "epochs", "value": 76}
    )
    epochs = {"mean": 1.0, "sd": 0.0, "ci_low": 1.0, "ci_high": 1.0, "interval": "range over runs"}
    base = group("proposed", "fer2013", "fer2013", 0.69, 0.66, 0.72)
    base["metrics"]["epochs"] = epochs

    def epochs_row(g):
        return next(
            r
            for r in table_for([g], registry, cfg=cfg).to_dict("records")
            if r["experiment"] == "proposed" and r["metric"] == "epochs"
        )

    # 76 against [1, 1] is a count comparison, not a percentage mistake.
    assert epochs_row(dict(base, max_epochs=150, runs_at_epoch_limit=0))["verdict"] == "not reproduced (higher)"
    capped = epochs_row(dict(base, max_epochs=3, runs_at_epoch_limit=1))
    assert capped["verdict"] == "untestable" and "capped at 3 epochs" in capped["reason / note"]
