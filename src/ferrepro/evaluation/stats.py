"""Statistics for comparing a reproduced result with a published one.

Everything here works on *per-test-sample* outcomes of one evaluated run (a boolean "was this
sample classified correctly" vector, or the ``y_true`` / ``y_pred`` label vectors), because that is
the level at which the uncertainty of a single test-set score lives.

Statistical choices (the papers we reproduce state none of them):

* **Confidence intervals** come from :func:`scipy.stats.bootstrap`, resampling *test samples* with
  replacement (the test set is treated as a sample from the population of faces; model weights
  are held fixed). The default is the bias-corrected and accelerated (BCa) interval with 2000
  resamples and 95 % confidence, which has better coverage than the percentile interval for
  skewed statistics such as accuracies near 100 % (CK+, KDEF). BCa is undefined when every
  bootstrap statistic is identical (e.g. 100 % accuracy); we then fall back to the percentile
  interval computed from the same resamples and record the fallback in the returned dict.
* **Other metrics than accuracy** (macro-F1, MCC, ...) are bootstrapped from each resample's confusion
  matrix, by the metric table's confusion form (:mod:`ferrepro.evaluation.metrics`), which equals what sklearn
  reports on the full test set; a scored class absent from a resample contributes 0 (``zero_division=0``).
* **McNemar's test** (statsmodels) compares two classifiers evaluated on the *same* test samples.
  The exact binomial version is used when the number of discordant pairs is below 25 (the usual
  rule of thumb: the chi-square approximation is poor for small counts), otherwise the chi-square
  statistic with Edwards' continuity correction.
* **Seeds** are aggregated as mean and sample standard deviation (``ddof=1``).
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from ferrepro.evaluation.metrics import METRICS, Confusion

VERDICTS = (
    "reproduced",
    "not reproduced (higher)",
    "not reproduced (lower)",
    "untestable",
    "synthetic only",
)

# McNemar: below this many discordant pairs the exact binomial test is used.
EXACT_DISCORDANT_THRESHOLD = 25

# scipy >= 1.15 takes ``rng``; older versions (pyproject allows scipy >= 1.11) take ``random_state``.
_RNG_KWARG = "rng" if "rng" in inspect.signature(scipy_stats.bootstrap).parameters else "random_state"

# Resamples evaluated per vectorised call; bounds memory (batch x n resampled codes, batch x K x K counts).
_BOOTSTRAP_BATCH = 100


# --------------------------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------------------------


def _as_correct_vector(correct: Any, name: str = "correct") -> np.ndarray:
    array = np.asarray(correct)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D per-sample vector, got shape {array.shape}")
    if array.size < 2:
        raise ValueError(f"{name} needs at least 2 test samples to bootstrap, got {array.size}")
    if array.dtype != bool:
        values = np.unique(array)
        if not np.isin(values, (0, 1)).all():
            raise ValueError(
                f"{name} must hold per-sample correctness (bool or 0/1), found values {values[:10]}; "
                "pass y_true == y_pred, not the labels"
            )
        array = array.astype(bool)
    return array


def _check_paired_correct(correct_a: Any, correct_b: Any) -> tuple[np.ndarray, np.ndarray]:
    a = _as_correct_vector(correct_a, "correct_a")
    b = _as_correct_vector(correct_b, "correct_b")
    if a.shape != b.shape:
        raise ValueError(
            f"correct_a and correct_b must be paired outcomes on the same test samples, "
            f"got lengths {a.size} and {b.size}"
        )
    return a, b


# --------------------------------------------------------------------------------------------
# vectorised statistics (scipy passes arrays whose last axis is the sample axis)
# --------------------------------------------------------------------------------------------


def _accuracy_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


# --------------------------------------------------------------------------------------------
# bootstrap
# --------------------------------------------------------------------------------------------


def _bootstrap_with_fallback(
    data: tuple, statistic, *, paired: bool, n_resamples: int, confidence: float, method: str, seed: int
) -> dict[str, Any]:
    """Run scipy's bootstrap; if the BCa interval is undefined, redo it as percentile on the same resamples."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 100:
        raise ValueError(f"n_resamples={n_resamples} is too few for a confidence interval; use >= 1000")
    method_key = method.lower()
    if method_key not in ("bca", "percentile", "basic"):
        raise ValueError(f"method must be 'BCa', 'percentile' or 'basic', got {method!r}")
    kwargs = dict(
        paired=paired,
        vectorized=True,
        axis=-1,
        confidence_level=confidence,
        batch=_BOOTSTRAP_BATCH,
        **{_RNG_KWARG: np.random.default_rng(seed)},
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = scipy_stats.bootstrap(data, statistic, n_resamples=n_resamples, method=method_key, **kwargs)
    interval = result.confidence_interval
    method_used, fallback_reason = method, None
    if not (np.isfinite(interval.low) and np.isfinite(interval.high)):
        messages = "; ".join(sorted({str(w.message).split(".")[0] for w in caught})) or "non-finite interval"
        fallback_reason = (
            f"{method} interval undefined ({messages}); typical when every resample gives the same "
            "value, e.g. 100% accuracy. Reported the percentile interval of the same resamples."
        )
        # n_resamples=0 with bootstrap_result reuses the existing bootstrap distribution.
        result = scipy_stats.bootstrap(
            data, statistic, n_resamples=0, method="percentile", bootstrap_result=result, **kwargs
        )
        interval = result.confidence_interval
        method_used = "percentile"
    return {
        "ci_low": float(interval.low),
        "ci_high": float(interval.high),
        "standard_error": float(result.standard_error),
        "method": method_used,
        "method_requested": method,
        "fallback_reason": fallback_reason,
        "confidence": confidence,
        "n_resamples": n_resamples,
        "seed": seed,
    }


def paired_bootstrap_diff_ci(
    correct_a: Any,
    correct_b: Any,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    method: str = "BCa",
    seed: int = 0,
) -> dict[str, Any]:
    """Confidence interval of ``accuracy(a) - accuracy(b)`` with paired resampling.

    Both correctness vectors must describe the same test samples in the same order; each
    resample draws sample indices once and uses them for both models, which keeps the
    correlation between the two models' errors (ignoring it would make the interval too wide).
    Same fallback rule as :func:`_bootstrap_with_fallback` (identical vectors give a degenerate [0, 0]).

    Returns:
        dict with ``difference`` (a - b on the full test set), ``accuracy_a``, ``accuracy_b``,
        ``ci_low``, ``ci_high`` and the bootstrap metadata of :func:`_bootstrap_with_fallback`.
    """
    a, b = _check_paired_correct(correct_a, correct_b)
    result = _bootstrap_with_fallback(
        (a, b),
        _accuracy_difference,
        paired=True,
        n_resamples=n_resamples,
        confidence=confidence,
        method=method,
        seed=seed,
    )
    return {
        "difference": float(a.mean() - b.mean()),
        "accuracy_a": float(a.mean()),
        "accuracy_b": float(b.mean()),
        "n": int(a.size),
        **result,
    }


# --------------------------------------------------------------------------------------------
# McNemar
# --------------------------------------------------------------------------------------------


def mcnemar_table(correct_a: Any, correct_b: Any) -> np.ndarray:
    """2x2 table of paired outcomes: rows = model A correct/wrong, columns = model B correct/wrong."""
    a, b = _check_paired_correct(correct_a, correct_b)
    return np.array([[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]], dtype=np.int64)


def mcnemar_test(correct_a: Any, correct_b: Any, exact: bool | str = "auto") -> dict[str, Any]:
    """McNemar's test of equal error rates for two models on the same test samples.

    Args:
        correct_a, correct_b: paired per-sample correctness vectors (bool or 0/1).
        exact: ``"auto"`` (exact binomial test when the discordant count ``b + c`` is below
            :data:`EXACT_DISCORDANT_THRESHOLD` = 25, chi-square with continuity correction
            otherwise), or ``True`` / ``False`` to force one.

    Returns:
        dict with ``table`` (nested list, rows A correct/wrong x columns B correct/wrong),
        ``only_a_correct`` (b), ``only_b_correct`` (c), ``n_discordant``, ``statistic`` (for the
        exact test statsmodels reports ``min(b, c)``; otherwise the chi-square value), ``pvalue``
        (two-sided) and ``method``.
    """
    from statsmodels.stats.contingency_tables import mcnemar  # heavy import, only when needed

    table = mcnemar_table(correct_a, correct_b)
    only_a, only_b = int(table[0, 1]), int(table[1, 0])
    n_discordant = only_a + only_b
    if exact == "auto":
        use_exact = n_discordant < EXACT_DISCORDANT_THRESHOLD
    elif isinstance(exact, bool):
        use_exact = exact
    else:
        raise ValueError(f"exact must be 'auto', True or False, got {exact!r}")
    if not use_exact and n_discordant == 0:
        raise ValueError("chi-square McNemar is undefined with no discordant pairs; use exact='auto' or True")
    result = mcnemar(table, exact=use_exact, correction=True)
    return {
        "table": table.tolist(),
        "only_a_correct": only_a,
        "only_b_correct": only_b,
        "n_discordant": n_discordant,
        "statistic": float(result.statistic),
        "pvalue": float(result.pvalue),
        "method": "exact binomial" if use_exact else "chi-square with continuity correction",
    }


# --------------------------------------------------------------------------------------------
# seeds and verdicts
# --------------------------------------------------------------------------------------------


def aggregate_seeds(values: Iterable[float]) -> dict[str, float | int]:
    """Mean and sample standard deviation (``ddof=1``) of one metric over training seeds.

    With a single seed the standard deviation is undefined and returned as NaN (not 0, which
    would claim a perfectly stable result). Non-finite values raise, because a failed run must be
    reported, not silently averaged away.
    """
    array = np.asarray(list(values), dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"aggregate_seeds needs a non-empty 1-D list of values, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        bad = int(np.sum(~np.isfinite(array)))
        raise ValueError(f"{bad} of {array.size} seed values are NaN/inf; fix or exclude the failed runs explicitly")
    sd = float(np.std(array, ddof=1)) if array.size > 1 else math.nan
    return {"mean": float(array.mean()), "sd": sd, "n": int(array.size)}


def verdict(
    claimed: float | None,
    ci_low: float | None,
    ci_high: float | None,
    is_synthetic: bool,
    untestable_reason: str | None = None,
    fraction: bool = True,
) -> str:
    """Classify a published number against our confidence interval.

    Precedence: a given ``untestable_reason`` wins (``"untestable"``), then runs on synthetic
    data (``"synthetic only"``: they test the pipeline, not the claim). Otherwise the claim is
    ``"reproduced"`` when it lies inside ``[ci_low, ci_high]`` (bounds inclusive),
    ``"not reproduced (higher)"`` when the paper's number is above our interval and
    ``"not reproduced (lower)"`` when it is below.

    ``claimed`` and the interval must be on the same scale. Papers report percentages while our
    metrics are fractions, so a claim above 1 against an interval inside [0, 1] raises instead of
    returning a meaningless verdict. ``fraction=False`` marks a metric that is not a fraction (an epoch
    count, a parameter count), where that check does not apply.
    """
    if untestable_reason:
        return "untestable"
    if is_synthetic:
        return "synthetic only"
    values = {"claimed": claimed, "ci_low": ci_low, "ci_high": ci_high}
    missing = [k for k, v in values.items() if v is None or not np.isfinite(v)]
    if missing:
        raise ValueError(
            f"verdict needs finite {', '.join(missing)}; pass untestable_reason if the claim cannot be tested"
        )
    if ci_low > ci_high:
        raise ValueError(f"ci_low={ci_low} is above ci_high={ci_high}")
    if fraction and claimed > 1.0 and 0.0 <= ci_low and ci_high <= 1.0:
        raise ValueError(
            f"claimed={claimed} looks like a percentage but the interval [{ci_low}, {ci_high}] is a fraction; "
            "divide the claim by 100"
        )
    if claimed > ci_high:
        return "not reproduced (higher)"
    if claimed < ci_low:
        return "not reproduced (lower)"
    return "reproduced"


# --------------------------------------------------------------------------------------------
# metrics from confusion counts, vectorised (for intervals over several seeds or folds)
# --------------------------------------------------------------------------------------------

# The metric table's metrics that are a function of the confusion matrix alone (so one encoding covers all of
# them), by their stats name (metrics.json's key); the per-class ones take a ``class_index``.
_CONFUSION = {m.stats_name: m for m in METRICS if m.from_confusion}
CONFUSION_METRICS = tuple(name for name, m in _CONFUSION.items() if not m.per_class)
CLASS_METRICS = tuple(name for name, m in _CONFUSION.items() if m.per_class)


def encode_outcomes(y_true: Any, y_pred: Any, n_classes: int) -> np.ndarray:
    """One integer per test sample, ``true * K + predicted``: a sample's whole outcome in one value.

    Encoding (true, predicted) as one number lets scipy resample a run's samples as a single 1-D
    array, so label pairs stay together while several runs are resampled independently.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim != 1 or y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must be 1-D and equally long, got {y_true.shape} and {y_pred.shape}")
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        if values.size and (
            not np.issubdtype(values.dtype, np.integer) or values.min() < 0 or values.max() >= n_classes
        ):
            raise ValueError(f"{name} must hold class indices 0..{n_classes - 1}, found {np.unique(values)[:10]}")
    return y_true.astype(np.int64) * n_classes + y_pred.astype(np.int64)


def confusion_from_codes(codes: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion matrices (..., K, K) (rows true, columns predicted) of codes (..., n), for any leading axes."""
    codes = np.asarray(codes, dtype=np.int64)
    cells = n_classes * n_classes
    lead = codes.shape[:-1]
    flat = codes.reshape(-1, codes.shape[-1])
    # One bincount over all rows at once: offset each row's codes into its own block of K*K cells.
    offsets = (np.arange(flat.shape[0], dtype=np.int64) * cells)[:, None]
    counts = np.bincount((flat + offsets).ravel(), minlength=flat.shape[0] * cells)
    return counts.reshape(*lead, n_classes, n_classes)


def _check_metric_args(metric: str, n_classes: int, scored: Sequence[int] | None, class_index: int | None) -> None:
    if metric not in CONFUSION_METRICS + CLASS_METRICS:
        raise ValueError(f"metric must be one of {CONFUSION_METRICS + CLASS_METRICS}, got {metric!r}")
    if (metric in CLASS_METRICS) != (class_index is not None):
        raise ValueError(
            f"class_index is needed by the per-class metrics {CLASS_METRICS} and by them only; "
            f"got metric={metric!r}, class_index={class_index!r}"
        )
    indices = list(scored or []) + ([] if class_index is None else [class_index])
    if scored is not None and not len(scored):
        raise ValueError("scored must name at least one class index")
    if any(not 0 <= int(i) < n_classes for i in indices):
        raise ValueError(
            f"class indices must lie in 0..{n_classes - 1}, got scored={scored}, class_index={class_index}"
        )


def metric_from_confusion(
    confusion: np.ndarray, metric: str, scored: Sequence[int] | None = None, class_index: int | None = None
) -> np.ndarray:
    """A metric of :data:`CONFUSION_METRICS` or :data:`CLASS_METRICS` from confusion matrices (..., K, K).

    The metric table's ``confusion`` form (ferrepro.evaluation.metrics), equal to its scikit-learn ``score``,
    which fills metrics.json (tests check the equality for every such metric).
    ``scored``: the class indices macro and weighted averages run over (metrics.json's
    ``scored_classes``; default all K), so a class a cross-test target lacks does not enter as a 0.
    A scored class absent from a resample contributes 0 to a macro average, as in the point estimate.
    ``precision`` / ``recall`` / ``f1`` (:data:`CLASS_METRICS`) are of the one class ``class_index``.
    """
    cm = np.asarray(confusion, dtype=np.float64)
    _check_metric_args(metric, cm.shape[-1], scored, class_index)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _CONFUSION[metric].confusion(Confusion(cm, scored, class_index))


def metric_from_codes(
    codes: np.ndarray, n_classes: int, metric: str, scored: Sequence[int] | None = None, class_index: int | None = None
) -> np.ndarray:
    return metric_from_confusion(confusion_from_codes(codes, n_classes), metric, scored, class_index)


# --------------------------------------------------------------------------------------------
# intervals over several seeds (and pooled cross-validation folds)
# --------------------------------------------------------------------------------------------

SeedOutcomes = tuple  # (y_true, y_pred) class-index vectors of one seed (folds already pooled)


def _seed_codes(per_seed: Sequence[SeedOutcomes], n_classes: int, name: str) -> list[np.ndarray]:
    if not per_seed:
        raise ValueError(f"{name}: need the outcomes of at least one seed")
    codes = [encode_outcomes(t, p, n_classes) for t, p in per_seed]
    if any(c.size < 2 for c in codes):
        raise ValueError(
            f"{name}: every seed needs at least 2 test samples to bootstrap, got sizes {[c.size for c in codes]}"
        )
    return codes


def _check_shared(codes: list[np.ndarray], shared: bool, name: str) -> None:
    if shared and len({c.size for c in codes}) != 1:
        raise ValueError(
            f"{name}: shared_test_set=True needs equally long, aligned outcome vectors per seed, "
            f"got sizes {[c.size for c in codes]}"
        )


def seed_mean_ci(
    per_seed: Sequence[SeedOutcomes],
    metric: str,
    n_classes: int,
    shared_test_set: bool,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    method: str = "BCa",
    seed: int = 0,
    scored: Sequence[int] | None = None,
    class_index: int | None = None,
) -> dict[str, Any]:
    """Bootstrap CI of the mean over seeds of a test-set metric, resampling test samples.

    The statistic is ``mean_s metric(seed s on the resampled samples)``: the models are fixed, the
    test set is the random part, and averaging over seeds removes part
    of the seed-to-seed noise from the point estimate (the spread itself is the ``sd`` that
    :func:`aggregate_seeds` reports beside the interval).

    ``shared_test_set``: every seed was tested on the same samples (e.g. an official test split,
    or pooled cross-validation folds, which cover the whole dataset), passed aligned sample by
    sample. Each resample then draws ONE set of indices for all seeds, which keeps the correlation
    between seeds (they err on the same hard faces); resampling them independently would make the
    interval about sqrt(seeds) too narrow. Otherwise (seed-dependent splits) each seed's test set
    is its own sample and is resampled independently (scipy's multi-sample bootstrap).
    ``scored`` and ``class_index`` as in :func:`metric_from_confusion`.
    """
    codes = _seed_codes(per_seed, n_classes, "seed_mean_ci")
    _check_shared(codes, shared_test_set, "seed_mean_ci")
    _check_metric_args(metric, n_classes, scored, class_index)

    def statistic(*arrays, axis=-1):
        return np.mean(
            [metric_from_codes(np.moveaxis(a, axis, -1), n_classes, metric, scored, class_index) for a in arrays],
            axis=0,
        )

    estimate = float(statistic(*codes))
    result = _bootstrap_with_fallback(
        tuple(codes),
        statistic,
        paired=shared_test_set,
        n_resamples=n_resamples,
        confidence=confidence,
        method=method,
        seed=seed,
    )
    return {
        "statistic": metric,
        "estimate": estimate,
        "n_seeds": len(codes),
        "n": [int(c.size) for c in codes],
        "resampling": "one seed"
        if len(codes) == 1
        else ("shared test set, paired across seeds" if shared_test_set else "independent per seed"),
        **result,
    }


def seed_mean_difference_ci(
    per_seed_a: Sequence[SeedOutcomes],
    per_seed_b: Sequence[SeedOutcomes],
    metric: str,
    n_classes: int,
    paired_within_seed: bool,
    shared_test_set: bool,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    method: str = "BCa",
    seed: int = 0,
) -> dict[str, Any]:
    """Bootstrap CI of ``mean_s metric(a_s) - mean_s metric(b_s)`` (models a and b, seeds s).

    ``paired_within_seed``: a_s and b_s were tested on the same samples, aligned (the usual
    ablation pair: same split and seed); one index set then serves both, the paired bootstrap of
    :func:`paired_bootstrap_diff_ci`. Otherwise (e.g. a leaky re-split against the proper split)
    a's and b's test sets are resampled independently. ``shared_test_set`` as in
    :func:`seed_mean_ci`, across seeds.
    """
    codes_a = _seed_codes(per_seed_a, n_classes, "seed_mean_difference_ci (a)")
    codes_b = _seed_codes(per_seed_b, n_classes, "seed_mean_difference_ci (b)")
    if len(codes_a) != len(codes_b):
        raise ValueError(
            f"seed_mean_difference_ci: a has {len(codes_a)} seeds, b has {len(codes_b)}; pair them by seed"
        )
    cells = n_classes * n_classes
    if paired_within_seed:
        if any(a.size != b.size for a, b in zip(codes_a, codes_b)):
            raise ValueError(
                "seed_mean_difference_ci: paired_within_seed needs a and b aligned sample by sample per seed, "
                f"got sizes {[a.size for a in codes_a]} and {[b.size for b in codes_b]}"
            )
        # One code per sample holds both models' outcomes, so resampling keeps each pair together.
        units = [a * cells + b for a, b in zip(codes_a, codes_b)]
        _check_shared(units, shared_test_set, "seed_mean_difference_ci")

        def statistic(*arrays, axis=-1):
            moved = [np.moveaxis(u, axis, -1) for u in arrays]
            mean_a = np.mean([metric_from_codes(u // cells, n_classes, metric) for u in moved], axis=0)
            mean_b = np.mean([metric_from_codes(u % cells, n_classes, metric) for u in moved], axis=0)
            return mean_a - mean_b

        paired = shared_test_set
    else:
        units = codes_a + codes_b
        n_seeds = len(codes_a)

        def statistic(*arrays, axis=-1):
            values = [metric_from_codes(np.moveaxis(u, axis, -1), n_classes, metric) for u in arrays]
            return np.mean(values[:n_seeds], axis=0) - np.mean(values[n_seeds:], axis=0)

        paired = False
    estimate = float(statistic(*units))
    result = _bootstrap_with_fallback(
        tuple(units), statistic, paired=paired, n_resamples=n_resamples, confidence=confidence, method=method, seed=seed
    )
    return {
        "statistic": f"{metric} difference (a - b)",
        "difference": estimate,
        "n_seeds": len(codes_a),
        "paired_within_seed": paired_within_seed,
        "shared_test_set": shared_test_set,
        **result,
    }


def count_outcomes(n_correct: int, n: int) -> SeedOutcomes:
    """(y_true, y_pred) over 2 classes with ``n_correct`` of ``n`` right: a run known only by its accuracy.

    The bootstrap of an accuracy depends on the sample only through its count of correct
    answers, so this reproduces it exactly for one seed (used for validation accuracy, whose
    per-sample predictions are not stored).
    """
    if not 0 <= n_correct <= n:
        raise ValueError(f"need 0 <= n_correct <= n, got {n_correct} of {n}")
    y_true = np.zeros(n, dtype=np.int64)
    y_pred = np.r_[np.zeros(n_correct, dtype=np.int64), np.ones(n - n_correct, dtype=np.int64)]
    return y_true, y_pred


def median_ci(values: Any, n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Percentile bootstrap CI of the median of repeated measurements (e.g. latencies in ms)."""
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or array.size < 2:
        raise ValueError(f"median_ci needs at least 2 measurements, got shape {array.shape}")

    def statistic(x, axis=-1):
        return np.median(x, axis=axis)

    result = _bootstrap_with_fallback(
        (array,),
        statistic,
        paired=False,
        n_resamples=n_resamples,
        confidence=confidence,
        method="percentile",
        seed=seed,
    )
    return {"statistic": "median", "estimate": float(np.median(array)), "n": int(array.size), **result}


def seed_range(values: Iterable[float]) -> dict[str, float]:
    """Smallest and largest value over seeds: the interval used for quantities with no sampling model (epochs)."""
    array = np.asarray(list(values), dtype=float)
    if array.size == 0 or not np.all(np.isfinite(array)):
        raise ValueError(f"seed_range needs finite values, got {array}")
    return {"low": float(array.min()), "high": float(array.max())}


def claim_resolution(claimed: float) -> float:
    """Half a unit in the last significant digit of a published number (11600000 -> 50000, 4.2 -> 0.05).

    Used for deterministic quantities (parameter counts, FLOPs): ours reproduces the claim when it
    rounds to the printed value. Trailing zeros of an integer are taken as not significant, since
    papers print "11.6 M", not "11,600,000".
    """
    if not np.isfinite(claimed):
        raise ValueError(f"claim_resolution needs a finite number, got {claimed}")
    text = f"{abs(float(claimed)):.12g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        return 0.5 * 10.0 ** (int(exponent) - decimals)
    if "." in text:
        return 0.5 * 10.0 ** -len(text.split(".")[1])
    stripped = text.rstrip("0")
    return 0.5 * 10.0 ** (len(text) - len(stripped)) if stripped else 0.5
