"""Decode options per dataset (``decode:`` in ``config/config.yaml``) and the raw-data manifest.

Both are read by the Snakefile at parse time, so this module imports nothing beyond the standard
library: it must run wherever Snakemake runs (also with ``--use-conda``).

``decode: {<dataset>: {size, resize, label_set, quarantine}}``: every key is optional and falls back
to the registry (``config/datasets.yaml``: size, resize) or to the defaults below. The decode rule
passes them to ``ferrepro decode`` as arguments (a params change re-decodes that dataset only).

The *raw manifest* of a dataset lists the files of its raw folder with their sizes, plus the sha256
of every archive, so that new or replaced raw data changes the manifest file and Snakemake re-decodes.
The file is rewritten only when its content changes (as the run spec files are), so an unchanged raw
folder never re-decodes. Archive checksums are cached by (size, mtime) in the previous manifest:
hashing a multi-GB archive at every parse would be too slow.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DECODE_LABEL_SET = "basic7+contempt"  # = ferrepro.labels.DECODE_LABEL_SET (not imported: numpy-free here)
DECODE_DEFAULTS: dict[str, Any] = {"size": None, "resize": None, "label_set": DECODE_LABEL_SET, "quarantine": False}
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
MANIFEST_VERSION = 1


class DecodeOptionError(ValueError):
    """A `decode:` entry in config/config.yaml is invalid; the message names the key."""


def decode_options(config: Mapping[str, Any], dataset: str) -> dict[str, Any]:
    """The decode options of one dataset: its `decode:` entry over the defaults."""
    entry = dict((config.get("decode") or {}).get(dataset) or {})
    unknown = sorted(set(entry) - set(DECODE_DEFAULTS))
    if unknown:
        raise DecodeOptionError(
            f"config/config.yaml decode.{dataset}: unknown keys {unknown}; allowed: {sorted(DECODE_DEFAULTS)}"
        )
    options = {**DECODE_DEFAULTS, **{k: v for k, v in entry.items() if v is not None}}
    if options["size"] is not None and (len(options["size"]) != 2 or min(options["size"]) <= 0):
        raise DecodeOptionError(
            f"config/config.yaml decode.{dataset}.size: expected [height, width], got {options['size']!r}"
        )
    return options


def decode_arguments(options: Mapping[str, Any]) -> str:
    """`ferrepro decode` arguments for the options (shell-quoted)."""
    label_set = options["label_set"]
    args = ["--label-set", ",".join(label_set) if isinstance(label_set, (list, tuple)) else str(label_set)]
    if options.get("size"):
        args += ["--size", *(str(int(v)) for v in options["size"])]
    if options.get("resize") is not None:
        args.append("--resize" if options["resize"] else "--no-resize")
    if options.get("quarantine"):
        args.append("--quarantine")
    return " ".join(shlex.quote(a) for a in args)


# -- raw manifest -----------------------------------------------------------------------------


def _is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def raw_manifest(raw: str | Path, previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """{present, files: {relative path: size}, archives: {relative path: sha256}} of a raw folder.

    Modification times are left out on purpose: a copy of the same data (another clone, a DVC pull)
    must give the same manifest. ``previous`` supplies cached archive checksums.
    """
    raw = Path(raw)
    if not raw.exists():
        return {"version": MANIFEST_VERSION, "present": False, "files": {}, "archives": {}}
    cache = (previous or {}).get("archive_cache") or {}
    files, archives, archive_cache = {}, {}, {}
    paths = [raw] if raw.is_file() else [Path(d) / f for d, _, names in sorted(os.walk(raw)) for f in sorted(names)]
    for path in paths:
        rel = path.name if raw.is_file() else path.relative_to(raw).as_posix()
        stat = path.stat()
        files[rel] = stat.st_size
        if _is_archive(path.name):
            key = f"{stat.st_size}:{stat.st_mtime_ns}"
            cached = cache.get(rel) or {}
            digest = cached["sha256"] if cached.get("key") == key else _sha256(path)
            archives[rel] = digest
            archive_cache[rel] = {"key": key, "sha256": digest}
    return {
        "version": MANIFEST_VERSION,
        "present": bool(files),
        "files": files,
        "archives": archives,
        "archive_cache": archive_cache,
    }


def manifest_path(dataset: str) -> str:
    return f"results/raw_manifests/{dataset}.json"


def write_raw_manifest(raw: str | Path, path: str | Path) -> bool:
    """Write the manifest of ``raw`` to ``path`` only when its content changed (True if written); the
    archive checksum cache lives beside it (``<path>.cache``), so refreshing it never re-decodes."""
    path = Path(path)
    cache_path = path.with_name(path.name + ".cache")
    previous = json.loads(cache_path.read_text()) if cache_path.exists() else None
    manifest = raw_manifest(raw, previous)
    cache = {"archive_cache": manifest.pop("archive_cache", {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    if previous != cache and (previous is not None or cache["archive_cache"]):
        cache_path.write_text(json.dumps(cache, sort_keys=True) + "\n")
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    if path.exists() and path.read_text() == text:
        return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return True
