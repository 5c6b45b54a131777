"""Per-run classification metrics, all computed by scikit-learn."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    matthews_corrcoef,
    precision_recall_fscore_support,
)


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, classes: list[str], scored: list[str] | None = None
) -> dict:
    """Accuracy, balanced accuracy, macro/weighted P/R/F1, MCC, per-class P/R/F1/support, confusion matrix.

    Macro and weighted averages run over ``scored`` (default: every class of the run's label set). A
    cross-dataset test passes the classes the model and the target share, so a class the target lacks
    does not enter the average as a 0; its wrong predictions still count against the true classes' recall.

    ``zero_division=0``: a class that is never predicted scores 0 precision instead of raising, which
    is what a reader of a FER table expects for a collapsed minority class (e.g. disgust).
    """
    labels = np.arange(len(classes))
    scored = list(classes) if scored is None else [c for c in classes if c in set(scored)]
    scored_labels = np.array([classes.index(c) for c in scored])
    out = {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "mcc": float(matthews_corrcoef(y_true, y_pred)),
    }
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=scored_labels, average=average, zero_division=0
        )
        out.update({f"{average}_precision": float(p), f"{average}_recall": float(r), f"{average}_f1": float(f)})
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None, zero_division=0)
    out["per_class"] = {
        c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, c in enumerate(classes)
    }
    out["classes"] = list(classes)
    out["scored_classes"] = scored
    out["unscored_classes"] = [c for c in classes if c not in scored]
    out["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=labels).tolist()
    return out


def shared_classes(classes: list[str], y_true: np.ndarray) -> list[str]:
    """The model's classes that occur among the target's (scorable) samples."""
    present = set(np.unique(np.asarray(y_true)).tolist())
    return [c for i, c in enumerate(classes) if i in present]
