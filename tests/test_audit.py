"""Leakage audit: exact and near duplicates across splits, subject overlap, class counts."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import native_fixtures as fx
import numpy as np
import pandas as pd
import pytest

from ferrepro.data.audit import AuditError, audit_dataset, cli, hamming, near_pairs, perceptual_hashes, run_audit
from ferrepro.data.decode import decode_dataset
from ferrepro.data.splits import make_split
from ferrepro.data.standard import load_decoded, write_decoded

REAL_TAR = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013" / "fer2013_kaggle_images.tar"


def smooth_faces(n: int, seed: int = 0) -> np.ndarray:
    """Distinct smooth images (pHash is meant for natural images, not white noise)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (n, 6, 6), dtype=np.uint8)
    return np.stack([cv2.resize(s, (48, 48), interpolation=cv2.INTER_CUBIC) for s in small])[..., None]


def brute_force_pairs(hashes: np.ndarray, d: int) -> set[tuple[int, int]]:
    out = set()
    for i in range(len(hashes)):
        dist = hamming(np.full(len(hashes) - i - 1, hashes[i]), hashes[i + 1 :])
        out |= {(i, i + 1 + int(k)) for k in np.flatnonzero(dist <= d)}
    return out


@pytest.mark.parametrize("d", [1, 4, 8])
def test_near_pairs_equal_brute_force(d):
    rng = np.random.default_rng(d)
    base = rng.integers(0, 2**63, 60, dtype=np.uint64)
    flips = [base[i] ^ np.uint64(1 << int(b)) for i in range(20) for b in rng.choice(64, 2, replace=False)[:1]]
    more = [
        h ^ np.uint64((1 << int(a)) | (1 << int(b)) | (1 << int(c)))
        for h, (a, b, c) in zip(base[:20], rng.integers(0, 64, (20, 3)))
    ]
    hashes = np.unique(np.concatenate([base, np.array(flips, np.uint64), np.array(more, np.uint64)]))
    i, j, dist = near_pairs(hashes, d)
    assert set(zip(i.tolist(), j.tolist())) == brute_force_pairs(hashes, d)
    assert (dist == hamming(hashes[i], hashes[j])).all() and (dist <= d).all()


def test_near_pairs_long_runs_and_small_batches_equal_brute_force(monkeypatch):
    """Hashes that agree on most chunks (long runs of equal chunk values, as similar real faces
    give): the pairs within runs must all be generated, also across batch boundaries."""
    import ferrepro.data.audit as audit

    rng = np.random.default_rng(7)
    base = np.uint64(0x5A5A_F00D_0000_0000)
    low = rng.choice(1 << 16, 300, replace=False).astype(np.uint64)  # differ in the low 16 bits only
    other = rng.integers(0, 2**63, 50, dtype=np.uint64)
    hashes = np.unique(np.concatenate([base | low, other]))
    expected = brute_force_pairs(hashes, 3)
    monkeypatch.setattr(audit, "_PAIR_BATCH", 97)  # many batches, cut inside runs
    monkeypatch.setattr(audit, "_CANDIDATE_COST", 0)  # force the chunk path
    i, j, dist = near_pairs(hashes, 3)
    assert set(zip(i.tolist(), j.tolist())) == expected and len(i) == len(expected) > 0
    assert (np.diff(i * len(hashes) + j) > 0).all()  # sorted, no repeats


def test_near_pairs_falls_back_to_all_pairs_when_chunks_do_not_discriminate(monkeypatch):
    """With 12 bits of threshold the 5-bit chunks hardly discriminate: the all-pairs pass is used,
    and it finds the same pairs as the chunk path."""
    import ferrepro.data.audit as audit

    rng = np.random.default_rng(3)
    base = rng.integers(0, 2**63, 200, dtype=np.uint64)
    flipped = base[:100] ^ rng.integers(0, 2**12, 100, dtype=np.uint64)
    hashes = np.unique(np.concatenate([base, flipped]))
    calls = []
    real = audit._all_pairs_within
    monkeypatch.setattr(audit, "_all_pairs_within", lambda h, d: calls.append(d) or real(h, d))
    i, j, dist = near_pairs(hashes, 12)
    assert calls == [12]
    assert set(zip(i.tolist(), j.tolist())) == brute_force_pairs(hashes, 12)
    assert (dist == hamming(hashes[i], hashes[j])).all()
    monkeypatch.setattr(audit, "_CANDIDATE_COST", 0)
    i2, j2, _ = near_pairs(hashes, 12)
    assert calls == [12] and np.array_equal(i, i2) and np.array_equal(j, j2)


def test_phash_is_stable_under_jpeg_and_separates_different_images():
    images = smooth_faces(30)
    recoded = np.stack(
        [
            cv2.imdecode(cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, 60])[1], cv2.IMREAD_GRAYSCALE)
            for im in images
        ]
    )[..., None]
    a, b = perceptual_hashes(images), perceptual_hashes(recoded)
    assert np.median(hamming(a, b)) <= 2
    others = hamming(a[:-1], a[1:])
    assert np.median(others) > 16


def make_leaky_dataset():
    """12 distinct images in train, then val/test rows that copy some of them."""
    base = smooth_faces(20, seed=3)
    images = [base[i] for i in range(20)]
    labels = ["happy"] * 10 + ["sad"] * 10
    split = ["train"] * 12 + ["val"] * 4 + ["test"] * 4
    # exact copies: test gets a copy of train #0 (same label) and of train #1 (different label)
    images += [base[0], base[1]]
    labels += ["happy", "angry"]
    split += ["test", "test"]
    # near copy: val gets train #2 with a little noise (not byte-identical)
    noisy = np.clip(base[2].astype(int) + np.random.default_rng(0).integers(-2, 3, base[2].shape), 0, 255).astype(
        np.uint8
    )
    images.append(noisy)
    labels.append(labels[2])
    split.append("val")
    samples = pd.DataFrame(
        {
            "sample_id": [f"s{i:02d}" for i in range(len(images))],
            "label": labels,
            "subject_id": [f"P{i % 5}" for i in range(len(images))],
            "source_file": "",
            "split": "",
        }
    )
    return samples, np.stack(images), pd.Series(split)


def test_audit_finds_planted_exact_and_near_duplicates():
    samples, images, split = make_leaky_dataset()
    result = audit_dataset(samples, images, split, max_distance=4)
    tt = result["across_splits"]["train-test"]
    assert tt["exact_duplicate_pairs"] == 2
    assert tt["test_images_with_exact_duplicate_in_train"] == 2
    assert tt["exact_duplicate_pairs_with_different_labels"] == 1
    tv = result["across_splits"]["train-val"]
    assert tv["exact_duplicate_pairs"] == 0
    assert tv["near_duplicate_pairs"] >= 1 and tv["near_but_not_exact_pairs"] >= 1
    assert tv["val_images_with_near_but_no_exact_duplicate_in_train"] >= 1
    assert {"a": "s02", "b": "s22"}.items() <= tv["near_examples"][0].items()
    assert result["label_conflicts"]["exact_duplicate_groups_with_different_labels"] == 1
    assert result["class_counts"]["test"] == {"angry": 1, "happy": 1, "sad": 4}
    # subjects P0..P4 are everywhere in this toy set
    assert result["subject_overlap"]["train-test"]["n_subjects"] == 5


def test_audit_clean_split_reports_zero():
    samples, images, split = make_leaky_dataset()
    keep = np.arange(20)
    result = audit_dataset(
        samples.iloc[keep].reset_index(drop=True), images[keep], split.iloc[keep].reset_index(drop=True)
    )
    for pair in result["across_splits"].values():
        assert pair["exact_duplicate_pairs"] == 0 and pair["near_duplicate_pairs"] == 0


def test_subject_overlap_is_zero_for_subject_split(tmp_path):
    raw = fx.write_ckplus48(tmp_path / "raw", subjects=("S005", "S010", "S011", "S022", "S034", "S050"))
    ds = load_decoded(decode_dataset("ckplus", raw, tmp_path / "out", check_counts=False))
    table = make_split(ds.samples, "subject", seed=0)
    result = audit_dataset(ds.samples, ds.images, table["split"])
    assert all(v["n_subjects"] == 0 for k, v in result["subject_overlap"].items() if isinstance(v, dict))
    leaky = make_split(ds.samples, "stratified", seed=0)
    result = audit_dataset(ds.samples, ds.images, leaky["split"])
    assert result["subject_overlap"]["train-test"]["n_subjects"] > 0


def test_audit_cli_writes_json_and_markdown(tmp_path, capsys):
    samples, images, split = make_leaky_dataset()
    write_decoded(tmp_path / "decoded", images, samples, {"dataset": "toy"})
    pd.DataFrame({"sample_id": samples["sample_id"], "split": split}).to_csv(tmp_path / "split.csv", index=False)
    rc = cli(
        [
            "--decoded",
            str(tmp_path / "decoded"),
            "--split",
            str(tmp_path / "split.csv"),
            "--out-json",
            str(tmp_path / "a" / "audit.json"),
            "--out-md",
            str(tmp_path / "a" / "audit.md"),
        ]
    )
    assert rc == 0
    result = json.loads((tmp_path / "a" / "audit.json").read_text())
    assert result["across_splits"]["train-test"]["exact_duplicate_pairs"] == 2
    md = (tmp_path / "a" / "audit.md").read_text()
    assert "| train-test | 2 | 1 |" in md and "## Class counts per split" in md


def test_split_list_with_unknown_ids_is_an_error(tmp_path, capsys):
    samples, images, split = make_leaky_dataset()
    write_decoded(tmp_path / "decoded", images, samples, {})
    pd.DataFrame({"sample_id": ["nope"], "split": ["train"]}).to_csv(tmp_path / "split.csv", index=False)
    with pytest.raises(AuditError, match=r"1 sample ids are not in the decoded dataset, e.g. \['nope'\]"):
        run_audit(tmp_path / "decoded", tmp_path / "split.csv")
    rc = cli(
        [
            "--decoded",
            str(tmp_path / "decoded"),
            "--split",
            str(tmp_path / "split.csv"),
            "--out-json",
            str(tmp_path / "a.json"),
            "--out-md",
            str(tmp_path / "a.md"),
        ]
    )
    assert rc == 1 and "not in the decoded dataset" in capsys.readouterr().err
    assert not (tmp_path / "a.json").exists()


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_TAR.exists(), reason="real FER2013 tar not present (../shared/data)")
def test_real_fer2013_decodes_to_official_table_and_has_cross_split_duplicates(tmp_path):
    """The shared Kaggle image folders decode to the exact official table (the count check is on)
    and the audit finds FER2013's known train/test duplicates."""
    out = decode_dataset("fer2013", REAL_TAR, tmp_path / "fer2013")
    ds = load_decoded(out)
    assert ds.report["count_check"]["status"] == "ok" and ds.n == 35887
    result = audit_dataset(ds.samples, ds.images, make_split(ds.samples, "official", 0)["split"])
    assert result["across_splits"]["train-test"]["test_images_with_exact_duplicate_in_train"] > 0
