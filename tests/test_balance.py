"""Class balancing: train-only by default (no leak into val/test), leaky mode leaks and says so."""

from __future__ import annotations

import numpy as np
import pytest

from ferrepro.training import balance as bal

pytest.importorskip("imblearn")


def imbalanced(n_per_class=(40, 12, 6), seed=0):
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.full(n, c) for c, n in enumerate(n_per_class)]).astype(np.int64)
    rng.shuffle(labels)
    return labels


def fixed_split(n, seed=0):
    """Random train/val/test index arrays (60/20/20)."""
    idx = np.random.default_rng(seed).permutation(n)
    a, b = int(0.6 * n), int(0.8 * n)
    return np.sort(idx[:a]), np.sort(idx[a:b]), np.sort(idx[b:])


# ----------------------------------------------------------------------------- weights


def test_class_weights_formula():
    y = np.array([0] * 6 + [1] * 3 + [2] * 1)
    w = bal.class_weights(y, 4)
    np.testing.assert_allclose(w[:3], [10 / (4 * 6), 10 / (4 * 3), 10 / (4 * 1)], rtol=1e-6)
    assert w[3] == 0.0  # absent class: 0, not inf
    # balanced data -> all ones
    np.testing.assert_allclose(bal.class_weights(np.array([0, 1, 2, 0, 1, 2]), 3), 1.0)


def test_weighted_ce_method_uses_training_counts_only():
    labels = imbalanced()
    train, _, _ = fixed_split(len(labels))
    idx, report = bal.balance_train_indices(labels, train, "weighted_ce", seed=0, n_classes=3)
    np.testing.assert_array_equal(idx, train)
    np.testing.assert_allclose(report["class_weights"], bal.class_weights(labels[train], 3))


# ----------------------------------------------------------------------------- default (train-only) mode


def test_oversampling_balances_and_only_repeats_training_indices():
    labels = imbalanced()
    train, val, test = fixed_split(len(labels))
    idx, report = bal.balance_train_indices(labels, train, "oversample", seed=3)
    counts = np.bincount(labels[idx])
    assert (counts == counts.max()).all()  # balanced
    assert set(idx) == set(train)  # every training index kept, nothing else added
    assert not set(idx) & (set(val) | set(test))  # no copy can land in val/test
    assert report["leaky"] is False and report["n_added"] == len(idx) - len(train) > 0
    # seeded
    np.testing.assert_array_equal(idx, bal.balance_train_indices(labels, train, "oversample", seed=3)[0])


def test_smote_synthetic_points_are_built_from_training_rows_only():
    """Every SMOTE point lies on a segment between two TRAINING rows of its class, and val/test
    rows take no part: the test would fail if SMOTE had been given the whole dataset."""
    labels = imbalanced((30, 10, 8))
    n = len(labels)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    train, val, test = fixed_split(n)
    res = bal.smote_train(X, labels, train, seed=0, representation="features:test")
    assert res.report["representation"] == "features:test" and res.report["leaky"] is False
    np.testing.assert_array_equal(res.origin[: len(train)], train)
    np.testing.assert_array_equal(res.X[: len(train)], X[train])
    synth = res.X[res.is_synthetic]
    assert len(synth) > 0 and (res.y[res.is_synthetic] != 0).all()  # only minority classes grow
    for point, cls in zip(synth, res.y[res.is_synthetic]):
        parents = parent_pairs(point, X, labels, cls)
        assert parents, "synthetic point is not an interpolation of two same-class rows"
        assert all(a in set(train) and b in set(train) for a, b in parents)
    counts = np.bincount(res.y)
    assert (counts == counts.max()).all()


def parent_pairs(point, X, labels, cls, tol=1e-4):
    """All (a, b) of class ``cls`` with ``point`` on the segment a->b."""
    rows = np.flatnonzero(labels == cls)
    pairs = []
    for i in rows:
        for j in rows:
            if i == j:
                continue
            d = X[j] - X[i]
            lam = float(np.dot(point - X[i], d) / np.dot(d, d))
            if -tol <= lam <= 1 + tol and np.linalg.norm(X[i] + lam * d - point) < tol:
                pairs.append((int(i), int(j)))
    return pairs


def test_smote_on_images_runs_on_flattened_pixels_and_returns_uint8_images():
    labels = imbalanced((20, 10, 8))
    images = np.random.default_rng(1).integers(0, 256, (len(labels), 6, 6, 1), dtype=np.uint8)
    train, _, _ = fixed_split(len(labels))
    res = bal.smote_images(images, labels, train, seed=0)
    assert res.report["representation"] == "flattened_pixels"
    assert res.X.dtype == np.uint8 and res.X.shape[1:] == (6, 6, 1)
    assert res.report["k_neighbors_used"] <= 5


def test_smote_rejects_nan_rows_and_singleton_classes():
    labels = np.array([0, 0, 0, 1, 1, 2])
    X = np.zeros((6, 2), np.float32)
    X[1] = np.nan
    with pytest.raises(bal.BalanceError, match="NaN"):
        bal.smote_train(X, labels, np.arange(6))
    with pytest.raises(bal.BalanceError, match="at least 2 samples"):
        bal.smote_train(np.random.default_rng(0).random((6, 2)), labels, np.arange(6))


def test_offline_augmented_copies_are_training_only():
    train, val, test = fixed_split(30)
    entries = bal.augmented_copy_entries(train, copies=2)
    assert entries.shape == (3 * len(train), 2)
    assert set(entries[:, 0]) == set(train) and not set(entries[:, 0]) & (set(val) | set(test))
    assert sorted(set(entries[:, 1])) == [0, 1, 2]


def test_bad_inputs_are_rejected():
    labels = imbalanced()
    with pytest.raises(bal.BalanceError, match="repeated indices"):
        bal.balance_train_indices(labels, np.array([0, 0, 1]), "oversample")
    with pytest.raises(bal.BalanceError, match="smote_train"):
        bal.balance_train_indices(labels, np.arange(10), "smote")
    with pytest.raises(bal.BalanceError, match="unknown"):
        bal.balance_train_indices(labels, np.arange(10), "undersample")
    with pytest.raises(bal.BalanceError, match="integer class indices"):
        bal.balance_train_indices(np.array(["a", "b"]), np.arange(2), "oversample")


# ----------------------------------------------------------------------------- leaky mode


def test_leaky_oversampling_puts_copies_of_training_images_into_test():
    labels = imbalanced((60, 15, 6))
    res = bal.leaky_balance_then_split(labels, "oversample", fractions=(0.6, 0.2, 0.2), seed=0)
    assert res.report["leaky"] is True and res.report["label"].startswith("LEAKY")
    train_origins = set(res.origin[res.rows("train")])
    leaked = [o for o in res.origin[res.rows("test")] if o in train_origins]
    assert len(leaked) > 0  # the same original image is in train and in test
    assert res.report["test_rows_sharing_origin_with_train"] == len(leaked)
    counts = np.bincount(res.label)
    assert (counts == counts.max()).all()


def test_leaky_oversampling_numbers_every_duplicate_of_an_image():
    # Class 2 has 6 images topped up to 60: each image is duplicated about 9 times, and every pool row
    # must stay identifiable (its predictions are keyed by the row's id).
    labels = imbalanced((60, 15, 6))
    res = bal.leaky_balance_then_split(labels, "oversample", seed=0)
    pairs = set(zip(res.origin.tolist(), res.copy.tolist()))
    assert len(pairs) == len(res.origin)
    assert (res.copy[: len(labels)] == 0).all() and res.copy.max() >= 9


def test_leaky_augmentation_puts_augmented_copies_into_test():
    labels = imbalanced((30, 20, 10))
    res = bal.leaky_balance_then_split(labels, "augment_copies", seed=1, copies=1)
    assert res.report["leaky"] is True and len(res.origin) == 2 * len(labels)
    assert res.report["eval_rows_sharing_origin_with_train"] > 0
    test_rows = res.rows("test")
    train_origins = set(res.origin[res.rows("train")])
    assert any(o in train_origins for o in res.origin[test_rows])


def test_leaky_smote_puts_synthetic_points_made_from_training_rows_into_test():
    labels = imbalanced((30, 10, 8))
    X = np.random.default_rng(2).normal(size=(len(labels), 3)).astype(np.float32)
    res = bal.leaky_balance_then_split(labels, "smote", fractions=(0.6, 0.2, 0.2), seed=0, X=X)
    test_synth = [r for r in res.rows("test") if res.origin[r] < 0]
    assert res.report["test_synthetic_rows"] == len(test_synth) > 0
    train_origins = set(res.origin[res.rows("train")])
    # at least one synthetic test point was interpolated from a row that is in the training split
    assert any(
        any(a in train_origins or b in train_origins for a, b in parent_pairs(res.X[r], X, labels, res.label[r]))
        for r in test_synth
    )


def test_leakage_report_is_zero_for_a_clean_split():
    labels = imbalanced()
    train, val, test = fixed_split(len(labels))
    idx, _ = bal.balance_train_indices(labels, train, "oversample", seed=0)
    origin = np.concatenate([idx, val, test])
    split = np.array(["train"] * len(idx) + ["val"] * len(val) + ["test"] * len(test))
    report = bal.leakage_report(origin, split)
    assert report["eval_rows_derived_from_pool"] == 0 and report["eval_rows_sharing_origin_with_train"] == 0
