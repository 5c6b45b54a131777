"""Seeded split protocols. Every protocol writes a split list: a CSV of ``sample_id,split``.

Protocols (``split`` in a paper's experiment row):

- ``official``: the dataset's own train/val/test (FER2013 Training/PublicTest/PrivateTest). Fails if
  the decoded dataset has no official split.
- ``stratified``: stratified random split by class with the given fractions (gilanie2025's 60/20/20).
- ``subject``: subject-independent hold-out: whole subjects go to train, val or test, stratified by
  class as far as groups allow (sklearn ``StratifiedGroupKFold``). No subject ever appears in two parts.
- ``subject_kfold``: subject-independent k-fold cross-validation (CK+, JAFFE, KDEF, FERG): the
  subjects are partitioned once into ``n_folds`` class-stratified groups of subjects
  (``StratifiedGroupKFold``); fold ``f`` tests on group ``f``, validates on group ``f + 1`` (mod k)
  and trains on the rest, so across the k folds every subject is tested exactly once and no
  subject is ever on two sides. Papers that report k-fold results without a validation set give
  no rule for early stopping; taking the next fold keeps validation subject-independent too.
  The protocol name may carry its parameters, ``subject_k10_fold3`` (what the Snakemake rule's
  ``{protocol}`` wildcard passes), or they are given as ``n_folds`` / ``fold``.

Datasets whose official split has no validation part (AffectNet: official validation = test;
RAF-DB: train/test) get a seeded, stratified ``val_fraction`` (10%) of the official train part as
validation under ``official``; the test part is never touched.

All randomness comes from ``seed``, so a split list is a pure function of (samples, protocol, seed).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

SPLITS = ("train", "val", "test")
PROTOCOLS = ("official", "stratified", "subject", "subject_kfold")
KFOLD_NAME = re.compile(r"^subject_k(?P<n_folds>\d+)_fold(?P<fold>\d+)$")
OFFICIAL_VAL_FRACTION = 0.1


class SplitError(ValueError):
    pass


def official_split(samples: pd.DataFrame, seed: int = 0, val_fraction: float = OFFICIAL_VAL_FRACTION) -> pd.Series:
    """The dataset's own split; a missing val part is carved from train (stratified, seeded)."""
    split = samples["split"].fillna("").astype(str)
    missing = sorted({"train", "test"} - set(split))
    if missing:
        raise SplitError(
            f"protocol 'official' needs the dataset's own train/val/test, but no sample is marked {missing}; "
            "use protocol 'stratified' or 'subject' for this dataset"
        )
    if (split == "").any():
        raise SplitError(f"{int((split == '').sum())} samples have no official split")
    if "val" not in set(split):
        split = split.copy()
        train_idx = np.flatnonzero(split.to_numpy() == "train")
        _, val_idx = train_test_split(
            train_idx, test_size=val_fraction, stratify=samples["label"].to_numpy()[train_idx], random_state=seed
        )
        split.iloc[val_idx] = "val"
    return split


def subject_kfold_split(samples: pd.DataFrame, n_folds: int, fold: int, seed: int) -> pd.Series:
    """Fold ``fold`` of a subject-independent k-fold: test = subject group ``fold``, val = group
    ``fold + 1`` (mod k), train = the rest. Subject groups are class-stratified and seeded."""
    if n_folds < 3:
        raise SplitError(f"subject k-fold needs at least 3 folds (test, val and train groups), got {n_folds}")
    if not 0 <= fold < n_folds:
        raise SplitError(f"fold must be in 0..{n_folds - 1}, got {fold}")
    subjects = _subjects_or_fail(samples, "subject_kfold")
    n_subjects = subjects.nunique()
    if n_subjects < n_folds:
        raise SplitError(f"subject k-fold with {n_folds} folds needs at least {n_folds} subjects, found {n_subjects}")
    group_of = subject_fold_groups(samples, n_folds, seed)
    out = np.full(len(samples), "train", dtype=object)
    out[group_of == fold] = "test"
    out[group_of == (fold + 1) % n_folds] = "val"
    return pd.Series(out, index=samples.index)


def subject_fold_groups(samples: pd.DataFrame, n_folds: int, seed: int) -> np.ndarray:
    """Fold index (0..k-1) of every sample; all samples of a subject share one fold."""
    subjects = samples["subject_id"].fillna("").astype(str).to_numpy()
    labels = samples["label"].to_numpy()
    cv = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    group_of = np.full(len(samples), -1, dtype=np.int64)
    for k, (_, held_out) in enumerate(cv.split(np.zeros(len(samples)), labels, subjects)):
        group_of[held_out] = k
    return group_of


def _subjects_or_fail(samples: pd.DataFrame, protocol: str) -> pd.Series:
    subjects = samples["subject_id"].fillna("").astype(str)
    if (subjects == "").any():
        raise SplitError(
            f"protocol {protocol!r} needs a subject id for every sample; {int((subjects == '').sum())} have none "
            "(this dataset has no subject ids: use 'official' or 'stratified')"
        )
    return subjects


def stratified_split(samples: pd.DataFrame, fractions: tuple[float, float, float], seed: int) -> pd.Series:
    train_f, val_f, test_f = _check_fractions(fractions)
    idx = np.arange(len(samples))
    labels = samples["label"].to_numpy()
    rest_idx, test_idx = train_test_split(idx, test_size=test_f, stratify=labels, random_state=seed)
    train_idx, val_idx = train_test_split(
        rest_idx, test_size=val_f / (train_f + val_f), stratify=labels[rest_idx], random_state=seed + 1
    )
    out = np.empty(len(samples), dtype=object)
    out[train_idx], out[val_idx], out[test_idx] = "train", "val", "test"
    return pd.Series(out, index=samples.index)


def subject_split(samples: pd.DataFrame, fractions: tuple[float, float, float], seed: int) -> pd.Series:
    """Hold out whole subjects: test ~ test fraction, val ~ val fraction of the subjects."""
    train_f, val_f, test_f = _check_fractions(fractions)
    subjects = samples["subject_id"].fillna("").astype(str)
    if (subjects == "").any():
        raise SplitError(
            f"protocol 'subject' needs a subject id for every sample; {int((subjects == '').sum())} have none"
        )
    n_subjects = subjects.nunique()
    if n_subjects < 3:
        raise SplitError(f"protocol 'subject' needs at least 3 subjects, found {n_subjects}")
    labels = samples["label"].to_numpy()
    idx = np.arange(len(samples))
    test_idx = _one_group_fold(idx, labels, subjects.to_numpy(), test_f, seed)
    rest = np.setdiff1d(idx, test_idx)
    val_idx = rest[
        _one_group_fold(
            np.arange(len(rest)), labels[rest], subjects.to_numpy()[rest], val_f / (train_f + val_f), seed + 1
        )
    ]
    out = np.full(len(samples), "train", dtype=object)
    out[val_idx], out[test_idx] = "val", "test"
    return pd.Series(out, index=samples.index)


def _one_group_fold(idx, labels, groups, fraction, seed) -> np.ndarray:
    n_splits = max(2, int(round(1.0 / fraction)))
    n_splits = min(n_splits, len(np.unique(groups)))
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    _, held_out = next(cv.split(idx, labels, groups))
    return idx[held_out]


def _check_fractions(fractions) -> tuple[float, float, float]:
    f = tuple(float(x) for x in fractions)
    if len(f) != 3 or min(f) <= 0 or abs(sum(f) - 1.0) > 1e-6:
        raise SplitError(f"split fractions must be three positive numbers summing to 1, got {list(fractions)}")
    return f  # type: ignore[return-value]


def make_split(
    samples: pd.DataFrame,
    protocol: str,
    seed: int,
    fractions=(0.6, 0.2, 0.2),
    n_folds: int | None = None,
    fold: int | None = None,
) -> pd.DataFrame:
    named = KFOLD_NAME.match(protocol)
    if named:
        protocol, n_folds, fold = "subject_kfold", int(named["n_folds"]), int(named["fold"])
    if protocol == "official":
        split = official_split(samples, seed)
    elif protocol == "stratified":
        split = stratified_split(samples, fractions, seed)
    elif protocol == "subject":
        split = subject_split(samples, fractions, seed)
    elif protocol == "subject_kfold":
        if n_folds is None or fold is None:
            raise SplitError("protocol 'subject_kfold' needs n_folds and fold (or the name subject_k<K>_fold<F>)")
        split = subject_kfold_split(samples, n_folds, fold, seed)
    else:
        raise SplitError(f"unknown split protocol {protocol!r}; expected one of {PROTOCOLS} or subject_k<K>_fold<F>")
    return pd.DataFrame({"sample_id": samples["sample_id"].to_numpy(), "split": split.to_numpy()})


def read_split(path: str | Path) -> pd.DataFrame:
    table = pd.read_csv(path, dtype={"sample_id": str, "split": str})
    bad = sorted(set(table["split"]) - set(SPLITS))
    if bad:
        raise SplitError(f"{path}: unknown split values {bad}")
    return table


def cli(argv: list[str]) -> int:
    from ferrepro.data.standard import load_decoded

    p = argparse.ArgumentParser(
        prog="ferrepro split", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--decoded", required=True, help="decoded dataset folder")
    p.add_argument("--protocol", required=True, help=f"one of {PROTOCOLS}, or subject_k<K>_fold<F>")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--fractions", type=float, nargs=3, default=(0.6, 0.2, 0.2))
    p.add_argument("--n-folds", type=int, default=None, help="subject_kfold: number of folds")
    p.add_argument("--fold", type=int, default=None, help="subject_kfold: which fold (0-based)")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    if a.protocol not in PROTOCOLS and not KFOLD_NAME.match(a.protocol):
        p.error(f"unknown protocol {a.protocol!r}; expected one of {PROTOCOLS} or subject_k<K>_fold<F>")
    ds = load_decoded(a.decoded)
    table = make_split(ds.samples.astype({"sample_id": str}), a.protocol, a.seed, tuple(a.fractions), a.n_folds, a.fold)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(a.out, index=False)
    counts = table["split"].value_counts().reindex(SPLITS, fill_value=0).to_dict()
    print(f"wrote {a.out}: {counts}")
    return 0
