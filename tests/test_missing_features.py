"""Rows whose fused feature vector has a NaN (e.g. no face for dlib): training rows are excluded and
counted, validation and test rows are kept, filled from the TRAINING split's per-column means, flagged and
counted (``missing_features``, default ``{train: exclude, evaluate: impute}``)."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import REPO
from test_training import TINY_IAFEN
from test_training import _spec as training_spec

from ferrepro.config import (
    ConfigError,
    load_config,
    load_paper_config,
    resolve_spec,
    validate_against_schema,
)
from ferrepro.data.standard import load_decoded
from ferrepro.runspec import MissingFeatures
from ferrepro.training.arrays import prepare_run_arrays

WIDTH = 6  # feature columns: the first 4 play "HoG" (always there), the last 2 "landmarks" (NaN on failure)
BROKEN = {"train": 3, "val": 1, "test": 3}


def _spec(**overrides):
    """A tiny IA-FEN fusing one cached feature file (the shape of a nauman2025 fused run)."""
    fused = {
        "paper": "nauman2025",
        "experiment": "fused",
        "model": "nauman2025.ia_fen",
        "features": ["hog"],
        "model_kwargs": TINY_IAFEN,
        "max_epochs": 1,
    }
    return training_spec(**(fused | overrides))


@pytest.fixture(scope="module")
def broken(tiny_synthetic, split_csv, tmp_path_factory):
    """A feature cache (hog.npy) with NaN 'landmark' columns on a few rows of each split, plus those rows'
    ids per split and the full matrix."""
    samples = load_decoded(tiny_synthetic).samples
    split = pd.read_csv(split_csv).set_index("sample_id")["split"]
    features = np.random.default_rng(3).normal(size=(len(samples), WIDTH)).astype(np.float32)
    features[:, 4:] += 10.0  # column means far from 0, so a zero fill could not pass for the mean
    ids = samples["sample_id"].astype(str).to_numpy()
    rows = {}
    for name, k in BROKEN.items():
        rows[name] = [i for i, s in enumerate(ids) if split[s] == name][:k]
        features[rows[name], 4:] = np.nan
    # One test row misses only one landmark column: only that value is filled.
    features[rows["test"][0], 4] = 1.5
    path = tmp_path_factory.mktemp("features") / "hog.npy"
    np.save(path, features)
    return path, {k: [ids[i] for i in v] for k, v in rows.items()}, features


def _train_means(features, ids, split_csv, broken_train):
    split = pd.read_csv(split_csv).set_index("sample_id")["split"]
    complete = [i for i, s in enumerate(ids) if split[s] == "train" and s not in broken_train]
    return features[complete].astype(np.float64).mean(axis=0)


def test_default_keeps_test_rows_fills_them_from_training_means_and_excludes_training_rows(
    tiny_synthetic, split_csv, broken
):
    path, broken_ids, features = broken
    split = pd.read_csv(split_csv)
    ids = load_decoded(tiny_synthetic).samples["sample_id"].astype(str).to_numpy()
    arrays, report = prepare_run_arrays(_spec(), tiny_synthetic, split_csv, [str(path)])

    test = arrays["test"]
    n_test = int((split["split"] == "test").sum())
    assert len(test.y) == n_test and test.excluded == []  # every test image is kept ...
    assert test.imputed_ids == broken_ids["test"]  # ... and the filled ones are flagged
    assert not np.isnan(test.features).any()
    means = _train_means(features, ids, split_csv, set(broken_ids["train"]))
    position = {s: i for i, s in enumerate(test.sample_ids)}
    first, *rest = broken_ids["test"]
    assert test.features[position[first], 4] == pytest.approx(1.5)  # a value that was there stays
    assert test.features[position[first], 5] == pytest.approx(means[5], rel=1e-6)
    for sid in rest:
        assert np.allclose(test.features[position[sid], 4:], means[4:], rtol=1e-6)
        assert np.array_equal(test.features[position[sid], :4], features[list(ids).index(sid), :4])
    assert arrays["val"].imputed_ids == broken_ids["val"] and arrays["val"].excluded == []

    train = arrays["train"]
    assert train.excluded == broken_ids["train"]
    assert len(train.y) == int((split["split"] == "train").sum()) - BROKEN["train"]
    assert not train.imputed.any() and not set(broken_ids["train"]) & set(train.sample_ids)

    missing = report["missing_features"]
    assert missing["train"] == "exclude" and missing["evaluate"] == "impute"
    assert missing["excluded"] == {"train": 3, "val": 0, "test": 0}
    assert missing["imputed"] == {"train": 0, "val": 1, "test": 3}


def test_fill_values_use_no_validation_or_test_information(tiny_synthetic, split_csv, broken, tmp_path):
    path, broken_ids, features = broken
    ids = load_decoded(tiny_synthetic).samples["sample_id"].astype(str).to_numpy()
    split = pd.read_csv(split_csv).set_index("sample_id")["split"]
    shifted = features.copy()
    evaluation = [i for i, s in enumerate(ids) if split[s] != "train"]
    shifted[evaluation] += 100.0  # NaN stays NaN
    other = tmp_path / "hog.npy"
    np.save(other, shifted)
    a, report_a = prepare_run_arrays(_spec(), tiny_synthetic, split_csv, [str(path)])
    b, report_b = prepare_run_arrays(_spec(), tiny_synthetic, split_csv, [str(other)])
    last = list(a["test"].sample_ids).index(broken_ids["test"][-1])
    assert np.array_equal(a["test"].features[last, 4:], b["test"].features[last, 4:])
    assert report_a["missing_features"]["fill_sha256"] == report_b["missing_features"]["fill_sha256"]


def test_a_paper_may_exclude_evaluation_rows_or_impute_training_rows(tiny_synthetic, split_csv, broken):
    path, broken_ids, _ = broken
    excluded, report = prepare_run_arrays(
        _spec(missing_features={"evaluate": "exclude"}), tiny_synthetic, split_csv, [str(path)]
    )
    assert excluded["test"].excluded == broken_ids["test"] and not excluded["test"].imputed.any()
    assert report["missing_features"]["imputed"] == {"train": 0, "val": 0, "test": 0}
    assert report["missing_features"]["excluded"] == BROKEN

    imputed, report = prepare_run_arrays(
        _spec(missing_features={"train": "impute"}), tiny_synthetic, split_csv, [str(path)]
    )
    assert imputed["train"].excluded == [] and imputed["train"].imputed_ids == broken_ids["train"]
    assert not np.isnan(imputed["train"].features).any()
    assert report["missing_features"]["imputed"] == BROKEN


def test_imputed_flags_follow_training_subsampling(tiny_synthetic, split_csv, broken):
    path, broken_ids, _ = broken
    arrays, report = prepare_run_arrays(
        _spec(missing_features={"train": "impute"}, train_per_class=2), tiny_synthetic, split_csv, [str(path)]
    )
    kept = set(arrays["train"].sample_ids)
    assert arrays["train"].imputed_ids == [s for s in broken_ids["train"] if s in kept]
    assert report["missing_features"]["imputed"]["train"] == int(arrays["train"].imputed.sum())


def test_leaky_order_applies_the_training_rule_to_the_whole_pool(tiny_synthetic, split_csv, broken):
    path, broken_ids, _ = broken
    spec = _spec(balance={"method": "oversample", "order": "leaky", "fractions": [0.6, 0.2, 0.2]})
    arrays, report = prepare_run_arrays(spec, tiny_synthetic, split_csv, [str(path)])
    every = [s for k in ("train", "val", "test") for s in broken_ids[k]]
    assert sorted(arrays["test"].excluded) == sorted(every)
    assert not any(a.imputed.any() for a in arrays.values())
    assert report["missing_features"]["applied"] == {"train": "exclude", "evaluate": "exclude"}


def test_cross_dataset_evaluation_has_no_training_split_to_fill_from(tiny_synthetic, broken):
    path, broken_ids, _ = broken
    arrays, report = prepare_run_arrays(_spec(), tiny_synthetic, None, [str(path)])
    every = sorted(s for k in ("train", "val", "test") for s in broken_ids[k])
    assert sorted(arrays["test"].excluded) == every and not arrays["test"].imputed.any()
    assert report["missing_features"]["applied"]["evaluate"] == "exclude"
    assert report["missing_features"]["fill"] is None


def test_training_and_evaluation_report_the_same_imputation(tiny_synthetic, split_csv, broken, tmp_path):
    from ferrepro.evaluation.evaluate import evaluate_run
    from ferrepro.training.run import train_run

    path, broken_ids, _ = broken
    summary = train_run(_spec(), tiny_synthetic, split_csv, tmp_path, [str(path)])
    assert summary["excluded_missing_features"] == {"train": 3, "val": 0, "test": 0}
    assert summary["imputed_missing_features"] == {"train": 0, "val": 1, "test": 3}
    assert summary["missing_features"]["evaluate"] == "impute"

    metrics = evaluate_run(tmp_path, tiny_synthetic, split_csv, [str(path)])
    n_test = int((pd.read_csv(split_csv)["split"] == "test").sum())
    assert metrics["n"] == summary["n_test"] == n_test
    assert metrics["excluded_missing_features"] == []
    assert metrics["imputed_missing_features"] == broken_ids["test"] and metrics["n_imputed_missing_features"] == 3
    assert metrics["missing_features"]["fill_sha256"] == summary["missing_features"]["fill_sha256"] is not None
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["n_imputed_missing_features"] == 3
    predictions = pd.read_parquet(tmp_path / "predictions.parquet")
    assert predictions["features_imputed"].dtype == bool
    assert list(predictions.loc[predictions["features_imputed"], "sample_id"]) == broken_ids["test"]


def test_fusion_specs_get_the_default_and_image_only_specs_none():
    config = load_config(REPO / "config" / "config.yaml")
    paper = load_paper_config(REPO / "config" / "papers" / "nauman2025.yaml")
    fused = resolve_spec(paper, "cnn_hog_1000pc", "fer2013", 0, config).to_dict()
    assert fused["missing_features"] == MissingFeatures().policy() == {"train": "exclude", "evaluate": "impute"}
    assert "missing_features" not in resolve_spec(paper, "cnn_1000pc", "fer2013", 0, config).to_dict()
    paper["experiments"]["cnn_hog_1000pc"]["missing_features"] = {"evaluate": "exclude"}
    assert resolve_spec(paper, "cnn_hog_1000pc", "fer2013", 0, config).to_dict()["missing_features"] == {
        "train": "exclude",
        "evaluate": "exclude",
    }
    assert "missing_features" in paper["choices"]


def test_schema_accepts_the_setting_and_refuses_unknown_values():
    validate_against_schema(
        {"missing_features": {"train": "exclude", "evaluate": "impute"}}, "paper.schema.yaml", "test", "spec"
    )
    with pytest.raises(ConfigError, match="missing_features"):
        validate_against_schema({"missing_features": {"evaluate": "zero"}}, "paper.schema.yaml", "test", "spec")
    with pytest.raises(ConfigError, match="missing_features"):
        validate_against_schema({"missing_features": {"test": "impute"}}, "paper.schema.yaml", "test", "spec")
