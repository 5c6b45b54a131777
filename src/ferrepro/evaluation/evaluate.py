"""Evaluate a trained run once on its test split, with the checkpoint selected on validation.

Writes ``predictions.parquet`` (sample id, true and predicted label, class probabilities, and
``features_imputed``: whether the row's missing fused-feature values were filled from the training split),
``metrics.json`` (sklearn metrics + confusion matrix), ``confusion_matrix.png`` and
``learning_curve.png`` into the run folder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ferrepro.models.checkpoint import MODEL_FILE, load_trained_model
from ferrepro.runspec import RunSpec
from ferrepro.training.run import HISTORY_FILE, SUMMARY_FILE


def predict_probabilities(
    model, x: np.ndarray, normalize: str = "unit", batch_size: int = 256, features: np.ndarray | None = None
) -> np.ndarray:
    """Class probabilities for [0, 1] inputs, normalised exactly as in training (plus fused features, if any)."""
    import torch

    from ferrepro.training.inputs import normalize_batch

    probs = []
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            inputs = [normalize_batch(torch.from_numpy(x[i : i + batch_size]), normalize)]
            if features is not None:
                inputs.append(torch.from_numpy(features[i : i + batch_size]))
            logits = model(*inputs)
            probs.append(torch.softmax(logits.float(), dim=1).numpy())
    return np.concatenate(probs) if probs else np.zeros((0, 0), np.float32)


def _write_predictions(
    path: Path, sample_ids, y_true, probs: np.ndarray, classes, imputed: np.ndarray | None = None
) -> np.ndarray:
    y_pred = probs.argmax(1)
    table = pd.DataFrame(
        {
            "sample_id": sample_ids,
            "true_label": np.asarray(classes)[y_true],
            "predicted_label": np.asarray(classes)[y_pred],
        }
    )
    for i, c in enumerate(classes):
        table[f"prob_{c}"] = probs[:, i]
    # Per-sample analyses can separate the rows scored on imputed features (e.g. no face for dlib).
    table["features_imputed"] = np.zeros(len(table), bool) if imputed is None else np.asarray(imputed, bool)
    table.to_parquet(path, index=False)
    return y_pred


def _run_identity(spec: RunSpec, summary: dict, eval_dataset: str) -> dict:
    """The keys that say which run (and which claim group) a metrics file belongs to."""
    return dict(
        run=summary["run"],
        paper=spec.paper,
        experiment=spec.experiment,
        group=spec.claim_group,
        fold=spec.fold,
        dataset=spec.dataset,
        eval_dataset=eval_dataset,
        cross_dataset=eval_dataset != spec.dataset,
        seed=spec.seed,
        model=spec.model,
        split=spec.split,
        selected_epoch=summary["selected_epoch"],
        epochs_run=summary["epochs_run"],
        max_epochs=spec.max_epochs,
        # False: training ran into max_epochs (a preset's budget cut, or the paper's own count).
        stopped_early=summary.get("stopped_early"),
        val_accuracy=summary["selection_value"] if summary["selection_metric"] == "val_acc" else None,
        train_accuracy=summary.get("selected_train_accuracy"),
        synthetic=any(d.startswith("synthetic") for d in (spec.dataset, eval_dataset)),
        leaky=spec.balance.order == "leaky",
    )


def evaluate_run(
    run_dir: str | Path,
    decoded_dir: str | Path,
    split_csv: str | Path | None,
    feature_files: list[str] | None = None,
    landmarks_points: str | None = None,
    out_dir: str | Path | None = None,
    eval_dataset: str | None = None,
    expected_digest: str | None = None,
) -> dict:
    """Score a trained run once: on its own test split (``split_csv``), or, for a cross-dataset
    evaluation (``split_csv=None``), on every sample of another decoded dataset (``eval_dataset``),
    with the outputs in ``out_dir``. Samples whose class the model does not know are counted, not scored."""
    from ferrepro.evaluation.metrics import classification_metrics, shared_classes
    from ferrepro.evaluation.plots import plot_confusion_matrix, plot_learning_curve
    from ferrepro.training.arrays import prepare_run_arrays

    run = Path(run_dir)
    out = Path(out_dir) if out_dir else run
    out.mkdir(parents=True, exist_ok=True)
    model, spec, classes = load_trained_model(run / MODEL_FILE, expected_digest)
    # Another dataset, for a trained model: the same preprocessing and input, but no training-set
    # manipulation (subsampling, balancing), since every sample is test data.
    eval_spec = spec if split_csv is not None else spec.without("train_per_class", "balance")
    # The same code path as training builds the test split (for a leaky experiment: the same leaky pool).
    prepared, prepared_report = prepare_run_arrays(eval_spec, decoded_dir, split_csv, feature_files, landmarks_points)
    test = prepared["test"]
    if len(test.y) == 0:
        raise ValueError(
            f"{decoded_dir}: no test sample has a class of the model ({list(classes)}); "
            f"left out by label: {test.excluded_labels}"
        )
    _check_feature_width(model, test.features, feature_files)
    probs = predict_probabilities(model, test.x, spec.input.normalize, features=test.features)
    y_pred = _write_predictions(out / "predictions.parquet", test.sample_ids, test.y, probs, classes, test.imputed)

    summary = json.loads((run / SUMMARY_FILE).read_text())
    eval_dataset = eval_dataset or spec.dataset
    # In-domain, averages run over the run's label set; across datasets, over the classes the model and
    # the target share (target classes the model lacks are excluded and counted below, in excluded_labels).
    cross = split_csv is None
    scored = shared_classes(list(classes), test.y) if cross else list(classes)
    metrics = classification_metrics(test.y, y_pred, list(classes), scored=scored)
    if cross:
        metrics["unscored_reason"] = f"the model's classes {metrics['unscored_classes']} do not occur in {eval_dataset}"
    metrics.update(
        _run_identity(spec, summary, eval_dataset),
        # Test samples without a complete feature row are either excluded (listed in
        # excluded_missing_features) or, by default (missing_features), kept and scored with the
        # missing values filled from the training split (listed in imputed_missing_features);
        # samples of classes outside the label set cannot be scored at all. All are listed or
        # counted here rather than silently dropped from the denominator.
        excluded_missing_features=test.excluded,
        imputed_missing_features=test.imputed_ids,
        n_imputed_missing_features=int(test.imputed.sum()),
        missing_features=_missing_report(prepared_report),
        excluded_labels=test.excluded_labels,
    )
    metrics.update(provenance=evaluation_provenance(summary, eval_dataset, decoded_dir))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))

    identity = f"{spec.paper} / {spec.experiment} / {spec.dataset} / seed {spec.seed}"
    if eval_dataset != spec.dataset:
        identity += f" / tested on {eval_dataset}"
    plot_confusion_matrix(
        np.array(metrics["confusion_matrix"]),
        list(classes),
        f"{identity}: test accuracy {metrics['accuracy']:.3f}",
        out / "confusion_matrix.png",
    )
    if out == run:
        history = pd.read_csv(run / HISTORY_FILE)
        plot_learning_curve(history, summary["selected_epoch"], identity, run / "learning_curve.png")
    return metrics


def _missing_report(report: dict) -> dict | None:
    """The missing-feature policy as applied to this test set and its fill (None for an image-only model)."""
    missing = report.get("missing_features")
    return None if missing is None else {k: missing[k] for k in ("train", "evaluate", "applied", "fill", "fill_sha256")}


def evaluation_provenance(summary: dict, eval_dataset: str, decoded_dir: str | Path) -> dict:
    """Where this metrics file's numbers come from: the run's spec digest, the training's code, data,
    software and machine (from train_summary.json), the data scored here, and the code that scored it."""
    from ferrepro.data.standard import data_digest
    from ferrepro.provenance import code_version

    trained = summary.get("provenance") or {}
    data = dict(trained.get("data") or {})
    data.setdefault(eval_dataset, data_digest(decoded_dir))
    return {
        "spec_digest": summary.get("spec_digest"),
        "training": {k: v for k, v in trained.items() if k != "data"},
        "data": data,
        "evaluation_code": code_version(),
        "device": summary.get("device"),
    }


def _check_feature_width(model, features: np.ndarray | None, feature_files) -> None:
    want = getattr(model, "feature_dim", None)
    if features is not None and want is not None and features.shape[1] != want:
        raise ValueError(
            f"{list(feature_files or [])}: {features.shape[1]} feature columns, but the model fuses "
            f"{want}; HoG lengths depend on the image size, so a dataset of another resolution needs "
            "the same `resize` in config/config.yaml `features:` as the training dataset"
        )


def cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="ferrepro evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--run", required=True, help="run folder holding model.pt")
    p.add_argument("--decoded", required=True, help="decoded dataset to test on")
    p.add_argument("--split", help="the run's split list (its test part is scored); omit with --cross")
    p.add_argument(
        "--cross",
        metavar="DATASET",
        help="cross-dataset evaluation: score every sample of --decoded (this dataset) instead of a test split",
    )
    p.add_argument("--out", help="output folder (default: the run folder)")
    p.add_argument("--features", nargs="*", default=[], help="cached feature arrays, in the spec's order")
    p.add_argument("--landmarks-points", nargs="?", help="landmarks_points.npy, for a landmark_emphasis step")
    p.add_argument("--spec-digest", help="refuse a model.pt trained for another spec than this digest")
    a = p.parse_args(argv)
    if (a.split is None) == (a.cross is None):
        p.error("give exactly one of --split (in-domain test split) and --cross DATASET (whole other dataset)")
    m = evaluate_run(
        a.run,
        a.decoded,
        a.split,
        a.features,
        a.landmarks_points,
        out_dir=a.out,
        eval_dataset=a.cross,
        expected_digest=a.spec_digest,
    )
    print(
        f"{m['run']} on {m['eval_dataset']}: accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f} "
        f"on {m['n']} test samples; left out by label: {m['excluded_labels']}"
    )
    return 0
