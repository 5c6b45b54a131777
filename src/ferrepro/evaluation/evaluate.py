"""Evaluate a trained run once on its test split, with the checkpoint selected on validation.

Writes ``predictions.parquet`` (sample id, true and predicted label, class probabilities),
``metrics.json`` (sklearn metrics + confusion matrix), ``confusion_matrix.png`` and
``learning_curve.png`` into the run folder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ferrepro.training.run import HISTORY_FILE, MODEL_FILE, SUMMARY_FILE


def load_trained_model(model_path: str | Path):
    """Load model.pt safely: weights_only=True refuses pickled code (see README, predicting)."""
    import torch

    from ferrepro.models import build_model

    payload = torch.load(model_path, map_location="cpu", weights_only=True)
    if payload.get("format") != 1:
        raise ValueError(f"{model_path}: unsupported model file format {payload.get('format')!r}")
    spec = payload["spec"]
    model = build_model(spec["model"], num_classes=len(payload["classes"]), in_channels=payload["in_channels"],
                        input_size=spec["input"]["size"], **spec.get("model_kwargs", {}))
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, spec, payload["classes"]


def predict_probabilities(model, x: np.ndarray, normalize: str = "unit", batch_size: int = 256,
                          features: np.ndarray | None = None) -> np.ndarray:
    """Class probabilities for [0, 1] inputs, normalised exactly as in training (plus fused features, if any)."""
    import torch

    from ferrepro.training.inputs import normalize_batch

    probs = []
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            inputs = [normalize_batch(torch.from_numpy(x[i:i + batch_size]), normalize)]
            if features is not None:
                inputs.append(torch.from_numpy(features[i:i + batch_size]))
            logits = model(*inputs)
            probs.append(torch.softmax(logits.float(), dim=1).numpy())
    return np.concatenate(probs) if probs else np.zeros((0, 0), np.float32)


def evaluate_run(run_dir: str | Path, decoded_dir: str | Path, split_csv: str | Path,
                 feature_files: list[str] | None = None, landmarks_points: str | None = None) -> dict:
    from ferrepro.evaluation.metrics import classification_metrics
    from ferrepro.evaluation.plots import plot_confusion_matrix, plot_learning_curve
    from ferrepro.training.datamodule import prepare_run_arrays

    run = Path(run_dir)
    model, spec, classes = load_trained_model(run / MODEL_FILE)
    # The same code path as training builds the test split (for a leaky experiment: the same leaky pool).
    test = prepare_run_arrays(spec, decoded_dir, split_csv, feature_files, landmarks_points)[0]["test"]
    probs = predict_probabilities(model, test.x, spec["input"].get("normalize", "unit"), features=test.features)
    y_pred = probs.argmax(1)

    table = pd.DataFrame({"sample_id": test.sample_ids, "true_label": np.asarray(classes)[test.y],
                          "predicted_label": np.asarray(classes)[y_pred]})
    for i, c in enumerate(classes):
        table[f"prob_{c}"] = probs[:, i]
    table.to_parquet(run / "predictions.parquet", index=False)

    metrics = classification_metrics(test.y, y_pred, list(classes))
    summary = json.loads((run / SUMMARY_FILE).read_text())
    identity = f"{spec['paper']} / {spec['experiment']} / {spec['dataset']} / seed {spec['seed']}"
    metrics.update(run=summary["run"], paper=spec["paper"], experiment=spec["experiment"], dataset=spec["dataset"],
                   seed=spec["seed"], model=spec["model"], split=spec["split"],
                   selected_epoch=summary["selected_epoch"], epochs_run=summary["epochs_run"],
                   val_accuracy=summary["selection_value"] if summary["selection_metric"] == "val_acc" else None,
                   synthetic=spec["dataset"] == "synthetic",
                   leaky=bool((spec.get("balance") or {}).get("order") == "leaky"),
                   # Test samples without a complete feature row cannot be scored by a fusion model; they
                   # are listed here rather than silently dropped from the denominator.
                   excluded_missing_features=test.excluded)
    (run / "metrics.json").write_text(json.dumps(metrics, indent=2))

    plot_confusion_matrix(np.array(metrics["confusion_matrix"]), list(classes),
                          f"{identity}: test accuracy {metrics['accuracy']:.3f}", run / "confusion_matrix.png")
    history = pd.read_csv(run / HISTORY_FILE)
    plot_learning_curve(history, summary["selected_epoch"], identity, run / "learning_curve.png")
    return metrics


def cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="ferrepro evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="run folder holding model.pt")
    p.add_argument("--decoded", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--features", nargs="*", default=[], help="cached feature arrays, in the spec's order")
    p.add_argument("--landmarks-points", nargs="?", help="landmarks_points.npy, for a landmark_emphasis step")
    a = p.parse_args(argv)
    m = evaluate_run(a.run, a.decoded, a.split, a.features, a.landmarks_points)
    print(f"{m['run']}: accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f} on {m['n']} test samples")
    return 0
