"""Label subsets, offline augmentation (proper and leaky), the leaky order with fused features and a
per-class pool, and cross-dataset evaluation, on tiny synthetic data written by the tests."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_training import TINY_IAFEN, _spec

from ferrepro.data.standard import load_decoded
from ferrepro.evaluation.evaluate import evaluate_run
from ferrepro.training.arrays import prepare_run_arrays
from ferrepro.training.run import train_run


@pytest.fixture(scope="module")
def hog_file(tiny_synthetic, tmp_path_factory):
    from ferrepro.features import compute_feature

    path = tmp_path_factory.mktemp("features") / "hog.npy"
    np.save(path, compute_feature("hog", np.asarray(load_decoded(tiny_synthetic).images)).features)
    return path


def _origins(ids):
    return {str(i).split("#")[0] for i in ids}


def test_a_label_subset_leaves_other_classes_out_and_counts_them(tiny_synthetic, split_csv):
    arrays, report = prepare_run_arrays(_spec(label_set=["sad", "happy"]), tiny_synthetic, split_csv)
    samples = load_decoded(tiny_synthetic).samples.set_index("sample_id")
    split = pd.read_csv(split_csv).set_index("sample_id")["split"]
    for name, a in arrays.items():
        assert set(np.unique(a.y)) == {0, 1}  # happy = 0, sad = 1 (canonical order)
        labels = samples.loc[split.index[split == name], "label"]
        expected = labels[~labels.isin(["happy", "sad"])].value_counts().sort_index().to_dict()
        assert a.excluded_labels == expected and report["excluded_labels"][name] == expected
        assert len(a.y) + sum(expected.values()) == len(labels)  # nothing lost silently


def test_proper_offline_augmentation_adds_augmented_training_copies_only(tiny_synthetic, split_csv):
    plain, _ = prepare_run_arrays(_spec(augmentation="nauman2025"), tiny_synthetic, split_csv)
    spec = _spec(augmentation="nauman2025", balance={"method": "augment", "copies": 2})
    arrays, report = prepare_run_arrays(spec, tiny_synthetic, split_csv)
    n = len(plain["train"].y)
    assert report == {**report, "leaky": False, "n_before": n, "n_after": 3 * n}
    assert np.array_equal(arrays["train"].x[:n], plain["train"].x)  # copy 0 is the image itself
    assert not np.allclose(arrays["train"].x[n : 2 * n], plain["train"].x)  # copies are really augmented
    for s in ("val", "test"):
        assert list(arrays[s].sample_ids) == list(plain[s].sample_ids)


def test_augment_without_a_policy_is_refused(tiny_synthetic, split_csv):
    with pytest.raises(ValueError, match="needs the run's `augmentation` policy"):
        prepare_run_arrays(_spec(balance={"method": "augment"}), tiny_synthetic, split_csv)


def test_leaky_augmentation_with_features_and_a_per_class_pool(tiny_synthetic, split_csv, hog_file):
    spec = _spec(
        augmentation="nauman2025",
        features=["hog"],
        train_per_class=10,
        balance={"method": "augment", "copies": 1, "order": "leaky", "fractions": [0.8, 0.1, 0.1]},
    )
    arrays, report = prepare_run_arrays(spec, tiny_synthetic, split_csv, [str(hog_file)])
    assert report["leaky"] is True and "LEAKY" in report["label"]
    assert report["pool_subsample"]["n_after"] == 7 * 10 and report["pool_size"] == 2 * 7 * 10
    assert sum(len(a.y) for a in arrays.values()) == 140
    hog = np.load(hog_file)
    position = {sid: i for i, sid in enumerate(load_decoded(tiny_synthetic).samples["sample_id"])}
    for a in arrays.values():  # an augmented copy carries the cached features of its original
        rows = [position[str(i).split("#")[0]] for i in a.sample_ids]
        assert np.array_equal(a.features, hog[rows])
    leaked = (_origins(arrays["val"].sample_ids) | _origins(arrays["test"].sample_ids)) & _origins(
        arrays["train"].sample_ids
    )
    assert leaked and report["eval_rows_sharing_origin_with_train"] > 0


def test_leaky_smote_with_features_is_refused(tiny_synthetic, split_csv, hog_file):
    spec = _spec(features=["hog"], balance={"method": "smote", "order": "leaky"})
    with pytest.raises(ValueError, match="leaky SMOTE with fused features"):
        prepare_run_arrays(spec, tiny_synthetic, split_csv, [str(hog_file)])


@pytest.fixture(scope="module")
def other_domain(tmp_path_factory):
    """A second synthetic dataset (other identities, other resolution) to test a trained model on."""
    from ferrepro.data.synthetic import SyntheticSpec, write_synthetic

    out = tmp_path_factory.mktemp("decoded") / "synthetic_shift"
    write_synthetic(
        SyntheticSpec(n_subjects=3, images_per_subject_per_class=2, size=64, seed=99), out, name="synthetic_shift"
    )
    return out


def test_cross_dataset_evaluation_scores_every_sample_of_the_target(tiny_synthetic, split_csv, other_domain, tmp_path):
    run = tmp_path / "run"
    train_run(
        _spec(max_epochs=1, label_set="basic6", train_per_class=5, balance={"method": "oversample"}),
        tiny_synthetic,
        split_csv,
        run,
    )
    out = tmp_path / "cross"
    m = evaluate_run(run, other_domain, None, out_dir=out, eval_dataset="synthetic_shift")
    target = load_decoded(other_domain).samples
    # Training-set manipulation (subsampling, balancing) never touches the target: every sample of a
    # known class is scored, the 6 neutral images (3 subjects x 2) are counted, not scored.
    assert m["n"] == len(target) - 6 and m["excluded_labels"] == {"neutral": 6}
    assert m["eval_dataset"] == "synthetic_shift" and m["cross_dataset"] is True and m["dataset"] == "synthetic"
    assert json.loads((out / "metrics.json").read_text())["n"] == m["n"]
    predictions = pd.read_parquet(out / "predictions.parquet")
    assert sorted(predictions["sample_id"]) == sorted(target.loc[target["label"] != "neutral", "sample_id"])
    assert (out / "confusion_matrix.png").stat().st_size > 0
    assert not (out / "learning_curve.png").exists()  # the curve belongs to the run, not to a test set


def test_cross_evaluation_of_a_fusion_model_needs_the_target_features(
    tiny_synthetic, split_csv, hog_file, other_domain, tmp_path
):
    from ferrepro.features import compute_feature

    run = tmp_path / "run"
    train_run(
        _spec(max_epochs=1, model="nauman2025.ia_fen", model_kwargs=TINY_IAFEN, features=["hog"]),
        tiny_synthetic,
        split_csv,
        run,
        [str(hog_file)],
    )
    target = np.asarray(load_decoded(other_domain).images)
    with pytest.raises(ValueError, match="one row per decoded sample"):  # the training dataset's cache
        evaluate_run(run, other_domain, None, [str(hog_file)], out_dir=tmp_path / "bad", eval_dataset="synthetic_shift")
    native = tmp_path / "hog_native.npy"  # the target's own 64x64 HoG: another length
    np.save(native, compute_feature("hog", target).features)
    with pytest.raises(ValueError, match="same `resize`"):
        evaluate_run(run, other_domain, None, [str(native)], out_dir=tmp_path / "bad", eval_dataset="synthetic_shift")
    target_hog = tmp_path / "hog.npy"
    np.save(target_hog, compute_feature("hog", target, {"resize": 48}).features)
    m = evaluate_run(
        run, other_domain, None, [str(target_hog)], out_dir=tmp_path / "cross", eval_dataset="synthetic_shift"
    )
    assert m["n"] == len(load_decoded(other_domain).samples)
