"""The metric table, and the per-run classification metrics of metrics.json (computed by scikit-learn).

:data:`METRICS` is the one place a metric is declared. What reads it:

* metrics.json (:func:`classification_metrics`): every metric with a ``score``, in table order;
* the bootstrap (``ferrepro.evaluation.stats``): every metric with a ``confusion`` form
  (``stats.CONFUSION_METRICS``, and ``stats.CLASS_METRICS`` for the per-class ones);
* results/experiments.* (``ferrepro.reporting.experiments``): the claimed metrics by their source;
* the claims table (``ferrepro.reporting.claims``): how a metric is compared (its kind), shown (digits, unit)
  and where ours comes from (its source);
* the paper schema: the metrics a claim may name (``x-enum: metrics`` in workflow/schemas/paper.schema.yaml,
  filled in from :data:`SCHEMA_ENUMS` when a paper config is validated).

Kinds (how a claimed number is compared with ours):

* ``fraction``: a score on the unit scale (MCC and kappa reach -1). Claims give it as a fraction, not a
  percentage (a claim above 1 against an interval inside [0, 1] is refused as a percentage); ours has a
  bootstrap CI.
* ``count``: a whole number that varies from run to run with no sampling model (the selected epoch); its
  interval is the range over runs.
* ``exact``: a deterministic property of the network (parameters, FLOPs): ours reproduces the claim when it
  rounds to it at the claim's printed precision.
* ``timing``: a measured time; its interval is the percentile bootstrap CI of the median over timed runs.

Sources (where ours is read from):

* ``predictions``: the test predictions of each run (metrics.json; per seed and fold, from the confusion matrix);
* ``history``: the training history of the checkpoint kept (train_summary.json, copied into metrics.json);
* ``efficiency``: the efficiency measurement of the network (results/efficiency/<paper>.json).

Adding a prediction metric is one entry here, with its scikit-learn ``score`` and its ``confusion`` form: it
then enters metrics.json, experiments.json (when a paper claims it), its bootstrap CI and the schema.

numpy and scikit-learn are imported inside the functions that compute: the table itself is read when the
workflow is parsed (the schema's metric names), where only PyYAML and jsonschema can be relied on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

FRACTION, COUNT, EXACT, TIMING = "fraction", "count", "exact", "timing"
PREDICTIONS, HISTORY, EFFICIENCY = "predictions", "history", "efficiency"


class Confusion:
    """Confusion matrices (..., K, K), rows true and columns predicted, and the counts the metrics read.

    ``scored``: the class indices macro and weighted averages run over (default all K); ``class_index``:
    the one class of a per-class metric. A class never predicted (never true) scores 0 precision (recall),
    sklearn's ``zero_division=0``.
    """

    def __init__(self, counts: Any, scored: Any = None, class_index: int | None = None):
        import numpy as np

        counts = np.asarray(counts, dtype=np.float64)
        self.class_index = class_index
        self.keep = np.arange(counts.shape[-1]) if scored is None else np.asarray(scored, dtype=np.int64)
        self.true_pos = np.diagonal(counts, axis1=-2, axis2=-1)
        self.support = counts.sum(axis=-1)  # true count per class
        self.predicted = counts.sum(axis=-2)  # predicted count per class
        self.total = self.support.sum(axis=-1)
        self.correct = self.true_pos.sum(axis=-1)

    @staticmethod
    def ratio(numerator: Any, denominator: Any) -> Any:
        """numerator / denominator, and 0 where the denominator is not positive."""
        import numpy as np

        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), 0.0)

    @cached_property
    def per_class(self) -> dict[str, Any]:
        """Precision, recall and F1 of every class (..., K)."""
        precision = self.ratio(self.true_pos, self.predicted)
        recall = self.ratio(self.true_pos, self.support)
        return {"precision": precision, "recall": recall, "f1": self.ratio(2 * precision * recall, precision + recall)}

    def scored(self, name: str) -> Any:
        """One per-class quantity (``support`` too) of the scored classes only."""
        values = self.support if name == "support" else self.per_class[name]
        return values[..., self.keep]


def _accuracy(c: Confusion) -> Any:
    return c.ratio(c.correct, c.total)


def _mcc(c: Confusion) -> Any:
    import numpy as np

    cov_tp = c.correct * c.total - np.sum(c.support * c.predicted, axis=-1)
    cov_pp = c.total**2 - np.sum(c.predicted**2, axis=-1)
    cov_tt = c.total**2 - np.sum(c.support**2, axis=-1)
    return c.ratio(cov_tp, np.sqrt(cov_pp * cov_tt))


def _kappa(c: Confusion) -> Any:
    """Cohen's kappa, (p_o - p_e) / (1 - p_e); 0 where it is undefined (one class only; sklearn gives nan)."""
    import numpy as np

    chance = np.sum(c.support * c.predicted, axis=-1)
    return c.ratio(c.correct * c.total - chance, c.total**2 - chance)


def _macro(name: str) -> Callable[[Confusion], Any]:
    def macro(c: Confusion) -> Any:
        return c.scored(name).mean(axis=-1)

    return macro


def _weighted_f1(c: Confusion) -> Any:
    support = c.scored("support")
    return c.ratio((c.scored("f1") * support).sum(axis=-1), support.sum(axis=-1))


def _of_class(name: str) -> Callable[[Confusion], Any]:
    def of_class(c: Confusion) -> Any:
        return c.per_class[name][..., c.class_index]

    return of_class


Score = Callable[[Any, Any, Any], float]  # (y_true, y_pred, scored class indices) -> metrics.json's value


def _sklearn(function: str) -> Score:
    """sklearn.metrics.<function>(y_true, y_pred), over every class."""

    def score(y_true: Any, y_pred: Any, scored: Any) -> float:
        import sklearn.metrics

        return float(getattr(sklearn.metrics, function)(y_true, y_pred))

    return score


_PRF = {"precision": 0, "recall": 1, "f1": 2}


def _averaged(name: str, average: str) -> Score:
    """Macro or weighted precision, recall or F1 over the scored classes (``zero_division=0``)."""

    def score(y_true: Any, y_pred: Any, scored: Any) -> float:
        from sklearn.metrics import precision_recall_fscore_support

        values = precision_recall_fscore_support(y_true, y_pred, labels=scored, average=average, zero_division=0)
        return float(values[_PRF[name]])

    return score


@dataclass(frozen=True)
class Metric:
    """One metric: what it is, where ours comes from, how it is shown, and how it is computed."""

    name: str  # as claims name it and experiments.json keys it
    kind: str  # FRACTION, COUNT, EXACT or TIMING: how a claim is compared (module docstring)
    source: str  # PREDICTIONS, HISTORY or EFFICIENCY: where ours is read from
    digits: int  # decimals shown for ours (of the unit, when there is one)
    key: str = ""  # a prediction metric's key in metrics.json and name in ferrepro.evaluation.stats; default name
    per_class: bool = False  # one class's number: a claim names the `class`, metrics.json has it under per_class
    score: Score | None = None  # metrics.json's value from the test labels (scikit-learn)
    confusion: Callable[[Confusion], Any] | None = None  # the same from confusion matrices, vectorised (bootstrap)
    unit: tuple[str, float] | None = None  # shown in this unit: ("M", 1e6) shows 11600000 as 11.60 M

    @property
    def stats_name(self) -> str:
        return self.key or self.name

    @property
    def from_confusion(self) -> bool:
        """A function of the confusion matrix alone, so stats can bootstrap it from (true, predicted) pairs."""
        return self.confusion is not None

    @property
    def claimable(self) -> bool:
        """A claim may name it: ours has an interval (a prediction metric needs its confusion form for that)."""
        return self.source != PREDICTIONS or self.from_confusion


METRICS = (
    # Whole-model metrics of the test predictions, in metrics.json's order.
    Metric(
        "test_accuracy",
        FRACTION,
        PREDICTIONS,
        4,
        key="accuracy",
        score=_sklearn("accuracy_score"),
        confusion=_accuracy,
    ),
    Metric("balanced_accuracy", FRACTION, PREDICTIONS, 4, score=_sklearn("balanced_accuracy_score")),
    Metric("mcc", FRACTION, PREDICTIONS, 4, score=_sklearn("matthews_corrcoef"), confusion=_mcc),
    *(
        Metric(
            f"macro_{name}",
            FRACTION,
            PREDICTIONS,
            4,
            score=_averaged(name, "macro"),
            confusion=_macro(name),
        )
        for name in ("precision", "recall", "f1")
    ),
    Metric("weighted_precision", FRACTION, PREDICTIONS, 4, score=_averaged("precision", "weighted")),
    Metric("weighted_recall", FRACTION, PREDICTIONS, 4, score=_averaged("recall", "weighted")),
    Metric("weighted_f1", FRACTION, PREDICTIONS, 4, score=_averaged("f1", "weighted"), confusion=_weighted_f1),
    Metric("cohen_kappa", FRACTION, PREDICTIONS, 4, score=_sklearn("cohen_kappa_score"), confusion=_kappa),
    # One class's number (a per-class claim, e.g. a row of a paper's classification report).
    *(
        Metric(name, FRACTION, PREDICTIONS, 4, per_class=True, confusion=_of_class(name))
        for name in ("precision", "recall", "f1")
    ),
    # The training history of the checkpoint kept (experiments.py reads each from metrics.json).
    Metric("val_accuracy", FRACTION, HISTORY, 4),
    Metric("train_accuracy", FRACTION, HISTORY, 4),
    Metric("epochs", COUNT, HISTORY, 1),
    # The efficiency measurement of the network at the paper's input size.
    Metric("params", EXACT, EFFICIENCY, 3, unit=("M", 1e6)),
    Metric("gflops", EXACT, EFFICIENCY, 3),
    Metric("latency_ms", TIMING, EFFICIENCY, 2),
)
BY_NAME = {metric.name: metric for metric in METRICS}
EFFICIENCY_METRICS = tuple(m.name for m in METRICS if m.source == EFFICIENCY)
# The enums the paper schema takes from this table (`x-enum: <key>` there).
SCHEMA_ENUMS = {
    "metrics": [m.name for m in METRICS if m.claimable],
    "class_metrics": [m.name for m in METRICS if m.claimable and m.per_class],
}


def classification_metrics(
    y_true: Any, y_pred: Any, classes: list[str], scored: list[str] | None = None
) -> dict[str, Any]:
    """metrics.json's scores: ``n``, every metric of :data:`METRICS` with a ``score``, per-class P/R/F1/support,
    the classes and the confusion matrix.

    Macro and weighted averages run over ``scored`` (default: every class of the run's label set). A
    cross-dataset test passes the classes the model and the target share, so a class the target lacks
    does not enter the average as a 0; its wrong predictions still count against the true classes' recall.

    ``zero_division=0``: a class that is never predicted scores 0 precision instead of raising, which
    is what a reader of a FER table expects for a collapsed minority class (e.g. disgust).
    """
    import numpy as np
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = np.arange(len(classes))
    scored = list(classes) if scored is None else [c for c in classes if c in set(scored)]
    scored_labels = np.array([classes.index(c) for c in scored])
    out: dict[str, Any] = {"n": int(len(y_true))}
    out.update({m.stats_name: m.score(y_true, y_pred, scored_labels) for m in METRICS if m.score is not None})
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


def shared_classes(classes: list[str], y_true: Any) -> list[str]:
    """The model's classes that occur among the target's (scorable) samples."""
    import numpy as np

    present = set(np.unique(np.asarray(y_true)).tolist())
    return [c for i, c in enumerate(classes) if i in present]
