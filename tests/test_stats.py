"""Tests for ferrepro.evaluation.stats: McNemar, bootstrap intervals, seed aggregation, verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score

from ferrepro.evaluation.stats import (
    VERDICTS,
    aggregate_seeds,
    bootstrap_ci,
    macro_f1_vectorized,
    mcnemar_table,
    mcnemar_test,
    paired_bootstrap_diff_ci,
    verdict,
)


def paired_outcomes(both: int, only_a: int, only_b: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    """Correctness vectors realising a given 2x2 McNemar table (shuffled so order does not matter)."""
    a = np.array([True] * both + [True] * only_a + [False] * only_b + [False] * neither)
    b = np.array([True] * both + [False] * only_a + [True] * only_b + [False] * neither)
    order = np.random.default_rng(1).permutation(a.size)
    return a[order], b[order]


# ------------------------------------------------------------------------------------------- McNemar

def test_mcnemar_table_orientation():
    a, b = paired_outcomes(both=50, only_a=10, only_b=3, neither=5)
    assert mcnemar_table(a, b).tolist() == [[50, 10], [3, 5]]


def test_mcnemar_exact_matches_binomial_formula():
    a, b = paired_outcomes(both=50, only_a=10, only_b=3, neither=5)
    result = mcnemar_test(a, b)
    # Two-sided exact test: 2 * P(X <= min(b, c)) for X ~ Binomial(b + c, 1/2).
    n, k = 13, 3
    expected = 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    assert result["method"] == "exact binomial"
    assert result["n_discordant"] == 13
    assert result["pvalue"] == pytest.approx(expected, rel=1e-12)
    assert result["table"] == [[50, 10], [3, 5]]


def test_mcnemar_chi_square_matches_hand_formula():
    a, b = paired_outcomes(both=100, only_a=40, only_b=20, neither=30)
    result = mcnemar_test(a, b)
    statistic = (abs(40 - 20) - 1) ** 2 / (40 + 20)  # Edwards' continuity correction
    pvalue = math.erfc(math.sqrt(statistic / 2))  # chi-square survival function, 1 degree of freedom
    assert result["method"] == "chi-square with continuity correction"
    assert result["statistic"] == pytest.approx(statistic)
    assert result["pvalue"] == pytest.approx(pvalue, rel=1e-9)


def test_mcnemar_auto_switches_at_25_discordant_pairs():
    assert mcnemar_test(*paired_outcomes(10, 14, 10, 5))["method"] == "exact binomial"
    assert mcnemar_test(*paired_outcomes(10, 15, 10, 5))["method"].startswith("chi-square")
    assert mcnemar_test(*paired_outcomes(10, 15, 10, 5), exact=True)["method"] == "exact binomial"


def test_mcnemar_identical_models_give_p_one_and_reject_bad_input():
    a, _ = paired_outcomes(20, 5, 5, 5)
    assert mcnemar_test(a, a)["pvalue"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no discordant"):
        mcnemar_test(a, a, exact=False)
    with pytest.raises(ValueError, match="same test samples"):
        mcnemar_test(a, a[:-1])


# ------------------------------------------------------------------------------------------ bootstrap

def test_bootstrap_ci_covers_known_mean_with_sensible_width():
    n = 400
    correct = np.random.default_rng(123).random(n) < 0.7
    result = bootstrap_ci(correct, n_resamples=2000, seed=0)
    assert result["method"] == "BCa" and result["fallback_reason"] is None
    assert result["ci_low"] < 0.7 < result["ci_high"]
    assert result["ci_low"] < result["estimate"] < result["ci_high"]
    normal_width = 2 * 1.96 * math.sqrt(0.7 * 0.3 / n)  # Wald width, ~0.09 here
    assert 0.75 * normal_width < result["ci_high"] - result["ci_low"] < 1.25 * normal_width


def test_bootstrap_ci_coverage_over_repeated_samples():
    rng = np.random.default_rng(7)
    repeats, hits = 40, 0
    for repeat in range(repeats):
        correct = rng.random(150) < 0.7
        result = bootstrap_ci(correct, n_resamples=1000, seed=repeat)
        hits += result["ci_low"] <= 0.7 <= result["ci_high"]
    # Nominal 95 %: 38/40 expected; 33 or fewer would be ~4 standard errors below nominal.
    assert hits >= 34


def test_bootstrap_ci_is_seeded():
    correct = np.random.default_rng(0).random(200) < 0.6
    first, again, other = (bootstrap_ci(correct, n_resamples=500, seed=s) for s in (3, 3, 4))
    assert (first["ci_low"], first["ci_high"]) == (again["ci_low"], again["ci_high"])
    assert (first["ci_low"], first["ci_high"]) != (other["ci_low"], other["ci_high"])


def test_bootstrap_all_correct_falls_back_to_percentile():
    result = bootstrap_ci(np.ones(60, dtype=bool))
    assert result["method"] == "percentile"
    assert result["method_requested"] == "BCa"
    assert "percentile" in result["fallback_reason"]
    assert result["ci_low"] == result["ci_high"] == 1.0


def test_bootstrap_accepts_label_pair_for_accuracy():
    rng = np.random.default_rng(5)
    y_true = rng.integers(0, 7, 300)
    y_pred = np.where(rng.random(300) < 0.6, y_true, rng.integers(0, 7, 300))
    result = bootstrap_ci((y_true, y_pred), statistic="accuracy", n_resamples=500)
    assert result["estimate"] == pytest.approx(np.mean(y_true == y_pred))


def test_macro_f1_vectorized_matches_sklearn_including_absent_classes():
    rng = np.random.default_rng(11)
    y_true = rng.integers(0, 6, 200)
    y_pred = np.where(rng.random(200) < 0.5, y_true, rng.integers(0, 5, 200))  # class 5 never predicted
    labels = np.arange(7)  # class 6 appears nowhere: F1 = 0 under zero_division=0
    expected = f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    assert macro_f1_vectorized(y_true, y_pred, labels) == pytest.approx(expected, abs=1e-12)
    # vectorised over a leading resample axis
    stacked = macro_f1_vectorized(np.stack([y_true, y_true[::-1]]), np.stack([y_pred, y_pred[::-1]]), labels)
    assert stacked.shape == (2,)
    assert stacked[1] == pytest.approx(expected)


def test_bootstrap_macro_f1_matches_sklearn_estimate():
    rng = np.random.default_rng(2)
    names = np.array(["angry", "happy", "sad", "neutral"])
    y_true = names[rng.integers(0, 4, 300)]
    y_pred = np.where(rng.random(300) < 0.65, y_true, names[rng.integers(0, 4, 300)])
    result = bootstrap_ci((y_true, y_pred), statistic="macro_f1", n_resamples=500)
    assert result["estimate"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert result["ci_low"] < result["estimate"] < result["ci_high"]
    with pytest.raises(ValueError, match="needs labels"):
        bootstrap_ci(y_true == y_pred, statistic="macro_f1")


def test_bootstrap_rejects_non_binary_correctness():
    with pytest.raises(ValueError, match="correctness"):
        bootstrap_ci(np.array([0, 1, 2, 1]))


def test_paired_difference_ci_uses_pairing():
    rng = np.random.default_rng(3)
    a = rng.random(500) < 0.7
    b = a.copy()
    b[np.flatnonzero(a)[:25]] = False  # b = a with 25 extra errors: 5 points worse, strongly correlated
    result = paired_bootstrap_diff_ci(a, b, n_resamples=1000)
    assert result["difference"] == pytest.approx(0.05)
    assert 0 < result["ci_low"] < 0.05 < result["ci_high"]
    unpaired_se = math.hypot(bootstrap_ci(a, n_resamples=1000)["standard_error"],
                             bootstrap_ci(b, n_resamples=1000)["standard_error"])
    assert result["standard_error"] < 0.5 * unpaired_se


def test_paired_difference_of_identical_models_is_degenerate_zero():
    a = np.random.default_rng(4).random(100) < 0.5
    result = paired_bootstrap_diff_ci(a, a, n_resamples=500)
    assert result["ci_low"] == result["ci_high"] == 0.0
    assert result["method"] == "percentile" and result["fallback_reason"]


# ---------------------------------------------------------------------------------------------- seeds

def test_aggregate_seeds_uses_sample_sd():
    assert aggregate_seeds([0.6, 0.7, 0.8]) == pytest.approx({"mean": 0.7, "sd": 0.1, "n": 3})


def test_aggregate_single_seed_has_nan_sd():
    result = aggregate_seeds([0.65])
    assert result["mean"] == 0.65 and result["n"] == 1 and math.isnan(result["sd"])


def test_aggregate_seeds_refuses_failed_runs_and_empty_input():
    with pytest.raises(ValueError, match="NaN"):
        aggregate_seeds([0.6, float("nan")])
    with pytest.raises(ValueError, match="non-empty"):
        aggregate_seeds([])


# -------------------------------------------------------------------------------------------- verdict

@pytest.mark.parametrize(
    "claimed, low, high, expected",
    [
        (0.70, 0.68, 0.72, "reproduced"),
        (0.68, 0.68, 0.72, "reproduced"),  # bounds are inclusive
        (0.72, 0.68, 0.72, "reproduced"),
        (0.75, 0.68, 0.72, "not reproduced (higher)"),
        (0.60, 0.68, 0.72, "not reproduced (lower)"),
    ],
)
def test_verdict_against_interval(claimed, low, high, expected):
    assert verdict(claimed, low, high, is_synthetic=False) == expected


def test_verdict_precedence_and_vocabulary():
    assert verdict(0.99, 0.5, 0.6, is_synthetic=True) == "synthetic only"
    assert verdict(0.99, 0.5, 0.6, is_synthetic=True, untestable_reason="dataset not public") == "untestable"
    assert verdict(None, None, None, is_synthetic=False, untestable_reason="no test split") == "untestable"
    assert set(VERDICTS) == {"reproduced", "not reproduced (higher)", "not reproduced (lower)",
                             "untestable", "synthetic only"}


def test_verdict_rejects_scale_mismatch_and_missing_interval():
    with pytest.raises(ValueError, match="percentage"):
        verdict(65.8, 0.6, 0.7, is_synthetic=False)
    with pytest.raises(ValueError, match="untestable_reason"):
        verdict(0.658, float("nan"), 0.7, is_synthetic=False)
    with pytest.raises(ValueError, match="above"):
        verdict(0.658, 0.7, 0.6, is_synthetic=False)
