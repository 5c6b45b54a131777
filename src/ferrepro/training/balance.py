"""Class balancing on the TRAINING split only, plus an explicit, labelled ``leaky`` mode.

Default (valid) mode: balancing sees only the training indices, so nothing derived from a
training image (a duplicate, a SMOTE interpolation, an augmented copy) can reach validation or
test, and no validation/test image takes part in creating training samples:

- ``balance_train_indices(labels, train_idx, "oversample", seed)``: random oversampling
  (imbalanced-learn ``RandomOverSampler`` on the index column): every class is topped up to the
  majority count by duplicating its training indices. Returns dataset indices with repeats.
- ``smote_train(X, labels, train_idx, seed)``: SMOTE (imbalanced-learn) on a feature matrix of the
  training rows; ``smote_images`` runs it on *flattened pixels* (afzaal2025 applies SMOTE to
  images; it does not say on which representation, and pixels are the only one its CNN sees).
  Synthetic rows are new samples, so this returns arrays, not indices.
- ``class_weights(train_labels, n_classes)``: weighted cross-entropy weights w_i = N / (C * n_i)
  (abdeldayem2025 Eq. 7), from training counts only.
- ``augmented_copy_entries(train_idx, copies)``: offline augmentation (nauman2025 Table 4 doubles
  the counts) done properly: (index, copy) entries for training samples only.

Leaky mode (opt-in, for reproducing what afzaal2025 and nauman2025 appear to do): balance or
augment the WHOLE dataset first, then split the enlarged pool. ``leaky_balance_then_split``
returns its result with ``report["leaky"] = True``, a LEAKY label, and counts of evaluation rows
that share an original image with a training row; it must never be the default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

METHODS = ("none", "oversample", "weighted_ce")
LEAKY_METHODS = ("oversample", "smote", "augment_copies")
LEAKY_LABEL = (
    "LEAKY: the whole dataset was balanced/augmented BEFORE splitting (as afzaal2025/nauman2025 appear "
    "to do); copies or interpolations of training images are in validation/test, so these numbers are "
    "not an estimate of generalisation"
)


class BalanceError(ValueError):
    pass


def _check(labels: np.ndarray, train_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    train_idx = np.asarray(train_idx)
    if labels.ndim != 1:
        raise BalanceError(f"labels must be a 1-D array of class indices, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise BalanceError(f"labels must be integer class indices (see ferrepro.labels.encode), got {labels.dtype}")
    if train_idx.ndim != 1 or not np.issubdtype(train_idx.dtype, np.integer):
        raise BalanceError(f"train_idx must be a 1-D integer index array, got {train_idx.dtype} {train_idx.shape}")
    if len(train_idx) == 0:
        raise BalanceError("train_idx is empty: nothing to balance")
    if train_idx.min() < 0 or train_idx.max() >= len(labels):
        raise BalanceError(f"train_idx has indices outside [0, {len(labels)})")
    if len(np.unique(train_idx)) != len(train_idx):
        raise BalanceError("train_idx has repeated indices: pass the split's indices, not an already balanced list")
    return labels, train_idx


def class_counts(labels: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    labels = np.asarray(labels)
    n_classes = int(n_classes if n_classes is not None else labels.max() + 1)
    return np.bincount(labels, minlength=n_classes)[:n_classes]


def class_weights(train_labels: np.ndarray, n_classes: int) -> np.ndarray:
    """w_i = N / (C * n_i) from training labels (abdeldayem2025 Eq. 7), float32 of length C.

    A class with no training sample gets weight 0: no target of that class exists, so the
    weight is never used, and 0 (unlike inf) keeps the loss finite.
    """
    counts = class_counts(train_labels, n_classes).astype(np.float64)
    n = counts.sum()
    with np.errstate(divide="ignore"):
        w = np.where(counts > 0, n / (n_classes * counts), 0.0)
    return w.astype(np.float32)


def _counts_dict(labels: np.ndarray) -> dict[int, int]:
    values, counts = np.unique(labels, return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts)}


def balance_train_indices(
    labels: np.ndarray, train_idx: np.ndarray, method: str = "oversample", seed: int = 0, n_classes: int | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Resampled training indices (into the full dataset) and a report.

    ``method``: "none" (indices unchanged), "oversample" (random oversampling to the majority
    count), or "weighted_ce" (indices unchanged; ``report["class_weights"]`` holds the weights).
    For SMOTE, which creates new samples, use ``smote_train`` / ``smote_images``.
    """
    labels, train_idx = _check(labels, train_idx)
    y = labels[train_idx]
    report: dict[str, Any] = {
        "method": method,
        "seed": int(seed),
        "leaky": False,
        "scope": "train split only",
        "counts_before": _counts_dict(y),
    }
    if method == "smote":
        raise BalanceError(
            "SMOTE creates new samples, not indices: use smote_train(X, labels, train_idx, seed) "
            "or smote_images(images, labels, train_idx, seed)"
        )
    if method not in METHODS:
        raise BalanceError(f"balancing method {method!r} unknown; expected one of {METHODS} (or SMOTE via smote_train)")
    if method == "oversample":
        from imblearn.over_sampling import RandomOverSampler

        if len(np.unique(y)) < 2:
            raise BalanceError("oversampling needs at least two classes in the training split")
        resampled, _ = RandomOverSampler(random_state=seed).fit_resample(train_idx.reshape(-1, 1), y)
        new_idx = resampled.reshape(-1).astype(train_idx.dtype)
    else:
        new_idx = train_idx.copy()
        if method == "weighted_ce":
            k = int(n_classes if n_classes is not None else labels.max() + 1)
            report["class_weights"] = class_weights(y, k).tolist()
    report["counts_after"] = _counts_dict(labels[new_idx])
    report["n_added"] = int(len(new_idx) - len(train_idx))
    return new_idx, report


@dataclass
class SmoteResult:
    X: np.ndarray  # training rows: the originals first, then the synthetic ones
    y: np.ndarray
    origin: np.ndarray  # dataset index of each real row, -1 for synthetic rows
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def is_synthetic(self) -> np.ndarray:
        return self.origin < 0


def _smote(X: np.ndarray, y: np.ndarray, seed: int, k_neighbors: int) -> tuple[np.ndarray, np.ndarray, int]:
    from imblearn.over_sampling import SMOTE

    counts = np.bincount(y)
    present = counts[counts > 0]
    if len(present) < 2:
        raise BalanceError("SMOTE needs at least two classes")
    smallest = int(present.min())
    if smallest < 2:
        lonely = [int(c) for c in np.flatnonzero(counts == 1)]
        raise BalanceError(f"SMOTE needs at least 2 samples in every class to interpolate; classes {lonely} have 1")
    # imbalanced-learn needs k < smallest class size; shrink k rather than fail on tiny classes.
    k = min(int(k_neighbors), smallest - 1)
    X_res, y_res = SMOTE(k_neighbors=k, random_state=seed).fit_resample(X, y)
    return np.asarray(X_res), np.asarray(y_res), k


def smote_train(
    X: np.ndarray,
    labels: np.ndarray,
    train_idx: np.ndarray,
    seed: int = 0,
    k_neighbors: int = 5,
    representation: str = "features",
) -> SmoteResult:
    """SMOTE on the training rows of ``X`` (N x D, all samples; only train rows are read).

    ``representation`` names what the rows are ("flattened_pixels", "features:hog", ...) and goes
    into the report. imbalanced-learn returns the original rows first, in order, then the
    synthetic ones; ``origin`` records that.
    """
    labels, train_idx = _check(labels, train_idx)
    X = np.asarray(X)
    if len(X) != len(labels):
        raise BalanceError(f"X has {len(X)} rows for {len(labels)} labels")
    X_train = X[train_idx].reshape(len(train_idx), -1).astype(np.float32)
    if not np.isfinite(X_train).all():
        raise BalanceError("SMOTE input has NaN/inf rows (e.g. failed landmarks): drop or handle them before balancing")
    y = labels[train_idx]
    X_res, y_res, k = _smote(X_train, y, seed, k_neighbors)
    origin = np.full(len(y_res), -1, dtype=np.int64)
    origin[: len(train_idx)] = train_idx
    report = {
        "method": "smote",
        "seed": int(seed),
        "leaky": False,
        "scope": "train split only",
        "representation": representation,
        "k_neighbors_used": k,
        "counts_before": _counts_dict(y),
        "counts_after": _counts_dict(y_res),
        "n_added": int(len(y_res) - len(y)),
    }
    return SmoteResult(X_res, y_res, origin, report)


def smote_images(
    images: np.ndarray, labels: np.ndarray, train_idx: np.ndarray, seed: int = 0, k_neighbors: int = 5
) -> SmoteResult:
    """SMOTE on flattened pixels of the training images; X comes back as uint8 N' x H x W x C."""
    images = np.asarray(images)
    result = smote_train(images.reshape(len(images), -1), labels, train_idx, seed, k_neighbors, "flattened_pixels")
    if images.dtype == np.uint8:
        result.X = np.clip(np.rint(result.X), 0, 255).astype(np.uint8)
    result.X = result.X.reshape((len(result.X),) + images.shape[1:])
    return result


def augmented_copy_entries(train_idx: np.ndarray, copies: int) -> np.ndarray:
    """Offline augmentation, non-leaky: (index, copy) rows for training samples only.

    Copy 0 is the original image, copies 1..``copies`` are to be augmented by the training code
    (e.g. with a seeded ``BatchAugmentation``). Returns an int64 array of shape (len * (copies+1), 2).
    """
    train_idx = np.asarray(train_idx, dtype=np.int64)
    if copies < 0:
        raise BalanceError(f"copies must be >= 0, got {copies}")
    copy_ids = np.repeat(np.arange(copies + 1), len(train_idx))
    return np.stack([np.tile(train_idx, copies + 1), copy_ids], axis=1)


# ----------------------------------------------------------------------------- leaky mode


@dataclass
class LeakySplit:
    """The enlarged pool and its split. Row r of the pool is ``origin[r]`` (a dataset index, or -1
    for a SMOTE point), ``copy[r]`` (0 original/duplicate source, k for the k-th augmented copy or
    oversampled duplicate), ``label[r]``, and lies in ``split[r]``."""

    origin: np.ndarray
    copy: np.ndarray
    label: np.ndarray
    split: np.ndarray
    X: np.ndarray | None  # SMOTE only: the pool's rows
    report: dict[str, Any]

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.split == split)


def leaky_balance_then_split(
    labels: np.ndarray,
    method: str,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    X: np.ndarray | None = None,
    copies: int = 1,
    k_neighbors: int = 5,
) -> LeakySplit:
    """LEAKY: balance (oversample/SMOTE) or augment (``augment_copies``) ALL samples, then split.

    Reproduces the order of operations afzaal2025 (oversampling/SMOTE, then splitting) and
    nauman2025 (its Table 4 counts show validation/test augmented too) appear to use. The
    stratified split of the pool uses ``ferrepro.data.splits.stratified_split``. Always labelled
    leaky; ``report["eval_rows_sharing_origin_with_train"]`` counts the leaked evaluation rows.
    """
    import pandas as pd

    from ferrepro.data.splits import stratified_split

    labels = np.asarray(labels)
    all_idx = np.arange(len(labels))
    if method not in LEAKY_METHODS:
        raise BalanceError(f"leaky method {method!r} unknown; expected one of {LEAKY_METHODS}")
    pool_X = None
    if method == "oversample":
        idx, _ = balance_train_indices(labels, all_idx, "oversample", seed)
        origin = idx.astype(np.int64)
        # The k-th duplicate of an image is copy k: a rare class gets many duplicates of one image, and
        # each pool row needs its own id (predictions are keyed by it). The originals come first, as copy 0.
        copy = pd.Series(origin).groupby(origin).cumcount().to_numpy().astype(np.int64)
        pool_label = labels[idx]
    elif method == "augment_copies":
        entries = augmented_copy_entries(all_idx, copies)
        origin, copy = entries[:, 0], entries[:, 1]
        pool_label = labels[origin]
    else:  # smote
        if X is None:
            raise BalanceError("leaky SMOTE needs X (flattened pixels or features)")
        res = smote_train(X, labels, all_idx, seed, k_neighbors, representation="caller-provided")
        origin, pool_label, pool_X = res.origin, res.y, res.X
        copy = np.zeros(len(origin), dtype=np.int64)
    split = stratified_split(pd.DataFrame({"label": pool_label}), fractions, seed).to_numpy().astype(str)
    report = {
        "method": method,
        "seed": int(seed),
        "leaky": True,
        "label": LEAKY_LABEL,
        "scope": "whole dataset balanced/augmented before the split",
        "fractions": list(fractions),
        "pool_size": int(len(origin)),
        "n_original": int(len(labels)),
        "per_split": {s: int((split == s).sum()) for s in ("train", "val", "test")},
    }
    report.update(leakage_report(origin, split))
    return LeakySplit(origin, copy, pool_label, split, pool_X, report)


def leakage_report(origin: np.ndarray, split: np.ndarray) -> dict[str, Any]:
    """How many val/test rows are copies of an image that is also in train, and how many are synthetic."""
    origin, split = np.asarray(origin), np.asarray(split)
    train_origins = set(origin[(split == "train") & (origin >= 0)].tolist())
    out: dict[str, Any] = {}
    total = 0
    for s in ("val", "test"):
        rows = split == s
        shared = int(sum(o in train_origins for o in origin[rows & (origin >= 0)].tolist()))
        out[f"{s}_rows_sharing_origin_with_train"] = shared
        out[f"{s}_synthetic_rows"] = int((rows & (origin < 0)).sum())
        total += shared + out[f"{s}_synthetic_rows"]
    out["eval_rows_sharing_origin_with_train"] = (
        out["val_rows_sharing_origin_with_train"] + out["test_rows_sharing_origin_with_train"]
    )
    out["eval_rows_derived_from_pool"] = total
    return out
