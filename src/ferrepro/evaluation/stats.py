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
* **Macro-F1** is bootstrapped with *paired* resampling (the same sample indices for ``y_true``
  and ``y_pred``). The label set is fixed to the classes seen in the full ``y_true`` / ``y_pred``
  (sklearn's default for the point estimate), and a class with no true and no predicted sample in
  a resample scores F1 = 0 (sklearn's ``zero_division=0``), so the interval describes exactly the
  statistic that sklearn reports for the full test set.
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
from typing import Any, Iterable, Sequence

import numpy as np
from scipy import stats as scipy_stats

VERDICTS = (
    "reproduced",
    "not reproduced (higher)",
    "not reproduced (lower)",
    "untestable",
    "synthetic only",
)

STATISTICS = ("accuracy", "macro_f1")

# McNemar: below this many discordant pairs the exact binomial test is used.
EXACT_DISCORDANT_THRESHOLD = 25

# scipy >= 1.15 takes ``rng``; older versions (pyproject allows scipy >= 1.11) take ``random_state``.
_RNG_KWARG = "rng" if "rng" in inspect.signature(scipy_stats.bootstrap).parameters else "random_state"

# Resamples evaluated per vectorised call; bounds memory for macro-F1 (batch x classes x n booleans).
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
                "pass (y_true, y_pred) as a tuple to bootstrap from labels instead"
            )
        array = array.astype(bool)
    return array


def _as_label_pair(data: Any) -> tuple[np.ndarray, np.ndarray]:
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise ValueError("expected a (y_true, y_pred) pair of label vectors")
    y_true, y_pred = (np.asarray(v) for v in data)
    if y_true.ndim != 1 or y_pred.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D, got shapes {y_true.shape} and {y_pred.shape}")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {y_true.size} vs {y_pred.size}")
    if y_true.size < 2:
        raise ValueError(f"need at least 2 test samples to bootstrap, got {y_true.size}")
    return y_true, y_pred


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

def _mean_statistic(correct: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(correct, axis=axis)


def _accuracy_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


def macro_f1_vectorized(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence, axis: int = -1) -> np.ndarray:
    """Macro-F1 over a fixed label set, vectorised over leading (resample) axes.

    Equal to ``sklearn.metrics.f1_score(y_true, y_pred, labels=labels, average="macro",
    zero_division=0)`` (tests check this); written out because calling sklearn once per bootstrap
    resample and jackknife sample takes ~10 ms each, i.e. about a minute per interval for a 3.5k
    test set, while this takes well under a second.
    """
    y_true = np.moveaxis(np.asarray(y_true), axis, -1)
    y_pred = np.moveaxis(np.asarray(y_pred), axis, -1)
    labels = np.asarray(labels)
    is_true = y_true[..., None, :] == labels[:, None]  # (..., K, n)
    is_pred = y_pred[..., None, :] == labels[:, None]
    true_pos = np.sum(is_true & is_pred, axis=-1)
    false_pos = np.sum(~is_true & is_pred, axis=-1)
    false_neg = np.sum(is_true & ~is_pred, axis=-1)
    denominator = 2 * true_pos + false_pos + false_neg
    with np.errstate(divide="ignore", invalid="ignore"):
        per_class = np.where(denominator > 0, 2 * true_pos / np.maximum(denominator, 1), 0.0)
    return per_class.mean(axis=-1)


# --------------------------------------------------------------------------------------------
# bootstrap
# --------------------------------------------------------------------------------------------

def _bootstrap_with_fallback(data: tuple, statistic, *, paired: bool, n_resamples: int,
                             confidence: float, method: str, seed: int) -> dict[str, Any]:
    """Run scipy's bootstrap; if the BCa interval is undefined, redo it as percentile on the same resamples."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 100:
        raise ValueError(f"n_resamples={n_resamples} is too few for a confidence interval; use >= 1000")
    method_key = method.lower()
    if method_key not in ("bca", "percentile", "basic"):
        raise ValueError(f"method must be 'BCa', 'percentile' or 'basic', got {method!r}")
    kwargs = dict(paired=paired, vectorized=True, axis=-1, confidence_level=confidence,
                  batch=_BOOTSTRAP_BATCH, **{_RNG_KWARG: np.random.default_rng(seed)})
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
        result = scipy_stats.bootstrap(data, statistic, n_resamples=0, method="percentile",
                                       bootstrap_result=result, **kwargs)
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


def bootstrap_ci(data: Any, statistic: str = "accuracy", n_resamples: int = 2000,
                 confidence: float = 0.95, method: str = "BCa", seed: int = 0,
                 labels: Sequence | None = None) -> dict[str, Any]:
    """Bootstrap confidence interval of a test-set score, resampling test samples.

    Args:
        data: either a 1-D per-sample correctness vector (bool or 0/1; only for ``accuracy``) or a
            ``(y_true, y_pred)`` pair of label vectors (required for ``macro_f1``).
        statistic: ``"accuracy"`` or ``"macro_f1"``.
        n_resamples: bootstrap resamples (default 2000: enough for stable 95 % BCa limits).
        confidence: two-sided confidence level.
        method: ``"BCa"`` (default), ``"percentile"`` or ``"basic"``, passed to scipy.
        seed: seeds the resampling, so the interval is reproducible.
        labels: label set for macro-F1; default: classes present in ``y_true`` or ``y_pred``.

    Returns:
        dict with ``statistic``, ``estimate`` (on the full test set), ``ci_low``, ``ci_high``,
        ``standard_error``, ``n``, ``method`` (the one actually used), ``method_requested``,
        ``fallback_reason`` (``None`` unless BCa was undefined and the percentile interval was
        used instead), ``confidence``, ``n_resamples``, ``seed``. Values are fractions in [0, 1].
    """
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
    if isinstance(data, (tuple, list)) and len(data) == 2 and np.ndim(data[0]) == 1:
        y_true, y_pred = _as_label_pair(data)
        if statistic == "accuracy":
            samples, func, paired = (y_true == y_pred,), _mean_statistic, False
        else:
            label_set = np.unique(np.concatenate([y_true, y_pred])) if labels is None else np.asarray(labels)

            def func(t, p, axis=-1):
                return macro_f1_vectorized(t, p, label_set, axis=axis)

            samples, paired = (y_true, y_pred), True
    else:
        if statistic == "macro_f1":
            raise ValueError("macro_f1 needs labels: pass data=(y_true, y_pred), not a correctness vector")
        samples, func, paired = (_as_correct_vector(data),), _mean_statistic, False
    estimate = float(func(*samples))
    result = _bootstrap_with_fallback(samples, func, paired=paired, n_resamples=n_resamples,
                                      confidence=confidence, method=method, seed=seed)
    return {"statistic": statistic, "estimate": estimate, "n": int(samples[0].size), **result}


def paired_bootstrap_diff_ci(correct_a: Any, correct_b: Any, n_resamples: int = 2000,
                             confidence: float = 0.95, method: str = "BCa", seed: int = 0) -> dict[str, Any]:
    """Confidence interval of ``accuracy(a) - accuracy(b)`` with paired resampling.

    Both correctness vectors must describe the same test samples in the same order; each
    resample draws sample indices once and uses them for both models, which keeps the
    correlation between the two models' errors (ignoring it would make the interval too wide).
    Same fallback rule as :func:`bootstrap_ci` (identical vectors give a degenerate [0, 0]).

    Returns:
        dict with ``difference`` (a - b on the full test set), ``accuracy_a``, ``accuracy_b``,
        ``ci_low``, ``ci_high`` and the bootstrap metadata of :func:`bootstrap_ci`.
    """
    a, b = _check_paired_correct(correct_a, correct_b)
    result = _bootstrap_with_fallback((a, b), _accuracy_difference, paired=True, n_resamples=n_resamples,
                                      confidence=confidence, method=method, seed=seed)
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
    return np.array([[np.sum(a & b), np.sum(a & ~b)],
                     [np.sum(~a & b), np.sum(~a & ~b)]], dtype=np.int64)


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


def verdict(claimed: float | None, ci_low: float | None, ci_high: float | None, is_synthetic: bool,
            untestable_reason: str | None = None) -> str:
    """Classify a published number against our confidence interval.

    Precedence: a given ``untestable_reason`` wins (``"untestable"``), then runs on synthetic
    data (``"synthetic only"``: they test the pipeline, not the claim). Otherwise the claim is
    ``"reproduced"`` when it lies inside ``[ci_low, ci_high]`` (bounds inclusive),
    ``"not reproduced (higher)"`` when the paper's number is above our interval and
    ``"not reproduced (lower)"`` when it is below.

    ``claimed`` and the interval must be on the same scale. Papers report percentages while our
    metrics are fractions, so a claim above 1 against an interval inside [0, 1] raises instead of
    returning a meaningless verdict.
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
    if claimed > 1.0 and 0.0 <= ci_low and ci_high <= 1.0:
        raise ValueError(
            f"claimed={claimed} looks like a percentage but the interval [{ci_low}, {ci_high}] is a fraction; "
            "divide the claim by 100"
        )
    if claimed > ci_high:
        return "not reproduced (higher)"
    if claimed < ci_low:
        return "not reproduced (lower)"
    return "reproduced"
