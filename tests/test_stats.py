"""Tests for ferrepro.evaluation.stats: McNemar, bootstrap intervals, seed aggregation, verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score

from ferrepro.evaluation.stats import (
    VERDICTS,
    aggregate_seeds,
    mcnemar_table,
    mcnemar_test,
    paired_bootstrap_diff_ci,
    seed_mean_ci,
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


def accuracy_ci(correct, **kwargs) -> dict:
    """The bootstrap CI of one run's accuracy, from its per-sample correctness (2 classes: right, wrong)."""
    correct = np.asarray(correct, dtype=bool)
    return seed_mean_ci([(np.zeros(correct.size, int), (~correct).astype(int))], "accuracy", 2, False, **kwargs)


def test_accuracy_ci_covers_known_mean_with_sensible_width():
    n = 400
    correct = np.random.default_rng(123).random(n) < 0.7
    result = accuracy_ci(correct, n_resamples=2000, seed=0)
    assert result["method"] == "BCa" and result["fallback_reason"] is None
    assert result["ci_low"] < 0.7 < result["ci_high"]
    assert result["ci_low"] < result["estimate"] < result["ci_high"]
    normal_width = 2 * 1.96 * math.sqrt(0.7 * 0.3 / n)  # Wald width, ~0.09 here
    assert 0.75 * normal_width < result["ci_high"] - result["ci_low"] < 1.25 * normal_width


def test_accuracy_ci_coverage_over_repeated_samples():
    rng = np.random.default_rng(7)
    repeats, hits = 40, 0
    for repeat in range(repeats):
        correct = rng.random(150) < 0.7
        result = accuracy_ci(correct, n_resamples=1000, seed=repeat)
        hits += result["ci_low"] <= 0.7 <= result["ci_high"]
    # Nominal 95 %: 38/40 expected; 33 or fewer would be ~4 standard errors below nominal.
    assert hits >= 34


def test_accuracy_ci_is_seeded():
    correct = np.random.default_rng(0).random(200) < 0.6
    first, again, other = (accuracy_ci(correct, n_resamples=500, seed=s) for s in (3, 3, 4))
    assert (first["ci_low"], first["ci_high"]) == (again["ci_low"], again["ci_high"])
    assert (first["ci_low"], first["ci_high"]) != (other["ci_low"], other["ci_high"])


def test_bootstrap_all_correct_falls_back_to_percentile():
    result = accuracy_ci(np.ones(60, dtype=bool))
    assert result["method"] == "percentile"
    assert result["method_requested"] == "BCa"
    assert "percentile" in result["fallback_reason"]
    assert result["ci_low"] == result["ci_high"] == 1.0


def test_bootstrap_rejects_non_binary_correctness():
    with pytest.raises(ValueError, match="correctness"):
        paired_bootstrap_diff_ci(np.array([0, 1, 2, 1]), np.array([0, 1, 1, 1]))


def test_paired_difference_ci_uses_pairing():
    rng = np.random.default_rng(3)
    a = rng.random(500) < 0.7
    b = a.copy()
    b[np.flatnonzero(a)[:25]] = False  # b = a with 25 extra errors: 5 points worse, strongly correlated
    result = paired_bootstrap_diff_ci(a, b, n_resamples=1000)
    assert result["difference"] == pytest.approx(0.05)
    assert 0 < result["ci_low"] < 0.05 < result["ci_high"]
    unpaired_se = math.hypot(
        accuracy_ci(a, n_resamples=1000)["standard_error"], accuracy_ci(b, n_resamples=1000)["standard_error"]
    )
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
    assert set(VERDICTS) == {
        "reproduced",
        "not reproduced (higher)",
        "not reproduced (lower)",
        "untestable",
        "synthetic only",
    }


def test_verdict_rejects_scale_mismatch_and_missing_interval():
    with pytest.raises(ValueError, match="percentage"):
        verdict(65.8, 0.6, 0.7, is_synthetic=False)
    # A count (epochs) is not a fraction: 76 against [1, 1] is a plain comparison.
    assert verdict(76, 1.0, 1.0, is_synthetic=False, fraction=False) == "not reproduced (higher)"
    with pytest.raises(ValueError, match="untestable_reason"):
        verdict(0.658, float("nan"), 0.7, is_synthetic=False)
    with pytest.raises(ValueError, match="above"):
        verdict(0.658, 0.7, 0.6, is_synthetic=False)


# ------------------------------------------------------------------- metrics from confusion counts

from sklearn.metrics import accuracy_score, matthews_corrcoef, precision_score, recall_score  # noqa: E402

from ferrepro.evaluation.stats import (  # noqa: E402
    CONFUSION_METRICS,
    claim_resolution,
    confusion_from_codes,
    count_outcomes,
    encode_outcomes,
    median_ci,
    metric_from_codes,
    seed_mean_difference_ci,
    seed_range,
)

# scikit-learn's own calls, written out independently of the metric table (tests/test_metric_table.py checks
# every confusion metric of the table against the table's scikit-learn score).
SKLEARN_METRICS = ("accuracy", "macro_f1", "macro_precision", "macro_recall", "weighted_f1", "mcc")


def sklearn_metric(metric, y_true, y_pred, n_classes):
    labels = list(range(n_classes))
    kwargs = {"labels": labels, "zero_division": 0}
    return {
        "accuracy": lambda: accuracy_score(y_true, y_pred),
        "macro_f1": lambda: f1_score(y_true, y_pred, average="macro", **kwargs),
        "macro_precision": lambda: precision_score(y_true, y_pred, average="macro", **kwargs),
        "macro_recall": lambda: recall_score(y_true, y_pred, average="macro", **kwargs),
        "weighted_f1": lambda: f1_score(y_true, y_pred, average="weighted", **kwargs),
        "mcc": lambda: matthews_corrcoef(y_true, y_pred),
    }[metric]()


def noisy_predictions(rng, n, accuracy, n_classes=7, present=None):
    present = n_classes if present is None else present
    y_true = rng.integers(0, present, n)
    y_pred = np.where(rng.random(n) < accuracy, y_true, rng.integers(0, present, n))
    return y_true, y_pred


@pytest.mark.parametrize("metric", SKLEARN_METRICS)
def test_metrics_from_confusion_match_sklearn_with_an_empty_class(metric):
    assert metric in CONFUSION_METRICS
    rng = np.random.default_rng(21)
    y_true, y_pred = noisy_predictions(rng, 250, 0.55, n_classes=8, present=7)  # class 7 never occurs (CK+'s neutral)
    codes = encode_outcomes(y_true, y_pred, 8)
    assert metric_from_codes(codes, 8, metric) == pytest.approx(sklearn_metric(metric, y_true, y_pred, 8), abs=1e-12)


def test_confusion_from_codes_is_vectorised_over_resamples():
    rng = np.random.default_rng(5)
    y_true, y_pred = noisy_predictions(rng, 60, 0.5, n_classes=3)
    codes = encode_outcomes(y_true, y_pred, 3)
    stacked = np.stack([codes, codes[::-1], codes[:30].repeat(2)])
    matrices = confusion_from_codes(stacked, 3)
    assert matrices.shape == (3, 3, 3)
    from sklearn.metrics import confusion_matrix

    assert matrices[0].tolist() == confusion_matrix(y_true, y_pred, labels=[0, 1, 2]).tolist()
    assert matrices[1].tolist() == matrices[0].tolist()  # order does not matter
    assert matrices[2].sum() == 60


def test_encode_outcomes_rejects_labels_outside_the_class_range():
    with pytest.raises(ValueError, match="class indices 0..6"):
        encode_outcomes(np.array([0, 7]), np.array([0, 1]), 7)


# ---------------------------------------------------------------------- intervals over several seeds


def test_seed_mean_ci_covers_known_accuracy_over_repeated_experiments():
    rng = np.random.default_rng(8)
    hits, repeats = 0, 30
    for repeat in range(repeats):
        y_true = rng.integers(0, 7, 200)
        seeds = [(y_true, np.where(rng.random(200) < 0.7, y_true, (y_true + 1) % 7)) for _ in range(3)]
        result = seed_mean_ci(seeds, "accuracy", 7, shared_test_set=True, n_resamples=1000, seed=repeat)
        hits += result["ci_low"] <= 0.7 <= result["ci_high"]
    assert hits >= 25  # nominal 95 %: 28.5 of 30 expected; 24 or fewer is ~4 standard errors below


def test_seed_mean_ci_estimate_is_the_mean_of_per_seed_metrics():
    rng = np.random.default_rng(9)
    seeds = [noisy_predictions(rng, 150, acc) for acc in (0.5, 0.6, 0.7)]
    result = seed_mean_ci(seeds, "macro_f1", 7, shared_test_set=False, n_resamples=500)
    expected = np.mean([f1_score(t, p, labels=list(range(7)), average="macro", zero_division=0) for t, p in seeds])
    assert result["estimate"] == pytest.approx(expected)
    assert result["ci_low"] < expected < result["ci_high"]
    assert result["resampling"] == "independent per seed" and result["n"] == [150, 150, 150]


def test_shared_test_set_is_resampled_together_which_keeps_seed_correlation():
    # Three seeds that make the SAME predictions on one test set carry no more evidence than one seed:
    # resampling samples jointly gives the one-seed width; resampling them independently would claim
    # about sqrt(3) times more precision.
    rng = np.random.default_rng(10)
    one = noisy_predictions(rng, 300, 0.6)
    paired = seed_mean_ci([one] * 3, "accuracy", 7, shared_test_set=True, n_resamples=2000)
    single = seed_mean_ci([one], "accuracy", 7, shared_test_set=True, n_resamples=2000)
    independent = seed_mean_ci([one] * 3, "accuracy", 7, shared_test_set=False, n_resamples=2000)
    width = lambda r: r["ci_high"] - r["ci_low"]  # noqa: E731
    assert width(paired) == pytest.approx(width(single), rel=0.1)
    assert width(paired) > 1.4 * width(independent)
    with pytest.raises(ValueError, match="aligned"):
        seed_mean_ci([one, (one[0][:100], one[1][:100])], "accuracy", 7, shared_test_set=True)


def test_seed_mean_difference_ci_finds_a_known_paired_gain():
    rng = np.random.default_rng(12)
    seeds_a, seeds_b = [], []
    for _ in range(3):
        y_true = rng.integers(0, 7, 400)
        right_b = rng.random(400) < 0.6
        right_a = right_b | (rng.random(400) < 0.25)  # a fixes a quarter of b's errors: +10 points
        seeds_a.append((y_true, np.where(right_a, y_true, (y_true + 1) % 7)))
        seeds_b.append((y_true, np.where(right_b, y_true, (y_true + 1) % 7)))
    result = seed_mean_difference_ci(seeds_a, seeds_b, "accuracy", 7, paired_within_seed=True, shared_test_set=False)
    true_gain = np.mean([np.mean(a[0] == a[1]) - np.mean(b[0] == b[1]) for a, b in zip(seeds_a, seeds_b)])
    assert result["difference"] == pytest.approx(true_gain)
    assert 0 < result["ci_low"] < true_gain < result["ci_high"] < 0.2
    unpaired = seed_mean_difference_ci(seeds_a, seeds_b, "accuracy", 7, paired_within_seed=False, shared_test_set=False)
    assert unpaired["ci_high"] - unpaired["ci_low"] > result["ci_high"] - result["ci_low"]


def test_seed_mean_difference_of_identical_models_is_zero():
    rng = np.random.default_rng(13)
    seeds = [noisy_predictions(rng, 100, 0.5) for _ in range(2)]
    result = seed_mean_difference_ci(
        seeds, seeds, "accuracy", 7, paired_within_seed=True, shared_test_set=False, n_resamples=500
    )
    assert result["difference"] == 0
    assert abs(result["ci_low"]) < 1e-12 and abs(result["ci_high"]) < 1e-12


def test_count_outcomes_reproduce_an_accuracy_known_only_by_its_count():
    y_true, y_pred = count_outcomes(42, 60)
    assert len(y_true) == 60 and np.mean(y_true == y_pred) == pytest.approx(0.7)
    result = seed_mean_ci([(y_true, y_pred)], "accuracy", 2, shared_test_set=False, n_resamples=2000)
    # the same accuracy, of a 7-class run whose predictions are stored
    rng = np.random.default_rng(42)
    labels = rng.integers(0, 7, 60)
    wrong = rng.permutation(60)[:18]
    predicted = labels.copy()
    predicted[wrong] = (labels[wrong] + 1) % 7
    direct = seed_mean_ci([(labels, predicted)], "accuracy", 7, shared_test_set=False, n_resamples=2000)
    assert result["ci_low"] == pytest.approx(direct["ci_low"], abs=0.03)
    assert result["ci_high"] == pytest.approx(direct["ci_high"], abs=0.03)
    with pytest.raises(ValueError):
        count_outcomes(61, 60)


def test_median_ci_covers_the_median_of_timings():
    times = np.random.default_rng(14).lognormal(mean=np.log(20), sigma=0.1, size=40)
    result = median_ci(times)
    assert result["estimate"] == pytest.approx(np.median(times))
    assert result["ci_low"] <= np.median(times) <= result["ci_high"]
    assert 15 < result["ci_low"] and result["ci_high"] < 25


@pytest.mark.parametrize(
    "claimed,half", [(11_600_000, 50_000), (4.2, 0.05), (21, 0.5), (0.658, 0.0005), (0.9697, 0.00005)]
)
def test_claim_resolution_is_half_a_unit_of_the_last_printed_digit(claimed, half):
    assert claim_resolution(claimed) == pytest.approx(half)


def test_seed_range_spans_the_values():
    assert seed_range([40, 55, 80]) == {"low": 40.0, "high": 80.0}
    with pytest.raises(ValueError):
        seed_range([])
