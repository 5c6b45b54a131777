"""Split protocols: subject-independent splits never share a subject across sides, and every split
list is a pure function of (samples, protocol, seed)."""

from __future__ import annotations

import native_fixtures as fx
import numpy as np
import pandas as pd
import pytest

from ferrepro.data.decode import decode_dataset
from ferrepro.data.splits import (
    SplitError,
    cli,
    make_split,
    official_split,
    read_split,
    subject_fold_groups,
)
from ferrepro.data.standard import load_decoded
from ferrepro.labels import BASIC7


def subject_samples(n_subjects: int = 12, per_class: int = 2, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_subjects):
        for label in BASIC7:
            for k in range(per_class + int(rng.integers(0, 2))):
                rows.append(
                    {"sample_id": f"S{s:03d}_{label}_{k}", "label": label, "subject_id": f"S{s:03d}", "split": ""}
                )
    return pd.DataFrame(rows)


def subjects_by_side(samples: pd.DataFrame, table: pd.DataFrame) -> dict[str, set[str]]:
    merged = samples.merge(table, on="sample_id", suffixes=("_official", ""))
    return {side: set(g["subject_id"]) for side, g in merged.groupby("split")}


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_subject_holdout_never_shares_a_subject(seed):
    samples = subject_samples()
    sides = subjects_by_side(samples, make_split(samples, "subject", seed))
    assert set(sides) == {"train", "val", "test"}
    assert (
        not (sides["train"] & sides["val"])
        and not (sides["train"] & sides["test"])
        and not (sides["val"] & sides["test"])
    )


@pytest.mark.parametrize("n_folds", [3, 5])
def test_subject_kfold_folds_are_disjoint_and_cover_every_subject_once(n_folds):
    samples = subject_samples(n_subjects=15)
    tested = []
    for fold in range(n_folds):
        table = make_split(samples, "subject_kfold", seed=3, n_folds=n_folds, fold=fold)
        sides = subjects_by_side(samples, table)
        assert (
            not (sides["train"] & sides["test"])
            and not (sides["train"] & sides["val"])
            and not (sides["val"] & sides["test"])
        )
        assert len(table) == len(samples)
        tested += sorted(sides["test"])
    assert sorted(tested) == sorted(samples["subject_id"].unique())  # each subject tested exactly once


def test_subject_kfold_name_carries_its_parameters():
    samples = subject_samples()
    by_name = make_split(samples, "subject_k4_fold2", seed=5)
    by_args = make_split(samples, "subject_kfold", seed=5, n_folds=4, fold=2)
    pd.testing.assert_frame_equal(by_name, by_args)


def test_subject_fold_groups_keep_a_subject_in_one_group():
    samples = subject_samples()
    groups = pd.Series(subject_fold_groups(samples, 4, seed=0))
    assert (groups.groupby(samples["subject_id"]).nunique() == 1).all()
    assert set(groups) == {0, 1, 2, 3}


@pytest.mark.parametrize(
    "protocol, kw", [("stratified", {}), ("subject", {}), ("subject_kfold", {"n_folds": 4, "fold": 1})]
)
def test_split_lists_are_deterministic_for_a_seed(protocol, kw):
    samples = subject_samples()
    first = make_split(samples, protocol, seed=11, **kw)
    again = make_split(samples.copy(), protocol, seed=11, **kw)
    other = make_split(samples, protocol, seed=12, **kw)
    pd.testing.assert_frame_equal(first, again)
    assert not first["split"].equals(other["split"])  # the seed matters


def test_subject_protocols_refuse_samples_without_subject_ids():
    samples = subject_samples()
    samples.loc[3, "subject_id"] = ""
    for protocol, kw in (("subject", {}), ("subject_kfold", {"n_folds": 3, "fold": 0})):
        with pytest.raises(SplitError, match="needs a subject id for every sample; 1 have none"):
            make_split(samples, protocol, seed=0, **kw)


def test_subject_kfold_argument_errors():
    samples = subject_samples(n_subjects=4)
    with pytest.raises(SplitError, match="at least 3 folds"):
        make_split(samples, "subject_kfold", 0, n_folds=2, fold=0)
    with pytest.raises(SplitError, match="fold must be in 0..2"):
        make_split(samples, "subject_kfold", 0, n_folds=3, fold=3)
    with pytest.raises(SplitError, match="needs at least 5 subjects, found 4"):
        make_split(samples, "subject_kfold", 0, n_folds=5, fold=0)


def test_official_split_carves_val_from_train_when_absent():
    samples = subject_samples()
    samples["split"] = np.where(np.arange(len(samples)) % 4 == 0, "test", "train")
    split = official_split(samples, seed=0)
    assert (split[samples["split"] == "test"] == "test").all()  # test untouched
    val = split == "val"
    assert 0.05 < val.sum() / (samples["split"] == "train").sum() < 0.15
    assert official_split(samples, seed=0).equals(split) and not official_split(samples, seed=1).equals(split)


def test_official_split_keeps_fer2013_parts(tmp_path):
    raw = fx.write_fer2013_csv_fixture(tmp_path / "raw")
    ds = load_decoded(decode_dataset("fer2013", raw, tmp_path / "out", check_counts=False))
    table = make_split(ds.samples, "official", seed=0)
    assert table["split"].tolist() == ds.samples["split"].tolist()


def test_ckplus_fixture_subject_kfold_end_to_end(tmp_path):
    raw = fx.write_ckplus48(tmp_path / "raw", subjects=("S005", "S010", "S011", "S022", "S034"))
    ds = load_decoded(decode_dataset("ckplus", raw, tmp_path / "out", check_counts=False))
    out = tmp_path / "splits" / "subject_k5_fold0_seed0.csv"
    assert (
        cli(["--decoded", str(tmp_path / "out"), "--protocol", "subject_k5_fold0", "--seed", "0", "--out", str(out)])
        == 0
    )
    table = read_split(out)
    sides = subjects_by_side(ds.samples, table)
    assert len(sides["test"]) == 1 and len(sides["val"]) == 1 and len(sides["train"]) == 3
    assert not (sides["test"] & sides["train"])
    # the frames of one sequence never straddle sides either (they share the subject)
    merged = ds.samples.merge(table, on="sample_id", suffixes=("_official", ""))
    assert (merged.groupby("sequence")["split"].nunique() == 1).all()
