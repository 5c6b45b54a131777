"""Acquisition rules: where raw data lives, what is checked before decoding, safe extraction.

None of the datasets can be downloaded by the pipeline: users obtain each under its licence and
put it under ``<raw_dir>/<dataset>/``, where ``raw_dir`` is set in ``config/config.yaml`` (default
``resources/raw``; ``--raw-dir`` names one dataset's folder elsewhere). Before decoding, the pipeline:

1. checks the folder exists and is not empty, else fails with ``MissingDatasetError`` whose
   message says where to get the data (URL / licence form), where to put it and which layouts
   are accepted;
2. verifies the sha256 of every file whose checksum the registry knows (archives included);
3. extracts archives dropped into the folder as downloaded (zip, tar, tar.gz) into a scratch
   folder, refusing any member with an absolute path, a ``..`` component, a link or a device
   node (zip-slip / tar-slip), before a single byte is written;
4. finds which accepted layout the folder holds (descending through a single wrapper folder, as
   many archives wrap their content in one).

Counts are verified after decoding (``ferrepro.data.decode``), against the registry's official
table. The only network access is the opt-in ``download_public_file`` for files that are public
(the FER+ label CSV), which verifies the sha256 before the file is moved into place.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import lzma
import re
import stat
import sys
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import yaml

from ferrepro.data.registry import DatasetSpec, LayoutSpec, Registry, config_file, load_registry

MAIN_CONFIG = Path("config/config.yaml")
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
_CHUNK = 1 << 20


class MissingDatasetError(FileNotFoundError):
    """The raw data is absent (or holds no accepted layout); the message says how to get it."""


class ChecksumMismatchError(ValueError):
    """A file's sha256 differs from the registry's: corrupt, truncated or a different release."""


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the extraction folder (zip-slip) or is a link/device."""


class RawDirSettingError(ValueError):
    """The main config does not say where raw data lives (``raw_dir``)."""


# -- where the data lives --------------------------------------------------------------------


def configured_raw_root(config: str | Path | None = None) -> Path:
    """The folder of every dataset's raw folder: ``raw_dir`` of the main config (``config/config.yaml`` of the
    working directory, else of the source checkout), the one setting that says where raw data lives."""
    path = Path(config) if config is not None else config_file(MAIN_CONFIG)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise RawDirSettingError(f"{path}: not valid YAML: {exc}") from None
    value = raw.get("raw_dir") if isinstance(raw, dict) else None
    if not isinstance(value, str) or not value:
        raise RawDirSettingError(
            f"{path}: key `raw_dir` (where raw datasets live, one folder per dataset) is missing or not a path; "
            "set it, e.g. `raw_dir: resources/raw`, or pass --raw-dir"
        )
    return Path(value)


def raw_dir(dataset: str, raw_root: str | Path | None = None) -> Path:
    """``<raw_root>/<dataset>``; raw_root defaults to the main config's ``raw_dir`` (``configured_raw_root``)."""
    return Path(raw_root if raw_root is not None else configured_raw_root()) / dataset


def missing_message(spec: DatasetSpec, where: Path, problem: str) -> str:
    """The message a user sees when data is missing: what, where to get it, where to put it."""
    layouts = "\n".join(f"    - {lay.name}: {lay.description}" for lay in spec.layouts) or "    (none)"
    archives = ", ".join(spec.archives) or "none known"
    return (
        f"{spec.title} ({spec.name}): {problem}\n"
        f"  where to get it: {spec.obtain_url}\n"
        f"  licence: {spec.licence}\n"
        f"  how: {spec.obtain_how}\n"
        f"  where to put it: {where}/  (or point --raw-dir at the folder that holds it)\n"
        f"  accepted layouts (inside that folder):\n{layouts}\n"
        f"  archives that may be dropped in as downloaded: {archives}"
    )


def locate_raw(spec: DatasetSpec, where: str | Path) -> Path:
    """The raw folder, after checking it exists and holds something; else MissingDatasetError."""
    where = Path(where)
    if where.is_file() and _is_archive(where):
        return where  # an archive given directly is treated like a folder holding it
    if not where.is_dir():
        raise MissingDatasetError(missing_message(spec, where, f"folder {where} does not exist"))
    if not any(p for p in where.iterdir() if not p.name.startswith(".")):
        raise MissingDatasetError(missing_message(spec, where, f"folder {where} is empty"))
    return where


# -- checksums --------------------------------------------------------------------------------


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def known_checksums(spec: DatasetSpec) -> dict[str, str]:
    return {**{name: d for name, d in spec.archives.items() if d}, **spec.checksums}


def verify_checksums(spec: DatasetSpec, where: str | Path) -> dict[str, str]:
    """Verify every present file whose sha256 the registry knows; returns {file: sha256}."""
    where = Path(where)
    folder = where.parent if where.is_file() else where
    verified = {}
    for name, expected in known_checksums(spec).items():
        path = folder / name
        if where.is_file() and path != where:
            continue
        if path.is_file():
            actual = sha256_file(path)
            if actual != expected:
                raise ChecksumMismatchError(
                    f"{path}: sha256 is {actual}, but the registry (config/datasets.yaml, dataset {spec.name!r}) "
                    f"expects {expected}. The file is corrupt, truncated or a different release: download it "
                    f"again from {spec.obtain_url}"
                )
            verified[name] = actual
    return verified


# -- safe extraction --------------------------------------------------------------------------


def _is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def _check_member_name(name: str, archive: Path, dest: Path) -> None:
    posix = name.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path; refusing to extract this archive")
    if ".." in PurePosixPath(posix).parts:
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} escapes the extraction folder with '..' (zip-slip); refusing to extract "
            "this archive"
        )
    target = (dest / posix).resolve()
    if target != dest.resolve() and dest.resolve() not in target.parents:
        raise UnsafeArchiveError(f"{archive}: member {name!r} would be written outside {dest}; refusing to extract")


def safe_extract(archive: str | Path, dest: str | Path) -> list[Path]:
    """Extract a zip or tar archive into dest after checking *every* member first.

    Refused (nothing is written): absolute paths, ``..`` components, members resolving outside
    ``dest``, symbolic/hard links and device/fifo nodes (no dataset needs them, and links are the
    classic way to write outside the folder). Returns the extracted regular files.
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        return _extract_zip(archive, dest)
    if tarfile.is_tarfile(archive):
        try:
            return _extract_tar(archive, dest)
        except (EOFError, tarfile.ReadError, zlib.error, gzip.BadGzipFile, lzma.LZMAError) as err:
            # A truncated download: the header reads, the rest does not.
            raise UnsafeArchiveError(
                f"{archive}: the archive is truncated or corrupt ({type(err).__name__}: {err}); "
                "nothing was decoded from it. Download it again (compare its sha256 with "
                "config/datasets.yaml) and put it back in the same folder."
            ) from None
    raise UnsafeArchiveError(f"{archive}: not a zip or tar archive (or it is corrupt)")


def _extract_zip(archive: Path, dest: Path) -> list[Path]:
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        for info in members:
            _check_member_name(info.filename, archive, dest)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a symbolic link; refusing to extract")
        bad = zf.testzip()
        if bad is not None:
            raise UnsafeArchiveError(
                f"{archive}: member {bad!r} fails its CRC check (corrupt download); download it again"
            )
        zf.extractall(dest)
    return sorted(dest / m.filename for m in members if not m.is_dir())


def _extract_tar(archive: Path, dest: Path) -> list[Path]:
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        for m in members:
            _check_member_name(m.name, archive, dest)
            if m.issym() or m.islnk():
                raise UnsafeArchiveError(f"{archive}: member {m.name!r} is a link; refusing to extract")
            if not (m.isfile() or m.isdir()):
                raise UnsafeArchiveError(f"{archive}: member {m.name!r} is a device or fifo; refusing to extract")
        kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tf.extractall(dest, members=members, **kwargs)  # every member was checked above
    return sorted(dest / m.name for m in members if m.isfile())


@contextlib.contextmanager
def prepared_root(spec: DatasetSpec, where: Path, scratch_parent: Path | None = None) -> Iterator[Path]:
    """Yield a folder holding the raw data: ``where`` itself, or a scratch folder with the
    archives found in it extracted (removed afterwards). Archives are only extracted when the
    folder holds no accepted layout already."""
    where = Path(where)
    archives = [where] if where.is_file() else sorted(p for p in where.iterdir() if _is_archive(p))
    if where.is_dir() and (find_layout(spec, where) is not None or not archives):
        yield where
        return
    if scratch_parent is not None:
        scratch_parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".extract-{spec.name}-", dir=scratch_parent) as tmp:
        for archive in archives:
            safe_extract(archive, Path(tmp))
        yield Path(tmp)


# -- layout detection -------------------------------------------------------------------------


def _matches(layout: LayoutSpec, root: Path) -> bool:
    from ferrepro.data.decoders import decoder_module

    for marker in layout.markers:
        path = root / marker
        if not (path.is_dir() if marker.endswith("/") else path.exists()):
            return False
    return bool(decoder_module(layout.decoder).detect(root, layout))


def find_layout(
    spec: DatasetSpec, root: Path, forced: str | None = None, max_depth: int = 4
) -> tuple[LayoutSpec, Path] | None:
    """(layout, folder) of the first accepted layout in root, descending through single wrapper folders."""
    candidates = [spec.layout(forced)] if forced else list(spec.layouts)
    folder = root
    for _ in range(max_depth + 1):
        for layout in candidates:
            if _matches(layout, folder):
                return layout, folder
        subdirs = [d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".") and d.name != "__MACOSX"]
        if len(subdirs) != 1:
            return None
        folder = subdirs[0]
    return None


def detect_layout(
    spec: DatasetSpec, root: Path, forced: str | None = None, shown_as: Path | None = None
) -> tuple[LayoutSpec, Path]:
    found = find_layout(spec, root, forced)
    if found is None:
        listing = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())[:15]
        which = f"layout {forced!r}" if forced else "any accepted layout"
        raise MissingDatasetError(
            missing_message(
                spec, shown_as or root, f"{shown_as or root} does not hold {which} (it contains: {listing})"
            )
        )
    return found


def check_dataset(dataset: str, where: str | Path | None = None, registry: Registry | None = None) -> dict:
    """Locate + verify checksums + detect the layout, without decoding (cheap pre-flight check)."""
    registry = registry or load_registry()
    spec = registry[dataset]
    where = Path(where) if where is not None else raw_dir(dataset)
    if not spec.expression_labels:
        from ferrepro.data.decoders.common import NoExpressionLabelsError

        raise NoExpressionLabelsError(f"{dataset}: {spec.no_labels_reason}")
    located = locate_raw(spec, where)
    verified = verify_checksums(spec, located)
    with prepared_root(spec, located) as root:
        layout, folder = detect_layout(spec, root, shown_as=where)
        rel = folder.relative_to(root).as_posix()
    return {
        "dataset": dataset,
        "raw_dir": str(where),
        "layout": layout.name,
        "layout_folder": rel,
        "verified_sha256": verified,
    }


# -- opt-in download of public files ----------------------------------------------------------


def download_public_file(
    dataset: str,
    filename: str,
    dest_dir: str | Path | None = None,
    registry: Registry | None = None,
    url: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download a public file listed under ``downloads`` in the registry and verify its sha256.

    The file is written to ``<dest>.part`` and only moved into place once the checksum matches,
    so an interrupted or tampered download never looks like data. ``url`` overrides the
    registry's (tests use a file:// URL; a mirror works too, the checksum still applies).
    """
    import urllib.request

    registry = registry or load_registry()
    spec = registry[dataset]
    if filename not in spec.downloads:
        raise ValueError(
            f"{dataset}: {filename!r} is not a public download in the registry; downloadable: "
            f"{sorted(spec.downloads)}. "
            f"The rest must be obtained by hand: {spec.obtain_url}"
        )
    entry = spec.downloads[filename]
    dest_dir = Path(dest_dir) if dest_dir is not None else raw_dir(dataset)
    dest = dest_dir / filename
    if dest.is_file() and sha256_file(dest) == entry["sha256"]:
        return dest
    dest_dir.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.sha256()
    with urllib.request.urlopen(url or entry["url"], timeout=timeout) as response, open(part, "wb") as fh:
        for block in iter(lambda: response.read(_CHUNK), b""):
            digest.update(block)
            fh.write(block)
    if digest.hexdigest() != entry["sha256"]:
        part.unlink(missing_ok=True)
        raise ChecksumMismatchError(
            f"download of {url or entry['url']} has sha256 {digest.hexdigest()}, expected {entry['sha256']}; "
            "nothing was written. The upstream file changed or the download was corrupted."
        )
    part.replace(dest)
    return dest


def cli(argv: list[str]) -> int:
    """``python -m ferrepro.data.acquire check|download ...``"""
    p = argparse.ArgumentParser(
        prog="ferrepro.data.acquire", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="action", required=True)
    check = sub.add_parser("check", help="locate a dataset, verify checksums and detect its layout")
    download = sub.add_parser("download", help="fetch a public file (e.g. the FER+ label CSV) and verify its sha256")
    for sp in (check, download):
        sp.add_argument("--dataset", required=True)
        sp.add_argument("--raw-dir", help="raw folder (default <raw_dir of config/config.yaml>/<dataset>)")
        sp.add_argument("--registry", help="dataset registry (default config/datasets.yaml)")
    download.add_argument("--file", required=True, help="file name listed under downloads, e.g. fer2013new.csv")
    download.add_argument("--url", help="override the registry URL (a mirror); the checksum still applies")
    a = p.parse_args(argv)
    try:
        registry = load_registry(a.registry)
        if a.action == "check":
            print(check_dataset(a.dataset, a.raw_dir, registry))
        else:
            print(download_public_file(a.dataset, a.file, a.raw_dir, registry, url=a.url))
    except (MissingDatasetError, ChecksumMismatchError, UnsafeArchiveError) as err:
        # Expected outcomes (no data yet, a bad download): the message says what to do; no traceback.
        print(f"ferrepro {a.action} {a.dataset}: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
