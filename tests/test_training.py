"""Training and evaluation on a tiny synthetic dataset, without Snakemake."""

import numpy as np
import pandas as pd
import pytest
import torch

from ferrepro.data.splits import make_split
from ferrepro.data.standard import load_decoded
from ferrepro.evaluation.evaluate import evaluate_run
from ferrepro.evaluation.metrics import classification_metrics
from ferrepro.models.checkpoint import load_trained_model
from ferrepro.runspec import RunSpec
from ferrepro.training.module import InverseTimeDecay
from ferrepro.training.run import train_run


def _spec(seed=0, **overrides):
    spec = {
        "paper": "majeed2025",
        "experiment": "lenet5",
        "dataset": "synthetic",
        "seed": seed,
        "model": "majeed2025.lenet5",
        "split": "subject",
        "input": {"size": 48, "channels": "gray", "normalize": "per_image"},
        "optimizer": {"name": "adam", "lr": 0.001},
        "lr_schedule": {"name": "none"},
        "batch_size": 32,
        "max_epochs": 2,
        "early_stopping": {"monitor": "val_loss", "patience": 5},
        "checkpoint_monitor": "val_acc",
        "augmentation": "none",
        "class_weights": False,
        "trainer": {
            "accelerator": "cpu",
            "devices": 1,
            "precision": "32-true",
            "num_workers": 0,
            "deterministic": True,
            "threads": 1,
        },
    }
    spec.update(overrides)
    return RunSpec.from_dict(spec, "test_training._spec")


def test_train_then_evaluate_writes_every_output(tiny_synthetic, split_csv, tmp_path):
    summary = train_run(_spec(), tiny_synthetic, split_csv, tmp_path)
    assert summary["epochs_run"] == 2 and 0 <= summary["selected_epoch"] < 2
    history = pd.read_csv(tmp_path / "history.csv")
    assert list(history["epoch"]) == [0, 1] and history[["train_loss", "val_acc"]].notna().all().all()

    metrics = evaluate_run(tmp_path, tiny_synthetic, split_csv)
    for name in ("predictions.parquet", "metrics.json", "confusion_matrix.png", "learning_curve.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    predictions = pd.read_parquet(tmp_path / "predictions.parquet")
    assert len(predictions) == metrics["n"] == summary["n_test"]
    probs = predictions.filter(like="prob_").to_numpy()
    assert np.allclose(probs.sum(1), 1, atol=1e-5)
    assert metrics["accuracy"] == pytest.approx((predictions.true_label == predictions.predicted_label).mean())
    assert np.array(metrics["confusion_matrix"]).sum() == metrics["n"]


def test_model_file_loads_with_weights_only(tiny_synthetic, split_csv, tmp_path):
    train_run(_spec(max_epochs=1), tiny_synthetic, split_csv, tmp_path)
    model, spec, classes = load_trained_model(tmp_path / "model.pt")
    assert spec.model == "majeed2025.lenet5" and len(classes) == 7
    assert model(torch.zeros(1, 1, 48, 48)).shape == (1, 7)


def test_same_seed_gives_the_same_cpu_metrics(tiny_synthetic, split_csv, tmp_path):
    a = train_run(_spec(seed=3), tiny_synthetic, split_csv, tmp_path / "a")
    b = train_run(_spec(seed=3), tiny_synthetic, split_csv, tmp_path / "b")
    ha, hb = pd.read_csv(tmp_path / "a" / "history.csv"), pd.read_csv(tmp_path / "b" / "history.csv")
    pd.testing.assert_frame_equal(ha, hb)
    assert a["selection_value"] == b["selection_value"]


def test_test_split_is_not_used_for_selection(tiny_synthetic, split_csv, tmp_path):
    # The selected checkpoint's score must be a validation score: recompute it from the history.
    summary = train_run(_spec(max_epochs=2), tiny_synthetic, split_csv, tmp_path)
    history = pd.read_csv(tmp_path / "history.csv")
    assert summary["selection_value"] == pytest.approx(history["val_acc"].max())
    assert summary["selection_value"] == pytest.approx(history.loc[summary["selected_epoch"], "val_acc"])


def test_inverse_time_decay_matches_keras_formula():
    schedule = InverseTimeDecay(1e-4)
    assert schedule(0) == 1.0
    assert schedule(10_000) == pytest.approx(0.5)


def test_classification_metrics_on_a_hand_made_case():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    m = classification_metrics(y_true, y_pred, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert m["per_class"]["c"]["recall"] == pytest.approx(0.5)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["macro_f1"] == pytest.approx(np.mean([0.5, 0.8, 2 / 3]))


def test_augmentation_touches_training_batches_only(tiny_synthetic, split_csv, tmp_path, monkeypatch):
    import ferrepro.training.run as run_module

    seen = []

    def recording_augmentation(spec):
        def augment(x, generator=None):
            seen.append(len(x))
            return x.flip(-1)

        return augment

    monkeypatch.setattr(run_module, "_augmentation", recording_augmentation)
    summary = train_run(_spec(max_epochs=2, augmentation="recording"), tiny_synthetic, split_csv, tmp_path)
    # Every training sample of both epochs went through it, and nothing else did.
    assert sum(seen) == 2 * summary["n_train"]


def test_paper_augmentation_policy_trains(tiny_synthetic, split_csv, tmp_path):
    summary = train_run(_spec(max_epochs=1, augmentation="majeed2025"), tiny_synthetic, split_csv, tmp_path)
    assert summary["epochs_run"] == 1


def test_normalize_batch():
    from ferrepro.training.inputs import normalize_batch

    x = torch.rand(4, 1, 8, 8)
    assert normalize_batch(x, "unit") is x
    z = normalize_batch(x, "per_image")
    assert torch.allclose(z.mean(dim=(1, 2, 3)), torch.zeros(4), atol=1e-5)
    assert torch.allclose(z.std(dim=(1, 2, 3), unbiased=False), torch.ones(4), atol=1e-4)
    assert torch.allclose(
        normalize_batch(torch.full((1, 1, 4, 4), 0.3), "per_image"), torch.zeros(1, 1, 4, 4), atol=1e-5
    )
    with pytest.raises(ValueError, match="normalisation"):
        normalize_batch(x, "zscore")


TINY_IAFEN = {"widths": [8, 8, 16, 16], "blocks_per_stage": [1, 1, 1, 1], "hidden_units": 16}


@pytest.fixture(scope="module")
def hog_file(tiny_synthetic, tmp_path_factory):
    from ferrepro.features import compute_feature

    ds = load_decoded(tiny_synthetic)
    path = tmp_path_factory.mktemp("features") / "hog.npy"
    np.save(path, compute_feature("hog", np.asarray(ds.images)).features)
    return path


def test_feature_fusion_trains_and_evaluates(tiny_synthetic, split_csv, hog_file, tmp_path):
    spec = _spec(model="nauman2025.ia_fen", model_kwargs=TINY_IAFEN, features=["hog"], max_epochs=1)
    summary = train_run(spec, tiny_synthetic, split_csv, tmp_path, [str(hog_file)])
    model, saved_spec, _ = load_trained_model(tmp_path / "model.pt")
    assert saved_spec.model_kwargs["feature_dim"] == np.load(hog_file).shape[1]
    assert model.uses_features
    metrics = evaluate_run(tmp_path, tiny_synthetic, split_csv, [str(hog_file)])
    assert metrics["n"] == summary["n_test"] and metrics["excluded_missing_features"] == []


def test_missing_feature_rows_are_excluded_and_reported(tiny_synthetic, split_csv, hog_file, tmp_path):
    """With `missing_features: {evaluate: exclude}`: the default keeps and fills them (test_missing_features.py)."""
    from ferrepro.runspec import InputSettings, MissingFeatures
    from ferrepro.training.arrays import load_split_arrays

    features = np.load(hog_file)
    split = pd.read_csv(split_csv)
    samples = load_decoded(tiny_synthetic).samples
    test_ids = set(split.loc[split["split"] == "test", "sample_id"])
    broken = [i for i, sid in enumerate(samples["sample_id"]) if sid in test_ids][:3]
    features[broken] = np.nan  # e.g. faces the landmark detector missed
    path = tmp_path / "hog.npy"
    np.save(path, features)
    arrays = load_split_arrays(
        tiny_synthetic,
        split_csv,
        InputSettings(size=48, channels="gray"),
        ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"),
        [path],
        missing_features=MissingFeatures(train="exclude", evaluate="exclude"),
    )
    assert arrays["test"].excluded == [samples["sample_id"][i] for i in broken]
    assert len(arrays["test"].y) == len(test_ids) - 3
    assert not np.isnan(arrays["test"].features).any()


def test_feature_files_must_match_the_spec(tiny_synthetic, split_csv, hog_file, tmp_path):
    spec = _spec(model="nauman2025.ia_fen", model_kwargs=TINY_IAFEN, features=["hog", "landmarks"])
    with pytest.raises(ValueError, match="fuses features"):
        train_run(spec, tiny_synthetic, split_csv, tmp_path, [str(hog_file)])


def _split_ids(arrays):
    return {s: {str(i).split("#")[0] for i in a.sample_ids} for s, a in arrays.items()}


def test_proper_balancing_touches_the_training_split_only(tiny_synthetic, split_csv):
    from ferrepro.training.arrays import prepare_run_arrays

    plain, _ = prepare_run_arrays(_spec(), tiny_synthetic, split_csv)
    for method in ("oversample", "smote"):
        spec = _spec(balance={"method": method, "order": "proper"})
        # Make the training split imbalanced first, so balancing has something to add.
        arrays, report = prepare_run_arrays(spec, tiny_synthetic, split_csv)
        assert report["leaky"] is False
        for split in ("val", "test"):
            assert list(arrays[split].sample_ids) == list(plain[split].sample_ids)
            assert np.array_equal(arrays[split].x, plain[split].x)
        assert len(arrays["train"].y) >= len(plain["train"].y)


@pytest.fixture(scope="module")
def imbalanced_split(tiny_synthetic, tmp_path_factory):
    """The subject split with most 'disgust' rows removed, so balancing has something to add."""
    samples = load_decoded(tiny_synthetic).samples
    split = make_split(samples, "subject", 0)
    disgust = split.index[samples["label"] == "disgust"]
    path = tmp_path_factory.mktemp("imbalanced") / "split.csv"
    split.drop(disgust[3:]).to_csv(path, index=False)
    return path


def test_oversampling_an_imbalanced_training_split_equalises_it(tiny_synthetic, imbalanced_split):
    from ferrepro.training.arrays import prepare_run_arrays

    arrays, report = prepare_run_arrays(_spec(balance={"method": "oversample"}), tiny_synthetic, imbalanced_split)
    counts = np.bincount(arrays["train"].y, minlength=7)
    assert counts.min() == counts.max() and report["n_added"] > 0
    ids = _split_ids(arrays)
    assert not (ids["train"] & (ids["val"] | ids["test"])), "a training copy leaked into evaluation"


def test_leaky_order_is_labelled_and_leaks(tiny_synthetic, imbalanced_split):
    from ferrepro.training.arrays import prepare_run_arrays

    spec = _spec(balance={"method": "oversample", "order": "leaky"})
    arrays, report = prepare_run_arrays(spec, tiny_synthetic, imbalanced_split)
    assert report["leaky"] is True and "LEAKY" in report["label"]
    ids = _split_ids(arrays)
    every_id = [i for s in ("train", "val", "test") for i in arrays[s].sample_ids]
    assert len(every_id) == len(set(every_id)), "each copy of an image needs its own id"
    shared = (ids["val"] | ids["test"]) & ids["train"]
    # The hazard the leaky order reproduces: copies of one image on both sides of the split.
    assert shared and report["eval_rows_sharing_origin_with_train"] > 0


def test_preprocessing_pipeline_reaches_the_model_input(tiny_synthetic, split_csv):
    from ferrepro.training.arrays import prepare_run_arrays

    spec = _spec(preprocess=[{"op": "channels", "mode": "IRGB"}], input={"size": 32, "channels": "keep"})
    arrays, _ = prepare_run_arrays(spec, tiny_synthetic, split_csv)
    assert arrays["train"].x.shape[1:] == (4, 32, 32)
    assert 0.0 <= arrays["train"].x.min() and arrays["train"].x.max() <= 1.0


def test_irgb_run_trains_with_four_input_channels(tiny_synthetic, split_csv, tmp_path):
    spec = _spec(preprocess=[{"op": "channels", "mode": "IRGB"}], input={"size": 48, "channels": "keep"}, max_epochs=1)
    train_run(spec, tiny_synthetic, split_csv, tmp_path)
    model, _, _ = load_trained_model(tmp_path / "model.pt")
    assert model(torch.zeros(1, 4, 48, 48)).shape == (1, 7)
    assert evaluate_run(tmp_path, tiny_synthetic, split_csv)["n"] > 0


def test_train_per_class_caps_each_class_and_leaves_evaluation_alone(tiny_synthetic, split_csv):
    from ferrepro.training.arrays import prepare_run_arrays

    plain, _ = prepare_run_arrays(_spec(), tiny_synthetic, split_csv)
    capped, report = prepare_run_arrays(_spec(train_per_class=5), tiny_synthetic, split_csv)
    assert np.bincount(capped["train"].y, minlength=7).max() == 5
    assert set(capped["train"].sample_ids) <= set(plain["train"].sample_ids)
    assert list(capped["test"].sample_ids) == list(plain["test"].sample_ids)
    assert report["train_subsample"]["n_after"] == len(capped["train"].y)
    again, _ = prepare_run_arrays(_spec(train_per_class=5), tiny_synthetic, split_csv)
    assert list(again["train"].sample_ids) == list(capped["train"].sample_ids)
