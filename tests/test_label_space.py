"""Issue 14: label spaces. Macro averages run over the run's label set (CK+'s 7 classes, no empty
neutral), a cross-dataset test averages over the classes the model and the target share, a 7-class
CK+ cross-validation run trains on 7 classes, and cross-test targets on disk run under run_datasets."""

from __future__ import annotations

import native_fixtures as fx
import numpy as np
import pytest
import yaml
from test_training import _spec as training_spec

from ferrepro.evaluation.metrics import classification_metrics, shared_classes
from ferrepro.labels import label_set

CKPLUS7 = ["angry", "contempt", "disgust", "fear", "happy", "sad", "surprise"]


def test_perfect_predictions_score_macro_one_on_the_seven_ckplus_classes():
    classes = list(label_set(CKPLUS7))
    y = np.repeat(np.arange(7), 3)
    metrics = classification_metrics(y, y, classes)
    assert classes == ["angry", "disgust", "fear", "happy", "sad", "surprise", "contempt"]
    for key in ("macro_precision", "macro_recall", "macro_f1", "weighted_f1"):
        assert metrics[key] == 1.0
    assert metrics["per_class"]["contempt"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 3}
    # the label set that issue 14 saw: neutral empty, so a perfect model got 0.875
    eight = list(label_set("basic7+contempt"))
    y8 = np.array([eight.index(classes[i]) for i in y])
    assert classification_metrics(y8, y8, eight)["macro_f1"] == pytest.approx(7 / 8)


def test_cross_test_averages_over_the_shared_classes():
    """A basic7 model tested on CK+: neutral does not occur there, so it is not averaged in as a 0."""
    classes = list(label_set("basic7"))
    y = np.array([i for i, c in enumerate(classes) if c != "neutral" for _ in range(2)])
    scored = shared_classes(classes, y)
    assert "neutral" not in scored and len(scored) == 6
    metrics = classification_metrics(y, y, classes, scored=scored)
    assert metrics["macro_f1"] == metrics["macro_precision"] == metrics["macro_recall"] == 1.0
    assert metrics["unscored_classes"] == ["neutral"]
    # a wrong "neutral" prediction still costs the true class its recall
    wrong = y.copy()
    wrong[0] = classes.index("neutral")
    assert classification_metrics(y, wrong, classes, scored=scored)["macro_recall"] == pytest.approx(1 - 0.5 / 6)


def test_seven_class_ckplus_cv_run_trains_on_seven_classes(tmp_path):
    from ferrepro.data.decode import decode_dataset
    from ferrepro.data.splits import make_split
    from ferrepro.data.standard import load_decoded
    from ferrepro.training.arrays import prepare_run_arrays

    raw = fx.write_ckplus48(tmp_path / "raw", subjects=("S005", "S010", "S011", "S014", "S022"))
    decoded = decode_dataset("ckplus", raw, tmp_path / "decoded", check_counts=False)
    split = make_split(load_decoded(decoded).samples, "subject_k5_fold0", seed=0)
    split.to_csv(tmp_path / "split.csv", index=False)
    paper = yaml.safe_load(open("config/papers/abdeldayem2025.yaml"))
    spec = training_spec(
        label_set=paper["experiments"]["full_ckplus"]["label_set"], input={"size": 48, "channels": "gray"}
    )
    arrays, report = prepare_run_arrays(spec, decoded, tmp_path / "split.csv")
    counts = np.bincount(arrays["train"].y, minlength=7)
    assert len(label_set(spec.label_set)) == 7 and (counts > 0).all()
    assert report["excluded_labels"]["train"] == {}


def _config(tmp_path, run_datasets):
    from ferrepro.config import load_config

    config = load_config("config/config.yaml")
    config.update(
        preset="full",
        run_datasets=run_datasets,
        raw_dir=str(tmp_path / "raw"),
        paper_config_dir=str(__import__("pathlib").Path("config/papers").resolve()),
    )
    return config


def test_cross_targets_on_disk_run_even_when_run_datasets_names_only_the_training_set(tmp_path):
    from ferrepro.config import load_run_matrix, skipped_cross_targets

    fx.write_ckplus48(tmp_path / "raw" / "ckplus")
    config = _config(tmp_path, ["fer2013"])
    import shutil

    shutil.copytree("config", tmp_path / "config")  # the registry is read from basedir/config
    runs = load_run_matrix(config, tmp_path)
    majeed = [r for r in runs if r.paper == "majeed2025" and r.cross_targets]
    assert majeed and all(r.cross_targets == ("ckplus",) for r in majeed)
    assert set(r.dataset for r in runs) == {"fer2013"}  # training is still restricted
    skipped = skipped_cross_targets(config, runs, tmp_path)
    assert "jaffe" in skipped and "no data on disk" in skipped["jaffe"] and "ckplus" not in skipped
