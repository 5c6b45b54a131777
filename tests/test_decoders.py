"""Every native layout decodes from a fixture written in its exact layout; every broken variant
yields a clear error (naming the file and, for text files, the line) or a quarantine entry."""

from __future__ import annotations

import json

import native_fixtures as fx
import numpy as np
import pandas as pd
import pytest

from ferrepro.data.acquire import MissingDatasetError
from ferrepro.data.decode import cli as decode_cli
from ferrepro.data.decode import compare_counts, decode_dataset
from ferrepro.data.decoders.common import CountMismatchError, DecodeError, NoExpressionLabelsError
from ferrepro.data.decoders.fer2013_csv import parse_pixel_row, parse_pixel_strings
from ferrepro.data.registry import RegistryError, load_registry, registry_from_dict
from ferrepro.data.standard import load_decoded
from ferrepro.labels import BASIC7

REGISTRY = load_registry()
# fixtures are not the real fer2013new.csv, whose sha256 the project registry pins
FIXTURE_REGISTRY = fx.registry_with({"ferplus": {"checksums": {}}})


def decode(name, raw, tmp_path, out="out", **kw):
    kw.setdefault("check_counts", False)
    return load_decoded(decode_dataset(name, raw, tmp_path / out, kw.pop("registry", FIXTURE_REGISTRY), **kw))


# -- FER2013 CSV ----------------------------------------------------------------------------------


@pytest.mark.parametrize("icml", [False, True])
def test_fer2013_csv_decodes_pixels_labels_and_official_splits(tmp_path, icml):
    raw = fx.write_fer2013_csv_fixture(tmp_path / "raw", n_per_class=2, icml=icml)
    codes, pixels, usages = fx.fer2013_rows(2)
    ds = decode("fer2013", raw, tmp_path)
    assert ds.report["layout"] == ("icml_csv" if icml else "fer2013_csv")
    assert ds.images.shape == (len(codes), 48, 48, 1)
    np.testing.assert_array_equal(ds.images[..., 0], pixels)
    assert ds.samples["label"].tolist() == [fx.FER_CLASSES[c] for c in codes]
    assert ds.samples["split"].tolist() == [
        {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}[u] for u in usages
    ]
    assert ds.samples["usage"].tolist() == usages  # the original Usage is kept
    assert ds.samples["sample_id"].iloc[3] == "row00003"  # the row number, shared with FER+
    assert ds.samples["source_file"].iloc[0].endswith(":2")  # header is line 1


def test_fast_pixel_parser_matches_exact_parser_and_flags_bad_rows():
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (70, 2304), dtype=np.uint8)
    rows = [" ".join(map(str, r)) for r in pixels]
    rows[5] = rows[5] + " 7"  # one value too many
    rows[40] = "x" + rows[40][rows[40].index(" ") :]  # non-numeric first value
    rows[41] = "256" + rows[41][rows[41].index(" ") :]  # out of range, count kept
    rows[42] = "  " + rows[42].replace(" ", "  ", 3) + " "  # odd spacing is still valid
    rows[69] = ""
    out, bad = parse_pixel_strings(rows)
    assert set(bad) == {5, 40, 41, 69}
    assert "2305 pixel values" in bad[5] and "non-numeric" in bad[40] and "outside 0..255" in bad[41]
    good = [i for i in range(70) if i not in bad]
    np.testing.assert_array_equal(out[good], pixels[good])
    assert parse_pixel_row(rows[42])[0] is not None


@pytest.mark.parametrize("rows_per_block", [1, 3, 8, 32])
def test_fast_pixel_parser_is_independent_of_block_size(monkeypatch, rows_per_block):
    """The block size is a cache tuning knob only: every block size gives the same pixels and
    flags the same rows, whether a bad row starts, ends or sits inside a block."""
    import ferrepro.data.decoders.fer2013_csv as fer_csv

    monkeypatch.setattr(fer_csv, "_ROWS_PER_BLOCK", rows_per_block)
    rng = np.random.default_rng(rows_per_block)
    pixels = rng.integers(0, 256, (37, 2304), dtype=np.uint8)
    pixels[3, :5] = [0, 9, 10, 99, 100]  # every token width at a row start
    pixels[4, -3:] = [255, 7, 0]  # and at a row end (rows abut in pyarrow's buffer)
    rows = [" ".join(map(str, r)) for r in pixels]
    for bad in (0, 8, 16, 24, 36):
        rows[bad] = rows[bad].rsplit(" ", 1)[0] + " 300"  # last value out of range: the row is flagged
    out, flagged = parse_pixel_strings(rows, workers=2)
    assert set(flagged) == {0, 8, 16, 24, 36}
    good = [i for i in range(37) if i not in flagged]
    np.testing.assert_array_equal(out[good], pixels[good])


def _with_pixels(line: str, change) -> str:
    emotion, pixels, usage = line.split(",")
    return ",".join([emotion, " ".join(change(pixels)), usage])


@pytest.mark.parametrize(
    "breakage, expected",
    [
        (lambda t: _with_pixels(t, lambda px: px.split()[:-100]), "fer2013.csv:3: 2204 pixel values, expected 2304"),
        (
            lambda t: _with_pixels(t, lambda px: ["12", "x7"] + px.split()[2:]),
            "fer2013.csv:3: non-numeric pixel value 'x7' at position 2",
        ),
        (
            lambda t: _with_pixels(t, lambda px: ["300"] + px.split()[1:]),
            "fer2013.csv:3: pixel value 300 at position 1 is outside 0..255",
        ),
        (lambda t: "9" + t[1:], "fer2013.csv:3: unknown label '9'"),
        (lambda t: t.rsplit(",", 1)[0] + ",Validation", "fer2013.csv:3: unknown Usage 'Validation'"),
        (lambda t: t.split(",")[0] + "," + t.split(",")[1], "fer2013.csv:3: 2 fields, expected 3"),
    ],
    ids=["short-row", "non-numeric", "out-of-range", "unknown-label", "unknown-usage", "missing-field"],
)
def test_fer2013_csv_bad_rows_fail_with_file_and_line(tmp_path, breakage, expected):
    raw = fx.write_fer2013_csv_fixture(tmp_path / "raw")
    fx.replace_csv_line(raw / "fer2013.csv", 3, breakage)
    with pytest.raises(DecodeError, match="--quarantine") as err:
        decode("fer2013", raw, tmp_path)
    assert expected in str(err.value)


def test_fer2013_truncated_file_is_quarantined_and_listed(tmp_path):
    raw = fx.write_fer2013_csv_fixture(tmp_path / "raw")
    n_rows = 21
    fx.truncate_file(raw / "fer2013.csv", keep=0.98)  # cuts the last row in the middle of its pixels
    ds = decode("fer2013", raw, tmp_path, quarantine=True)
    assert ds.n == n_rows - 1
    assert ds.report["n_quarantined"] == 1
    entry = ds.report["quarantined"][0]
    assert entry["file"].endswith("fer2013.csv") and entry["line"] == n_rows + 1
    listed = pd.read_csv(tmp_path / "out" / "quarantine.csv")
    assert listed["line"].tolist() == [n_rows + 1]


def test_fer2013_missing_column_names_file_and_header(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "fer2013.csv").write_text("label,pixels,Usage\n0,1 2,Training\n")
    with pytest.raises(DecodeError, match=r"fer2013.csv:1: header .* lacks columns \['emotion'\]"):
        decode("fer2013", raw, tmp_path)


# -- Kaggle image folders -------------------------------------------------------------------------


def test_kaggle_folders_tell_test_splits_apart_by_prefix(tmp_path):
    raw = fx.write_kaggle_folders(tmp_path / "raw", n_per_class=2)
    ds = decode("fer2013", raw, tmp_path)
    assert ds.report["layout"] == "kaggle_folders"
    counts = ds.samples.groupby(["split", "usage"]).size().to_dict()
    assert counts == {("train", "Training"): 14, ("val", "PublicTest"): 14, ("test", "PrivateTest"): 14}
    assert set(ds.samples["label"]) == set(BASIC7)
    assert (ds.samples["sample_id"].str.split("/").str[1] == ds.samples["label"]).all()
    assert ds.images.shape[1:] == (48, 48, 1)


@pytest.mark.parametrize(
    "breakage, expected",
    [
        (lambda raw: (raw / "train" / "angry").rename(raw / "train" / "angy"), "unexpected folder name 'angy'"),
        (lambda raw: fx.corrupt_file(sorted((raw / "test" / "happy").glob("*.jpg"))[0]), "corrupt or unreadable image"),
        (lambda raw: fx.truncate_file(sorted((raw / "train" / "sad").glob("*.jpg"))[0], 0.6), "truncated JPEG"),
        (
            lambda raw: sorted((raw / "test" / "fear").glob("PublicTest_*.jpg"))[0].rename(
                raw / "test" / "fear" / "Training_1.jpg"
            ),
            "does not start with one of ['PrivateTest', 'PublicTest']",
        ),
        (
            lambda raw: fx.write_image(raw / "train" / "happy" / "Training_5.jpg", np.zeros((40, 48), np.uint8)),
            "is 40x48, expected 48x48",
        ),
    ],
    ids=["unexpected-folder", "corrupt-image", "truncated-image", "wrong-prefix", "wrong-size"],
)
def test_kaggle_folders_broken_variants(tmp_path, breakage, expected):
    raw = fx.write_kaggle_folders(tmp_path / "raw")
    breakage(raw)
    with pytest.raises(DecodeError) as err:
        decode("fer2013", raw, tmp_path)
    assert expected in str(err.value)
    # the same input with quarantine decodes the rest and lists exactly one problem
    ds = decode("fer2013", raw, tmp_path, out="q", quarantine=True)
    assert ds.report["n_quarantined"] >= 1 and expected in json.dumps(ds.report["quarantined"])


def test_count_check_against_official_table(tmp_path):
    raw = fx.write_kaggle_folders(tmp_path / "raw")
    per_class = {c: 1 for c in BASIC7}
    matching = fx.registry_with(
        {
            "fer2013": {
                "layouts": {
                    "kaggle_folders": {"official_counts": {"train": per_class, "val": per_class, "test": per_class}}
                }
            }
        }
    )
    ds = decode("fer2013", raw, tmp_path, registry=matching, check_counts=True)
    assert ds.report["count_check"]["status"] == "ok"

    wrong = fx.registry_with(
        {
            "fer2013": {
                "layouts": {
                    "kaggle_folders": {
                        "official_counts": {"train": {**per_class, "happy": 2}, "val": per_class, "test": per_class}
                    }
                }
            }
        }
    )
    with pytest.raises(CountMismatchError, match=r"train\s+happy\s+expected\s+2\s+found\s+1"):
        decode("fer2013", raw, tmp_path, out="o2", registry=wrong, check_counts=True)
    ds = decode("fer2013", raw, tmp_path, out="o3", registry=wrong, check_counts=True, quarantine=True)
    assert ds.report["count_check"]["differences"] == [{"split": "train", "label": "happy", "expected": 2, "found": 1}]
    assert "expected 2, found 1" in (tmp_path / "o3" / "quarantine.csv").read_text()


def test_compare_counts_skips_labels_outside_the_label_set():
    units = pd.DataFrame({"split": ["", "", ""], "label": ["angry", "angry", "happy"]})
    official = {"all": {"angry": 2, "happy": 1, "contempt": 5}}
    assert compare_counts(units, official, BASIC7) == []
    assert compare_counts(units, {"all": 4}, BASIC7) == [
        {"split": "all", "label": "(total)", "expected": 4, "found": 3}
    ]


# -- FER+ -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("next_to_labels", [True, False])
def test_ferplus_majority_vote_and_drop_counts(tmp_path, next_to_labels):
    raw = fx.write_ferplus(tmp_path / "ferplus", pixels_next_to_labels=next_to_labels)
    ds = decode("ferplus", raw, tmp_path, label_set="basic7")
    expected = [lab for _, lab in fx.FERPLUS_CASES]
    want = [lab for lab in expected if lab in BASIC7]
    assert ds.samples[ds.samples["usage"] == "Training"]["label"].tolist() == want
    dropped = ds.report["dropped"]
    assert dropped["FER+ non-face (empty image name)"] == 3
    assert dropped["FER+ no majority after removing single votes"] == 3
    assert dropped["label 'contempt' not in label set basic7"] == 3
    assert sum(v for k, v in dropped.items() if "native label" in k) == 6  # NF and unknown winners
    assert ds.report["non_faces_without_image_name"] == 3
    # pixels follow the row alignment: row 1 of fer2013new.csv is row 1 of fer2013.csv
    fer = load_decoded(
        decode_dataset(
            "fer2013", raw if next_to_labels else tmp_path / "fer2013", tmp_path / "fer", REGISTRY, check_counts=False
        )
    )
    by_id = dict(zip(fer.samples["sample_id"], range(fer.n)))
    for i, sid in enumerate(ds.samples["sample_id"]):
        np.testing.assert_array_equal(ds.images[i], fer.images[by_id[sid]])


def test_ferplus_finds_the_fer2013_pixels_in_the_raw_root_it_is_given(tmp_path):
    """FER+ labels kept apart from the raw root (--raw-dir elsewhere): the pixels come from <raw_root>/fer2013,
    the folder the decode context names (raw_dir of config/config.yaml in the workflow)."""
    fx.write_ferplus(tmp_path / "raw" / "ferplus", pixels_next_to_labels=False)
    labels = tmp_path / "elsewhere" / "ferplus"
    labels.parent.mkdir()
    (tmp_path / "raw" / "ferplus").rename(labels)
    with pytest.raises(MissingDatasetError, match="FER\\+ labels need the FER2013 pixels"):
        decode("ferplus", labels, tmp_path)
    ds = decode("ferplus", labels, tmp_path, raw_root=tmp_path / "raw")
    assert ds.n > 0 and ds.samples["source_file"].str.startswith("fer2013.csv:").all()


def test_ferplus_keeps_contempt_with_the_contempt_label_set(tmp_path):
    raw = fx.write_ferplus(tmp_path / "ferplus")
    ds = decode("ferplus", raw, tmp_path, label_set="basic7+contempt")
    assert (ds.samples["label"] == "contempt").sum() == 3
    assert ds.samples.filter(like="votes_").shape[1] == 10


def test_ferplus_refuses_misaligned_files(tmp_path):
    raw = fx.write_ferplus(tmp_path / "ferplus")
    fx.replace_csv_line(raw / "fer2013new.csv", 14, lambda t: t.replace("PublicTest", "Training", 1))
    with pytest.raises(
        DecodeError, match=r"fer2013new.csv:14 says Usage 'Training' but .*fer2013.csv:14 says 'PublicTest'"
    ):
        decode("ferplus", raw, tmp_path, quarantine=True)  # misalignment is never quarantined


def test_ferplus_without_pixels_explains_kaggle_folders_cannot_be_aligned(tmp_path):
    raw = fx.write_ferplus(tmp_path / "ferplus")
    (raw / "fer2013.csv").unlink()
    fx.write_kaggle_folders(tmp_path / "fer2013")
    with pytest.raises(MissingDatasetError, match="not fer2013.csv row numbers"):
        decode("ferplus", raw, tmp_path)


def test_ferplus_without_pixels_names_the_archive_it_did_not_open(tmp_path):
    """The FER2013 raw folder holding only the Kaggle image tar as downloaded (a valid FER2013
    source): the FER+ error names the archive and says why it cannot supply the pixels."""
    import tarfile

    raw = fx.write_ferplus(tmp_path / "ferplus")
    (raw / "fer2013.csv").unlink()
    folders = fx.write_kaggle_folders(tmp_path / "unpacked")
    (tmp_path / "fer2013").mkdir()
    with tarfile.open(tmp_path / "fer2013" / "fer2013_kaggle_images.tar", "w") as tf:
        for top in ("train", "test"):
            tf.add(folders / top, arcname=top)
    with pytest.raises(
        MissingDatasetError,
        match=r"Archives found but not opened: \[.*fer2013_kaggle_images.tar'\].*not fer2013.csv row numbers",
    ):
        decode("ferplus", raw, tmp_path)


def test_ferplus_bad_vote_row_names_line(tmp_path):
    raw = fx.write_ferplus(tmp_path / "ferplus")
    fx.replace_csv_line(raw / "fer2013new.csv", 4, lambda t: t.rsplit(",", 1)[0] + ",x")
    with pytest.raises(DecodeError, match=r"fer2013new.csv:4: vote counts"):
        decode("ferplus", raw, tmp_path)


# -- CK+ ------------------------------------------------------------------------------------------


def test_ckplus48_folders_subject_from_file_name(tmp_path):
    raw = fx.write_ckplus48(tmp_path / "raw" / "CK+48")  # wrapper folder, as the Kaggle zip has
    ds = decode("ckplus", tmp_path / "raw", tmp_path, label_set="basic7+contempt")
    assert ds.report["layout"] == "ckplus48_folders" and ds.report["layout_folder"] == "CK+48"
    assert ds.n == 7 * 3 * 3
    assert set(ds.samples["subject_id"]) == {"S005", "S010", "S011"}
    assert set(ds.samples["label"]) == {"angry", "contempt", "disgust", "fear", "happy", "sad", "surprise"}
    basic = decode("ckplus", raw, tmp_path, out="basic", label_set="basic7")
    assert basic.n == 6 * 3 * 3 and basic.report["dropped"] == {"label 'contempt' not in label set basic7": 9}


@pytest.mark.parametrize(
    "breakage, expected",
    [
        (lambda raw: (raw / "happy").rename(raw / "joy"), "unexpected folder name 'joy'"),
        (
            lambda raw: sorted((raw / "fear").glob("*.png"))[0].rename(raw / "fear" / "frame1.png"),
            "'frame1.png' is not S<subject>",
        ),
    ],
    ids=["unexpected-folder", "bad-name"],
)
def test_ckplus48_broken_variants(tmp_path, breakage, expected):
    raw = fx.write_ckplus48(tmp_path / "raw")
    breakage(raw)
    with pytest.raises(DecodeError, match="problem") as err:
        decode("ckplus", raw, tmp_path)
    assert expected in str(err.value)


def test_ckplus_original_takes_last_frames_of_labelled_sequences(tmp_path):
    raw = fx.write_ckplus_original(tmp_path / "raw", n_frames=5)
    ds = decode("ckplus", raw, tmp_path, label_set="basic7+contempt", size=(24, 32))
    assert ds.report["layout"] == "ckplus_original"
    assert ds.report["labelled_sequences"] == 21  # unlabelled sequences are not samples
    assert ds.n == 21 * 3 and set(ds.samples["frame"]) == {3, 4, 5}
    assert ds.images.shape[1:] == (24, 32, 1)
    first = ds.samples[ds.samples["sequence"] == "S010_002"]
    assert first["label"].unique().tolist() == ["contempt"] and first["subject_id"].unique().tolist() == ["S010"]


def test_ckplus_original_counts_are_per_sequence(tmp_path):
    raw = fx.write_ckplus_original(tmp_path / "raw", subjects=("S005",))
    one_each = {c: 1 for c in ["angry", "contempt", "disgust", "fear", "happy", "sad", "surprise"]}
    reg = fx.registry_with({"ckplus": {"layouts": {"ckplus_original": {"official_counts": {"all": one_each}}}}})
    ds = decode("ckplus", raw, tmp_path, registry=reg, check_counts=True, size=(10, 10))
    # decoding keeps every label, contempt included (issue 14: it was dropped under the old basic7 default)
    assert ds.report["count_check"]["status"] == "ok" and ds.n == 7 * 3
    assert "contempt" in set(ds.samples["label"]) and ds.report["n_dropped"] == 0


@pytest.mark.parametrize(
    "breakage, expected",
    [
        (
            lambda raw: (raw / "Emotion/S005/001/S005_001_00000005_emotion.txt").write_text("anger\n"),
            "S005_001_00000005_emotion.txt:1: 'anger' is not a number",
        ),
        (
            lambda raw: (raw / "Emotion/S005/001/S005_001_00000005_emotion.txt").write_text("   9.0000000e+00\n"),
            "_emotion.txt:1: unknown label '9'",
        ),
        (
            lambda raw: (raw / "cohn-kanade-images/S005/001/S005_001_00000005.png").unlink(),
            "labelled frame 5 is missing",
        ),
    ],
    ids=["non-numeric-label", "unknown-code", "missing-frame"],
)
def test_ckplus_original_broken_variants(tmp_path, breakage, expected):
    raw = fx.write_ckplus_original(tmp_path / "raw", subjects=("S005",))
    breakage(raw)
    with pytest.raises(DecodeError) as err:
        decode("ckplus", raw, tmp_path, size=(10, 10))
    assert expected in str(err.value)


# -- JAFFE, KDEF ----------------------------------------------------------------------------------


@pytest.mark.parametrize("as_zip", [False, True])
def test_jaffe_flat_folder_or_zip(tmp_path, as_zip):
    raw = fx.write_jaffe(tmp_path / "raw", as_zip=as_zip)
    ds = decode("jaffe", raw, tmp_path)
    assert ds.n == 21 and ds.images.shape[1:] == (256, 256, 1)
    assert set(ds.samples["subject_id"]) == {"KA", "KL", "KM"}
    row = ds.samples.set_index("sample_id").loc["KA.AN1.1"]
    assert row["label"] == "angry" and row["subject_id"] == "KA"
    assert any("README_FIRST.txt" in f for f in ds.report["ignored_files"])  # listed, not silently skipped
    assert not any(p.name.startswith(".extract") for p in tmp_path.iterdir())  # scratch removed


def test_jaffe_broken_variants(tmp_path):
    raw = fx.write_jaffe(tmp_path / "raw")
    (raw / "KA.AN1.1.tiff").rename(raw / "KA.XX1.1.tiff")
    (raw / "KL.HA1.11.tiff").rename(raw / "KL_HA_11.tiff")
    with pytest.raises(DecodeError) as err:
        decode("jaffe", raw, tmp_path)
    assert "KA.XX1.1.tiff: unknown label 'XX'" in str(err.value)
    assert "'KL_HA_11.tiff' is not <poser>" in str(err.value)


def test_zip_slip_archive_is_refused(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    fx.zip_with_member(raw / "jaffe.zip", "../../evil.tiff")
    from ferrepro.data.acquire import UnsafeArchiveError

    with pytest.raises(UnsafeArchiveError, match="zip-slip"):
        decode("jaffe", raw, tmp_path)
    assert not (tmp_path / "evil.tiff").exists()


def test_kdef_keeps_angle_session_and_person_subject(tmp_path):
    raw = fx.write_kdef(tmp_path / "raw")
    fx.write_image(raw / "AKDEF" / "AF.JPG", np.zeros((8, 8, 3), np.uint8))  # KDEF_and_AKDEF download
    ds = decode("kdef", raw, tmp_path, size=(19, 14))
    assert ds.report["ignored_files"] == ["AKDEF (outside the KDEF/ folder)"]
    assert ds.n == 2 * 2 * 7 * 2
    assert ds.images.shape[1:] == (19, 14, 3)
    row = ds.samples.set_index("sample_id").loc["BM02AFHL"]
    assert (row["label"], row["angle"], row["session"], row["subject_id"]) == ("fear", "HL", "B", "M02")
    # sessions A and B of one person share the subject id
    assert ds.samples.groupby("subject_id")["session"].nunique().to_dict() == {"F01": 2, "M02": 2}


def test_kdef_broken_variants(tmp_path):
    raw = fx.write_kdef(tmp_path / "raw")
    folder = raw / "KDEF" / "AF01"
    (folder / "AF01ANS.JPG").rename(folder / "AF01XXS.JPG")
    (folder / "AF01HAS.JPG").rename(raw / "KDEF" / "BM02" / "AF01HAS.JPG")
    with pytest.raises(DecodeError) as err:
        decode("kdef", raw, tmp_path, size=(8, 8))
    assert "'AF01XXS.JPG' is not <A|B>" in str(err.value)
    assert "file of AF01 is in the folder of BM02" in str(err.value)


# -- AffectNet, RAF-DB, FERG, UTKFace -------------------------------------------------------------


@pytest.mark.parametrize("validation_header", [True, False])
def test_affectnet_drops_non_expressions_and_validation_is_test(tmp_path, validation_header):
    raw = fx.write_affectnet(tmp_path / "raw", validation_header=validation_header)
    ds = decode("affectnet", raw, tmp_path, label_set="basic7+contempt", size=(16, 16))
    assert ds.samples.groupby("split").size().to_dict() == {"train": 8, "test": 8}
    assert set(ds.samples["list"]) == {"training", "validation"}
    assert ds.report["dropped"] == {
        "native label '8': none": 2,
        "native label '9': uncertain": 2,
        "native label '10': no-face": 2,
    }
    assert ds.images.shape[1:] == (16, 16, 3)
    first = ds.samples.iloc[0]
    assert first["label"] == "neutral" and first["valence"] == 0.25


def test_affectnet_crops_the_face_box(tmp_path):
    raw = fx.write_affectnet(tmp_path / "raw", codes=(1,))
    import cv2

    ds = decode("affectnet", raw, tmp_path, size=(28, 30))
    source = cv2.cvtColor(
        cv2.imread(str(raw / "Manually_Annotated_Images" / ds.samples["source_file"].iloc[0])), cv2.COLOR_BGR2RGB
    )
    np.testing.assert_array_equal(ds.images[0], source[4:32, 5:35])  # box x=5, y=4, w=30, h=28


@pytest.mark.parametrize(
    "line, change, expected",
    [
        (3, lambda t: t.replace(",1,0.25", ",12,0.25"), "training.csv:3: unknown label '12'"),
        (2, lambda t: t.replace(",5,4,30,28,", ",5,4,-1,28,"), "training.csv:2: face box"),
        (4, lambda t: t.replace("img", "missing"), "training.csv:4: listed image Manually_Annotated_Images/"),
    ],
    ids=["unknown-code", "bad-box", "missing-image"],
)
def test_affectnet_broken_variants(tmp_path, line, change, expected):
    raw = fx.write_affectnet(tmp_path / "raw")
    fx.replace_csv_line(raw / "training.csv", line, change)
    with pytest.raises(DecodeError) as err:
        decode("affectnet", raw, tmp_path, size=(8, 8))
    assert expected in str(err.value)


@pytest.mark.parametrize("wrap, variant", [(True, "aligned"), (False, "original")])
def test_rafdb_labels_in_raf_order(tmp_path, wrap, variant):
    raw = fx.write_rafdb(tmp_path / "raw", wrap=wrap, variant=variant)
    ds = decode("rafdb", raw, tmp_path)
    raf_order = ["surprise", "fear", "disgust", "happy", "sad", "angry", "neutral"]
    assert ds.samples[ds.samples["split"] == "train"]["label"].tolist() == raf_order
    assert ds.samples.groupby("split").size().to_dict() == {"test": 7, "train": 7}
    assert ds.images.shape[1:] == (100, 100, 3) and set(ds.samples["image_variant"]) == {variant}


def test_rafdb_broken_variants(tmp_path):
    raw = fx.write_rafdb(tmp_path / "raw", wrap=False)
    lst = raw / "EmoLabel" / "list_patition_label.txt"
    fx.replace_csv_line(lst, 2, lambda t: t.split()[0] + " 8")
    fx.replace_csv_line(lst, 3, lambda t: t.replace(" ", ""))
    (raw / "Image" / "aligned" / "test_0001_aligned.jpg").unlink()
    with pytest.raises(DecodeError) as err:
        decode("rafdb", raw, tmp_path)
    text = str(err.value)
    assert "list_patition_label.txt:2: unknown label '8'" in text
    assert "list_patition_label.txt:3: " in text and "list_patition_label.txt:8: listed image" in text


def test_ferg_character_is_subject_and_alpha_is_composited(tmp_path):
    raw = fx.write_ferg(tmp_path / "raw")
    ds = decode("ferg", raw, tmp_path, size=(32, 32))
    assert ds.n == 3 * 7 and set(ds.samples["subject_id"]) == {"aia", "bonnie", "ray"}
    assert ds.samples.set_index("sample_id").loc["ray_joy_1", "label"] == "happy"
    assert (ds.images[:, :4] == 255).all()  # transparent rows became the white background


def test_ferg_unexpected_folder(tmp_path):
    raw = fx.write_ferg(tmp_path / "raw")
    (raw / "aia" / "aia_joy").rename(raw / "aia" / "aia_happy")
    with pytest.raises(DecodeError, match="unexpected folder name 'aia_happy'"):
        decode("ferg", raw, tmp_path, size=(8, 8))


def test_utkface_has_no_expression_labels(tmp_path, capsys):
    raw = fx.write_utkface(tmp_path / "raw")
    with pytest.raises(NoExpressionLabelsError, match="no expression labels.*untestable"):
        decode("utkface", raw, tmp_path)
    rc = decode_cli(["--dataset", "utkface", "--raw-dir", str(raw), "--out", str(tmp_path / "cli")])
    assert rc == 1 and "NoExpressionLabelsError" in capsys.readouterr().err
    assert not (tmp_path / "cli").exists()


# -- dispatch, registry, CLI ----------------------------------------------------------------------


def test_missing_dataset_says_where_to_get_and_put_it(tmp_path):
    with pytest.raises(MissingDatasetError) as err:
        decode("kdef", tmp_path / "resources" / "raw" / "kdef", tmp_path)
    text = str(err.value)
    assert "https://kdef.se/" in text and "where to put it: " in text and "AF01ANS.JPG" in text


def test_folder_without_a_known_layout_lists_what_it_holds(tmp_path):
    raw = tmp_path / "raw"
    (raw / "pictures").mkdir(parents=True)
    (raw / "notes.txt").write_text("x")
    with pytest.raises(MissingDatasetError, match=r"does not hold any accepted layout .*notes.txt"):
        decode("fer2013", raw, tmp_path)


def test_registry_rejects_non_canonical_label_and_unknown_key():
    import yaml

    from ferrepro.data.registry import default_registry_path

    raw = yaml.safe_load(default_registry_path().read_text())
    raw["datasets"]["jaffe"]["layouts"][0]["label_map"] = {"HA": "happpy"}
    with pytest.raises(RegistryError, match=r"jaffe.*\['happpy'\] are not canonical"):
        registry_from_dict(raw)
    raw = yaml.safe_load(default_registry_path().read_text())
    raw["datasets"]["kdef"]["lable_map"] = {}
    with pytest.raises(RegistryError, match=r"kdef.*unknown keys \['lable_map'\]"):
        registry_from_dict(raw)


def test_a_registry_that_still_sets_raw_root_is_refused_naming_raw_dir(tmp_path):
    """Where raw data lives is said once, by `raw_dir` in config/config.yaml; datasets.yaml's old key is refused."""
    from ferrepro.data.registry import default_registry_path

    registry = tmp_path / "datasets.yaml"
    registry.write_text("raw_root: /data/raw\n" + default_registry_path().read_text())
    with pytest.raises(RegistryError) as err:
        load_registry(registry)
    message = str(err.value)
    assert str(registry) in message and "`raw_root`" in message
    assert "`raw_dir: /data/raw` in config/config.yaml" in message


def test_registry_covers_every_dataset_of_the_papers():
    assert set(REGISTRY.names) >= {
        "fer2013",
        "ferplus",
        "ckplus",
        "jaffe",
        "kdef",
        "affectnet",
        "rafdb",
        "ferg",
        "utkface",
    }
    fer = REGISTRY["fer2013"].layout("kaggle_folders").official_counts
    assert sum(sum(v.values()) for v in fer.values()) == 35887
    for name in REGISTRY.names:
        spec = REGISTRY[name]
        assert spec.obtain_url and spec.licence
        for layout in spec.layouts:
            assert set(layout.label_map.values()) <= set(BASIC7) | {"contempt"}


def test_decode_cli_writes_standard_format(tmp_path, capsys):
    raw = fx.write_fer2013_csv_fixture(tmp_path / "raw")
    rc = decode_cli(["--dataset", "fer2013", "--raw-dir", str(raw), "--out", str(tmp_path / "out"), "--no-count-check"])
    assert rc == 0 and "21 samples" in capsys.readouterr().out
    ds = load_decoded(tmp_path / "out")
    assert ds.n == 21 and ds.report["count_check"]["status"] == "skipped"


def test_duplicate_sample_ids_are_problems(tmp_path):
    raw = fx.write_kdef(tmp_path / "raw", people=("F01",), sessions=("A",), angles=("S",))
    extra = raw / "KDEF" / "copy" / "AF01ANS.JPG"
    extra.parent.mkdir()
    extra.write_bytes((raw / "KDEF" / "AF01" / "AF01ANS.JPG").read_bytes())
    with pytest.raises(DecodeError, match="sample id 'AF01ANS' also comes from"):
        decode("kdef", raw, tmp_path, size=(8, 8))
    ds = decode("kdef", raw, tmp_path, out="q", size=(8, 8), quarantine=True)
    assert ds.n == 7 and ds.report["n_quarantined"] == 1


def test_datasets_section_is_generated_from_the_registry():
    from ferrepro.data.acquire import configured_raw_root
    from ferrepro.data.registry import datasets_markdown

    text = datasets_markdown(REGISTRY, configured_raw_root())
    for name in REGISTRY.names:
        spec = REGISTRY[name]
        assert f"(`{name}`)" in text and spec.obtain_url in text and f"resources/raw/{name}/" in text
    assert "{'train': 28709, 'val': 3589, 'test': 3589}" in text
    assert "Not decodable for expression recognition" in text  # UTKFace
    assert "- Accepted: conversions to any common image format" in text and "`resize: true`" in text
    from pathlib import Path

    readme = Path("README.md").read_text()
    assert text.rstrip("\n") in readme, "README's Datasets section is stale: regenerate it from datasets_markdown"


def test_large_arrays_go_through_a_memory_mapped_scratch_file(tmp_path, monkeypatch):
    """Big datasets (AffectNet, FERG) are built in a memmap and compacted in place after quarantine."""
    from ferrepro.data.decoders import common

    raw = fx.write_kaggle_folders(tmp_path / "raw")
    fx.corrupt_file(sorted((raw / "train" / "angry").glob("*.jpg"))[0])
    reference = decode("fer2013", raw, tmp_path, out="ref", quarantine=True)  # in RAM
    monkeypatch.setattr(common, "IN_MEMORY_LIMIT_BYTES", 0)
    ds = decode("fer2013", raw, tmp_path, quarantine=True)
    assert ds.n == 20 and not (tmp_path / "out" / ".decode-scratch").exists()
    np.testing.assert_array_equal(np.asarray(ds.images), np.asarray(reference.images))


# -- issue 14: the forms real copies circulate in ------------------------------------------------


def _zip_raw(raw):
    """The raw folder's content, zipped as downloaded (a zip of the same form)."""
    fx.zip_folder(raw, raw / "download.zip")
    return raw


@pytest.mark.parametrize("suffix", [".tiff.png", ".tiff.jpg", ".png", ".bmp"])
@pytest.mark.parametrize("per_class", [False, True], ids=["flat", "per-class"])
@pytest.mark.parametrize("zipped", [False, True], ids=["folder", "zip"])
def test_jaffe_converted_copies_decode_with_resize(tmp_path, suffix, per_class, zipped):
    raw = fx.write_jaffe_converted(tmp_path / "raw", suffix=suffix, per_class=per_class)
    if zipped:
        _zip_raw(raw)
    ds = decode("jaffe", raw, tmp_path, resize=True)
    assert ds.n == 14 and ds.images.shape[1:] == (256, 256, 1) and ds.report["n_resized"] == 14
    assert set(ds.samples["subject_id"]) == {"KA", "KL"}
    row = ds.samples.set_index("sample_id").loc["KA.AN1.1"]  # no .tiff left in the sample id
    assert row["label"] == "angry" and row["expression_code"] == "AN1"


def test_jaffe_size_mismatch_names_the_resize_option(tmp_path):
    raw = fx.write_jaffe_converted(tmp_path / "raw", suffix=".tiff.png", per_class=True)
    with pytest.raises(DecodeError) as err:
        decode("jaffe", raw, tmp_path)
    message = str(err.value)
    assert "image is 200x180, expected 256x256" in message
    assert "decode: {jaffe: {resize: true}}" in message and "config/config.yaml" in message and "--resize" in message


def test_jaffe_bad_converted_name_and_duplicate_conversion_are_problems(tmp_path):
    raw = fx.write_jaffe_converted(tmp_path / "raw", suffix=".tiff.png", size=(256, 256))
    folder = raw / "jaffe"
    (folder / "KA.AN1.1.tiff.png").rename(folder / "KA_AN1.tiff.png")
    (folder / "KA.DI1.2.tiff.jpg").write_bytes((folder / "KA.DI1.2.tiff.png").read_bytes())  # two copies of one
    with pytest.raises(DecodeError) as err:
        decode("jaffe", raw, tmp_path)
    assert "'KA_AN1.tiff.png' is not <poser>" in str(err.value)
    with pytest.raises(DecodeError, match="sample id 'KA.DI1.2' also comes from"):
        (folder / "KA_AN1.tiff.png").unlink()
        decode("jaffe", raw, tmp_path, out="dup")


def test_jaffe_folder_without_a_layout_names_the_raw_folder(tmp_path):
    raw = tmp_path / "raw"
    fx.write_image(raw / "wrap" / "photo.png", np.zeros((4, 4), np.uint8))
    fx.zip_folder(raw, raw / "jaffe.zip")
    with pytest.raises(MissingDatasetError) as err:
        decode("jaffe", raw, tmp_path)
    assert f"{raw} does not hold any accepted layout" in str(err.value)


@pytest.mark.parametrize("zipped", [False, True], ids=["folder", "zip"])
def test_ckplus48_keeps_contempt_by_default_under_wrappers_and_other_spellings(tmp_path, zipped):
    raw = tmp_path / "raw"
    fx.write_ckplus48(raw / "archive" / "CK+48")  # two wrapper folders
    base = raw / "archive" / "CK+48"
    (base / "anger").rename(base / "angry")
    (base / "sadness").rename(base / "sad")
    for path in sorted((base / "happy").glob("*.png")):  # a converted class folder
        path.rename(path.with_name(path.name + ".jpg"))
    if zipped:
        _zip_raw(raw)
    ds = decode("ckplus", raw, tmp_path)
    assert ds.n == 7 * 3 * 3 and ds.report["n_dropped"] == 0
    ckplus7 = ["angry", "contempt", "disgust", "fear", "happy", "sad", "surprise"]
    assert ds.samples["label"].value_counts().to_dict() == {c: 9 for c in ckplus7}
    assert set(ds.samples["subject_id"]) == {"S005", "S010", "S011"}
    assert ds.report["label_set"] == "basic7+contempt"


def test_ckplus48_other_size_needs_resize(tmp_path):
    raw = tmp_path / "raw"
    fx.write_image(raw / "anger" / "S005_001_00000011.png", np.zeros((64, 64), np.uint8))
    fx.write_image(raw / "happy" / "S005_002_00000011.png", np.zeros((64, 64), np.uint8))
    with pytest.raises(DecodeError, match=r"decode: \{ckplus: \{resize: true\}\}"):
        decode("ckplus", raw, tmp_path)
    assert decode("ckplus", raw, tmp_path, out="ok", resize=True).images.shape[1:] == (48, 48, 1)


@pytest.mark.parametrize("zipped", [False, True], ids=["folder", "zip"])
def test_kdef_flat_converted_copy(tmp_path, zipped):
    raw = fx.write_kdef(tmp_path / "raw" / "wrapper", flat=True, suffix=".JPG.png").parent
    if zipped:
        _zip_raw(raw)
    ds = decode("kdef", raw, tmp_path, size=(19, 14))
    assert ds.n == 2 * 2 * 7 * 2
    row = ds.samples.set_index("sample_id").loc["BM02AFHL"]
    assert (row["label"], row["subject_id"]) == ("fear", "M02")


@pytest.mark.parametrize("zipped", [False, True], ids=["folder", "zip"])
def test_ferg_converted_copy_under_a_wrapper(tmp_path, zipped):
    raw = tmp_path / "raw"
    fx.write_ferg(raw / "FERG_DB_256", suffix=".png.jpg")
    if zipped:
        _zip_raw(raw)
    ds = decode("ferg", raw, tmp_path, size=(16, 16))
    assert ds.n == 3 * 7 and set(ds.samples["subject_id"]) == {"aia", "bonnie", "ray"}
    assert "aia_joy_1" in set(ds.samples["sample_id"])


@pytest.mark.parametrize("zipped", [False, True], ids=["folder", "zip"])
def test_rafdb_class_folders_copy(tmp_path, zipped):
    raw = tmp_path / "raw"
    fx.write_rafdb_class_folders(raw / "DATASET")
    if zipped:
        _zip_raw(raw)
    ds = decode("rafdb", raw, tmp_path)
    assert ds.report["layout"] == "rafdb_class_folders"
    assert ds.samples.groupby("split").size().to_dict() == {"train": 7, "test": 7}
    assert ds.samples.set_index("sample_id").loc["train_00001", "label"] == "surprise"  # RAF code 1
    assert any("train_labels.csv" in f for f in ds.report["ignored_files"])


def test_rafdb_list_finds_converted_images(tmp_path):
    raw = fx.write_rafdb(tmp_path / "raw")
    for path in sorted((raw / "basic" / "Image" / "aligned").glob("*.jpg")):
        path.rename(path.with_suffix(".png"))
    ds = decode("rafdb", raw, tmp_path)
    assert ds.n == 14 and ds.samples["source_file"].str.endswith("_aligned.png").all()


@pytest.mark.parametrize("zipped", [False, True], ids=["folder", "zip"])
def test_affectnet_under_a_wrapper(tmp_path, zipped):
    raw = tmp_path / "raw"
    fx.write_affectnet(raw / "AffectNet")
    if zipped:
        _zip_raw(raw)
    ds = decode("affectnet", raw, tmp_path, size=(16, 16))
    # every label kept by default: contempt (code 7) is a sample, codes 8-10 are dropped with counts
    assert ds.samples.groupby("split").size().to_dict() == {"train": 8, "test": 8}
    assert (ds.samples["label"] == "contempt").sum() == 2


def test_decoders_are_found_by_the_registry():
    from ferrepro.data.decoders import available_decoders, decoder_module, register_decoder

    assert {"jaffe", "ckplus", "kdef", "ferg", "rafdb", "affectnet", "fer2013_csv"} <= set(available_decoders())
    assert "common" not in available_decoders()
    with pytest.raises(ValueError, match="unknown decoder 'nope'"):
        decoder_module("nope")
    with pytest.raises(ValueError, match="registered twice"):
        register_decoder("jaffe", detect=lambda root, layout: False)(lambda ctx: None)


def test_decode_cli_takes_label_list_and_resize(tmp_path, capsys):
    raw = fx.write_jaffe_converted(tmp_path / "raw", suffix=".png")
    reg = tmp_path / "registry.yaml"
    import shutil

    shutil.copy(fx.default_registry_path(), reg)
    rc = decode_cli(
        [
            "--dataset",
            "jaffe",
            "--raw-dir",
            str(raw),
            "--out",
            str(tmp_path / "out"),
            "--registry",
            str(reg),
            "--label-set",
            "happy,sad",
            "--resize",
            "--no-count-check",
        ]
    )
    assert rc == 0
    ds = load_decoded(tmp_path / "out")
    assert set(ds.samples["label"]) == {"happy", "sad"} and ds.report["n_dropped"] == 10
    with pytest.raises(SystemExit):
        decode_cli(["--dataset", "jaffe", "--out", str(tmp_path / "x"), "--label-set", "happy,joy"])
