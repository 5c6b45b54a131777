"""Acquisition: missing-data messages, checksums, safe archive extraction, opt-in download."""

from __future__ import annotations

import hashlib
import tarfile
import zipfile

import native_fixtures as fx
import pytest

from ferrepro.data.acquire import (
    ChecksumMismatchError,
    MissingDatasetError,
    UnsafeArchiveError,
    check_dataset,
    cli,
    download_public_file,
    locate_raw,
    raw_dir,
    safe_extract,
    sha256_file,
    verify_checksums,
)
from ferrepro.data.decode import decode_dataset
from ferrepro.data.registry import load_registry
from ferrepro.data.standard import load_decoded

REGISTRY = load_registry()


def test_default_raw_dir_is_resources_raw_dataset():
    assert raw_dir("jaffe").as_posix() == "resources/raw/jaffe"  # raw_dir of config/config.yaml
    assert raw_dir("jaffe", raw_root="/data").as_posix() == "/data/jaffe"


@pytest.mark.parametrize("dataset", ["fer2013", "ferplus", "ckplus", "jaffe", "kdef", "affectnet", "rafdb", "ferg"])
def test_missing_dataset_message_says_where_to_get_put_and_what(tmp_path, dataset):
    spec = REGISTRY[dataset]
    with pytest.raises(MissingDatasetError) as err:
        locate_raw(spec, tmp_path / dataset)
    text = str(err.value)
    assert f"folder {tmp_path / dataset} does not exist" in text
    assert spec.obtain_url in text and spec.licence in text
    assert f"where to put it: {tmp_path / dataset}/" in text
    for layout in spec.layouts:
        assert layout.description in text


def test_empty_folder_is_missing_data(tmp_path):
    (tmp_path / "kdef").mkdir()
    (tmp_path / "kdef" / ".DS_Store").write_text("")
    with pytest.raises(MissingDatasetError, match="is empty"):
        locate_raw(REGISTRY["kdef"], tmp_path / "kdef")


def test_checksum_of_known_file_is_verified(tmp_path):
    spec = REGISTRY["ferplus"]
    (tmp_path / "fer2013new.csv").write_text("Usage,Image name\n")
    with pytest.raises(ChecksumMismatchError, match="fer2013new.csv: sha256 is .* expects 9206e20d"):
        verify_checksums(spec, tmp_path)
    assert verify_checksums(REGISTRY["kdef"], tmp_path) == {}  # nothing known, nothing to verify


def test_archive_checksum_checked_before_extraction(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "fer2013_kaggle_images.tar").write_bytes(b"not the real tar")
    with pytest.raises(ChecksumMismatchError, match="fer2013_kaggle_images.tar"):
        decode_dataset("fer2013", raw, tmp_path / "out", REGISTRY)


def test_sha256_file_streams(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"abc" * 1_000_000)
    assert sha256_file(path) == hashlib.sha256(b"abc" * 1_000_000).hexdigest()


@pytest.mark.parametrize(
    "member, match",
    [
        ("../evil.txt", "zip-slip"),
        ("a/../../evil.txt", "zip-slip"),
        ("/etc/evil.txt", "absolute path"),
        ("C:/evil.txt", "absolute path"),
    ],
)
def test_zip_slip_and_absolute_members_are_refused(tmp_path, member, match):
    archive = fx.zip_with_member(tmp_path / "bad.zip", member)
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchiveError, match=match):
        safe_extract(archive, dest)
    assert not any(dest.rglob("*"))  # nothing written, not even the harmless member
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize(
    "member, link, match",
    [
        ("../evil.txt", None, "zip-slip"),
        ("/tmp/evil.txt", None, "absolute path"),
        ("ok/link", "/etc/passwd", "is a link"),
    ],
)
def test_tar_slip_absolute_and_link_members_are_refused(tmp_path, member, link, match):
    archive = fx.tar_with_member(tmp_path / "bad.tar", member, symlink_to=link)
    with pytest.raises(UnsafeArchiveError, match=match):
        safe_extract(archive, tmp_path / "dest")
    assert not (tmp_path / "evil.txt").exists()


def test_safe_extract_extracts_good_archives(tmp_path):
    with zipfile.ZipFile(tmp_path / "ok.zip", "w") as zf:
        zf.writestr("top/a.txt", "A")
    with tarfile.open(tmp_path / "ok.tar.gz", "w:gz") as tf:
        (tmp_path / "b.txt").write_text("B")
        tf.add(tmp_path / "b.txt", "top/b.txt")
    assert [p.name for p in safe_extract(tmp_path / "ok.zip", tmp_path / "d1")] == ["a.txt"]
    assert (tmp_path / "d1" / "top" / "a.txt").read_text() == "A"
    assert [p.name for p in safe_extract(tmp_path / "ok.tar.gz", tmp_path / "d2")] == ["b.txt"]
    assert (tmp_path / "d2" / "top" / "b.txt").read_text() == "B"


def test_corrupt_zip_is_reported(tmp_path):
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(UnsafeArchiveError, match="not a zip or tar archive"):
        safe_extract(tmp_path / "bad.zip", tmp_path / "dest")


def test_tar_archive_dropped_into_raw_folder_is_decoded(tmp_path):
    src = fx.write_kaggle_folders(tmp_path / "src")
    raw = tmp_path / "raw"
    raw.mkdir()
    with tarfile.open(raw / "images.tar", "w") as tf:
        tf.add(src / "train", "train")
        tf.add(src / "test", "test")
    ds = load_decoded(decode_dataset("fer2013", raw, tmp_path / "out", REGISTRY, check_counts=False))
    assert ds.n == 21 and ds.report["layout"] == "kaggle_folders"
    assert not list(tmp_path.glob(".extract-*"))  # scratch extraction removed


def test_check_dataset_reports_layout_without_decoding(tmp_path):
    raw = fx.write_ckplus48(tmp_path / "ckplus" / "CK+48")
    result = check_dataset("ckplus", tmp_path / "ckplus", REGISTRY)
    assert result["layout"] == "ckplus48_folders" and result["layout_folder"] == "CK+48"
    assert raw.exists()


def test_download_verifies_sha256_with_file_url(tmp_path):
    payload = b"Usage,Image name,neutral\n"
    good = tmp_path / "upstream.csv"
    good.write_bytes(payload)
    registry = fx.registry_with(
        {
            "ferplus": {
                "downloads": {"fer2013new.csv": {"url": good.as_uri(), "sha256": hashlib.sha256(payload).hexdigest()}}
            }
        }
    )
    dest = download_public_file("ferplus", "fer2013new.csv", tmp_path / "raw", registry)
    assert dest.read_bytes() == payload

    tampered = tmp_path / "tampered.csv"
    tampered.write_bytes(payload + b"x")
    with pytest.raises(ChecksumMismatchError, match="nothing was written"):
        download_public_file("ferplus", "fer2013new.csv", tmp_path / "raw2", registry, url=tampered.as_uri())
    assert not (tmp_path / "raw2" / "fer2013new.csv").exists()
    assert not list((tmp_path / "raw2").glob("*.part"))


def test_download_refuses_non_public_files(tmp_path):
    with pytest.raises(ValueError, match="not a public download.*obtained by hand"):
        download_public_file("affectnet", "training.csv", tmp_path, REGISTRY)


def test_acquire_cli_check(tmp_path, capsys):
    fx.write_jaffe(tmp_path / "jaffe")
    assert cli(["check", "--dataset", "jaffe", "--raw-dir", str(tmp_path / "jaffe")]) == 0
    assert "jaffe_files" in capsys.readouterr().out


# -- issue 14: decode options, raw manifest, data status -------------------------------------------


def test_decode_options_fall_back_to_defaults_and_become_arguments():
    from ferrepro.data.options import DecodeOptionError, decode_arguments, decode_options

    config = {
        "decode": {
            "jaffe": {"size": [128, 128], "resize": True, "quarantine": True},
            "gilanie": {"label_set": ["happy", "sad"]},
        }
    }
    assert (
        decode_arguments(decode_options(config, "jaffe"))
        == "--label-set basic7+contempt --size 128 128 --resize --quarantine"
    )
    assert decode_arguments(decode_options(config, "gilanie")) == "--label-set happy,sad"
    assert decode_arguments(decode_options({}, "ckplus")) == "--label-set basic7+contempt"
    assert "--no-resize" in decode_arguments(decode_options({"decode": {"kdef": {"resize": False}}}, "kdef"))
    with pytest.raises(DecodeOptionError, match=r"decode.jaffe: unknown keys \['resise'\]"):
        decode_options({"decode": {"jaffe": {"resise": True}}}, "jaffe")


def test_raw_manifest_changes_when_raw_data_is_replaced(tmp_path):
    import json

    from ferrepro.data.options import write_raw_manifest

    raw, manifest = fx.write_jaffe(tmp_path / "raw", as_zip=True), tmp_path / "manifests" / "jaffe.json"
    assert write_raw_manifest(raw, manifest)
    content = json.loads(manifest.read_text())
    assert content["present"] and set(content["archives"]) == {"jaffe.zip"}
    assert len(content["archives"]["jaffe.zip"]) == 64  # its sha256
    assert not write_raw_manifest(raw, manifest)  # unchanged raw data: not rewritten, so no re-decode
    fx.write_jaffe(tmp_path / "raw", as_zip=True, seed=1)  # same names and sizes, other bytes: a new download
    assert write_raw_manifest(raw, manifest)
    assert json.loads(manifest.read_text())["archives"] != content["archives"]
    (raw / "extra.tiff").write_bytes(b"x")
    assert write_raw_manifest(raw, manifest)
    assert write_raw_manifest(tmp_path / "absent", tmp_path / "m.json")
    assert json.loads((tmp_path / "m.json").read_text())["present"] is False


def test_data_status_says_missing_present_decoded_and_next_step(tmp_path, capsys):
    from ferrepro.data.decode import decode_dataset
    from ferrepro.data.status import cli as status_cli

    raw_root, decoded = tmp_path / "raw", tmp_path / "decoded"
    fx.write_jaffe(raw_root / "jaffe")
    fx.write_ckplus48(raw_root / "ckplus")
    decode_dataset("ckplus", raw_root / "ckplus", decoded / "ckplus", check_counts=False)
    assert status_cli(["status", "--raw-root", str(raw_root), "--decoded-dir", str(decoded), "--json"]) == 0
    import json

    rows = {r["dataset"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["ckplus"]["state"] == "decoded" and rows["ckplus"]["counts"]["per_label"]["contempt"] == 9
    assert rows["jaffe"]["state"] == "present" and "snakemake --cores all" in rows["jaffe"]["next"]
    assert rows["kdef"]["state"] == "missing" and "https://kdef.se/" in rows["kdef"]["next"]
    assert rows["utkface"]["state"] == "not usable"


@pytest.mark.integration
def test_replacing_a_raw_archive_schedules_a_re_decode_in_a_dry_run(tmp_path, venv_env):
    """Issue 14: the decode rule depends on the raw manifest, so `snakemake -n` shows a re-decode after a new
    download replaces the archive (same name and size, other bytes), and nothing while the raw data is unchanged."""
    import os
    import re
    import time

    from conftest import copy_workflow, run_checked

    work = tmp_path / "ws"
    work.mkdir()
    copy_workflow(work)
    raw = work / "resources" / "raw" / "jaffe"
    fx.write_jaffe(raw, as_zip=True)
    target = "results/decoded/jaffe/images.npy"
    run_checked(["snakemake", "-n", target], work, venv_env, timeout=300)  # writes the manifest at parse time
    manifest = work / "results" / "raw_manifests" / "jaffe.json"
    assert manifest.exists()
    decoded = work / "results" / "decoded" / "jaffe"
    decoded.mkdir(parents=True)
    later = manifest.stat().st_mtime + 1  # newer than the manifest, older than a rewritten one
    for name in ("images.npy", "samples.csv", "decode_report.json"):  # stands in for a finished decode
        (decoded / name).write_text("")
        os.utime(decoded / name, (later, later))

    def decode_jobs() -> str:
        proc = run_checked(["snakemake", "-n", target], work, venv_env, timeout=300)
        return proc.stdout + proc.stderr

    assert "Nothing to be done" in decode_jobs()
    while time.time() < later + 1:
        time.sleep(0.1)
    fx.write_jaffe(raw, as_zip=True, seed=1)  # the same archive name and size, new bytes
    text = decode_jobs()
    assert re.search(r"decode_dataset\s+1", text), text[-3000:]
    assert "results/raw_manifests/jaffe.json" in text
