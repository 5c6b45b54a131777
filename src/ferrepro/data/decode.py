"""``ferrepro decode``: turn a real dataset from its native layout into the standard format.

``decode_dataset`` runs the acquisition checks (``ferrepro.data.acquire``: the data is there,
known checksums match, archives are extracted safely), finds which accepted layout the raw folder
holds, runs that layout's decoder (``ferrepro.data.decoders``), checks the decoded counts against
the registry's official table, and writes ``images.npy`` / ``samples.csv`` /
``decode_report.json`` with ``write_decoded`` (plus ``quarantine.csv`` when anything was
quarantined).

Bad input (malformed CSV row, unknown label, corrupt image, unexpected name, count mismatch) stops
the decode with a message naming the file and line, unless ``quarantine=True``: then each bad
row/image is left out, counted and listed, and a count mismatch is recorded instead of raised.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ferrepro.data import acquire
from ferrepro.data.decoders import decoder_module
from ferrepro.data.decoders.common import (
    CountMismatchError,
    DecodeContext,
    Decoded,
    DecodeError,
    NoExpressionLabelsError,
    Problem,
    compact,
)
from ferrepro.data.registry import LayoutSpec, Registry, RegistryError, load_registry, official_count_table
from ferrepro.data.standard import write_decoded
from ferrepro.labels import DECODE_LABEL_SET
from ferrepro.labels import label_set as resolve_label_set

QUARANTINE_FILE = "quarantine.csv"
SCRATCH_DIR = ".decode-scratch"
MAX_REPORTED_QUARANTINE = 1000  # the JSON report lists this many; quarantine.csv lists all

__all__ = ["decode_dataset", "cli", "DecodeError", "CountMismatchError", "NoExpressionLabelsError", "compare_counts"]


def decode_dataset(
    name: str,
    raw_dir: str | Path,
    out_dir: str | Path,
    registry: Registry | str | Path | None = None,
    quarantine: bool = False,
    label_set: str | list[str] = DECODE_LABEL_SET,
    *,
    layout: str | None = None,
    size: tuple[int, int] | None = None,
    resize: bool | None = None,
    check_counts: bool = True,
    workers: int | None = None,
    raw_root: str | Path | None = None,
) -> Path:
    """Decode dataset ``name`` from ``raw_dir`` into ``out_dir``; returns ``out_dir``.

    ``label_set`` keeps every canonical label by default (runs select their classes later);
    ``layout`` forces one of the dataset's layouts (default: detected); ``size`` (H, W) overrides
    the registry's decode size; ``resize`` accepts (True) or refuses (False) images of another size
    (default: the registry's, or True with ``size``); ``check_counts=False`` skips the
    official-count check (for a deliberate subset), and says so in the report. ``raw_root`` is the folder of
    every dataset's raw folder (``raw_dir`` of config/config.yaml), where a decoder may find a companion
    dataset (FER+ takes its pixels from fer2013's).
    """
    started = time.perf_counter()
    registry = registry if isinstance(registry, Registry) else load_registry(registry)
    spec = registry[name]
    if not spec.expression_labels:
        raise NoExpressionLabelsError(f"{name}: {spec.no_labels_reason}")
    classes = resolve_label_set(label_set)
    out_dir = Path(out_dir)
    located = acquire.locate_raw(spec, raw_dir)
    verified = acquire.verify_checksums(spec, located)
    scratch = out_dir / SCRATCH_DIR
    try:
        with acquire.prepared_root(spec, located, scratch_parent=out_dir.parent) as root:
            lay, folder = acquire.detect_layout(spec, root, forced=layout, shown_as=Path(raw_dir))
            ctx = DecodeContext(
                spec=spec,
                layout=lay,
                root=folder,
                classes=classes,
                label_set=label_set,
                quarantine=quarantine,
                size_override=tuple(size) if size else None,
                resize_override=resize,
                scratch_dir=scratch,
                raw_dir=Path(raw_dir),
                raw_root=Path(raw_root) if raw_root is not None else None,
            )
            if workers:
                ctx.workers = workers
            decoded = _unique_ids(decoder_module(lay.decoder).decode(ctx), ctx)
            ctx.check("decoding")
            count_check = _count_check(decoded, lay, classes, ctx, check_counts)
            report = _report(name, raw_dir, lay, folder, root, label_set, ctx, decoded, count_check, verified, started)
            write_decoded(out_dir, decoded.images, decoded.samples, report)
            _write_quarantine(out_dir / QUARANTINE_FILE, ctx.problems, count_check)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return out_dir


def _unique_ids(decoded: Decoded, ctx: DecodeContext) -> Decoded:
    """A sample id seen twice is a problem (two files claiming one sample); quarantine keeps the first."""
    ids = decoded.samples["sample_id"]
    dup = ids.duplicated(keep="first").to_numpy()
    if not dup.any():
        return decoded
    first_source = dict(zip(ids[~dup], decoded.samples["source_file"][~dup]))
    for row in decoded.samples[dup].itertuples(index=False):
        ctx.problem(row.source_file, None, f"sample id {row.sample_id!r} also comes from {first_source[row.sample_id]}")
    ctx.check("checking sample ids")
    decoded.images = compact(decoded.images, ~dup)
    decoded.samples = decoded.samples[~dup].reset_index(drop=True)
    return decoded


# -- official counts ----------------------------------------------------------------------------


def compare_counts(units: pd.DataFrame, official: Mapping[str, Any], classes: tuple[str, ...]) -> list[dict]:
    """Differences between counted units (columns split, label) and an official table.

    Official entries are ``{split|all: {label: n}}`` (labels outside ``classes`` are skipped: they
    were dropped on purpose) or ``{split|all: n}`` (a total).
    """
    diffs = []
    for key, expected in official.items():
        part = units if key == "all" else units[units["split"] == key]
        if isinstance(expected, Mapping):
            found = part["label"].value_counts()
            for label in sorted(set(expected) | set(found.index)):
                if label not in classes:
                    continue
                n_expected, n_found = int(expected.get(label, 0)), int(found.get(label, 0))
                if n_expected != n_found:
                    diffs.append({"split": key, "label": label, "expected": n_expected, "found": n_found})
        elif int(expected) != len(part):
            diffs.append({"split": key, "label": "(total)", "expected": int(expected), "found": int(len(part))})
    return diffs


def _count_check(decoded: Decoded, lay: LayoutSpec, classes, ctx: DecodeContext, enabled: bool) -> dict:
    official = official_count_table(lay)
    if not enabled:
        return {"status": "skipped", "why": "count check disabled (--no-count-check)"}
    if not official:
        return {"status": "no official counts known"}
    units = decoded.units if decoded.units is not None else decoded.samples
    diffs = compare_counts(units, official, classes)
    result = {
        "status": "ok" if not diffs else "mismatch",
        "unit": lay.count_unit,
        "official": official,
        "differences": diffs,
    }
    if diffs and not ctx.quarantine:
        table = "\n".join(
            f"  {d['split']:<6} {d['label']:<9} expected {d['expected']:>7}  found {d['found']:>7}" for d in diffs[:30]
        )
        raise CountMismatchError(
            f"{ctx.spec.name} ({lay.name} in {ctx.raw_dir}): decoded {lay.count_unit} counts differ from the official "
            f"counts in the registry:\n{table}\n"
            "The copy is incomplete, has extra files, or is a different release. Re-download it, or rerun with "
            "--quarantine to record the mismatch and continue, or --no-count-check for a deliberate subset."
        )
    return result


# -- report -----------------------------------------------------------------------------------


def _report(name, raw_dir, lay, folder, root, label_set, ctx, decoded, count_check, verified, started) -> dict:
    report = {
        "dataset": name,
        "layout": lay.name,
        "raw_dir": str(raw_dir),
        "layout_folder": folder.relative_to(root).as_posix() or ".",
        "label_set": label_set,
        "classes": list(ctx.classes),
        "decode_size": list(ctx.size),
        "resized": bool(ctx.resize),
        "verified_sha256": verified,
        "count_check": count_check,
        **ctx.report(),
        **decoded.report,
    }
    report["quarantined"] = report["quarantined"][:MAX_REPORTED_QUARANTINE]
    report["decode_seconds"] = round(time.perf_counter() - started, 3)
    return report


def _write_quarantine(path: Path, problems: list[Problem], count_check: dict) -> None:
    rows = [p.as_dict() for p in problems]
    if count_check.get("status") == "mismatch":
        for d in count_check["differences"]:
            rows.append(
                {
                    "file": "(official counts)",
                    "line": None,
                    "reason": f"{d['split']}/{d['label']}: expected {d['expected']}, found {d['found']}",
                }
            )
    if not rows:
        path.unlink(missing_ok=True)
        return
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["file", "line", "reason"])
        writer.writeheader()
        writer.writerows(rows)


# -- CLI --------------------------------------------------------------------------------------


def _label_set_arg(text: str) -> str | list[str]:
    """A named label set, or comma-separated labels (``angry,contempt,...``), checked at parse time."""
    value: str | list[str] = [t.strip() for t in text.split(",")] if "," in text else text
    try:
        resolve_label_set(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="ferrepro decode", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dataset", required=True, help="dataset name in the registry (fer2013, ferplus, ckplus, ...)")
    p.add_argument("--raw-dir", help="the dataset's raw folder (or archive); default <raw root>/<dataset>")
    p.add_argument(
        "--raw-root",
        help="the folder of every dataset's raw folder (default, unless --raw-dir is given: raw_dir of "
        "config/config.yaml); FER+ also looks for fer2013's there",
    )
    p.add_argument("--out", required=True, help="output folder (standard decoded format)")
    p.add_argument("--registry", default=None, help="dataset registry (default config/datasets.yaml)")
    p.add_argument(
        "--quarantine", action="store_true", help="leave bad rows/images out and list them instead of failing"
    )
    p.add_argument(
        "--label-set",
        default=DECODE_LABEL_SET,
        type=_label_set_arg,
        help="labels to keep: a named set or comma-separated labels (default: every label)",
    )
    p.add_argument("--layout", default=None, help="force one of the dataset's layouts (default: detected)")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="decode size, overriding the registry")
    p.add_argument(
        "--resize",
        dest="resize",
        action="store_true",
        default=None,
        help="resize images of another size to the decode size (config: decode.<dataset>.resize)",
    )
    p.add_argument("--no-resize", dest="resize", action="store_false", help="refuse images of another size")
    p.add_argument("--no-count-check", action="store_true", help="skip the official-count check (deliberate subsets)")
    p.add_argument("--workers", type=int, default=None, help="image-decoding threads (default min(4, cores))")
    a = p.parse_args(argv)
    try:
        registry = load_registry(a.registry)
        raw_root = a.raw_root or (None if a.raw_dir else acquire.configured_raw_root())
        raw = a.raw_dir or acquire.raw_dir(a.dataset, raw_root)
        out = decode_dataset(
            a.dataset,
            raw,
            a.out,
            registry,
            quarantine=a.quarantine,
            label_set=a.label_set,
            layout=a.layout,
            size=tuple(a.size) if a.size else None,
            resize=a.resize,
            check_counts=not a.no_count_check,
            workers=a.workers,
            raw_root=raw_root,
        )
    except (
        DecodeError,
        RegistryError,
        acquire.MissingDatasetError,
        acquire.ChecksumMismatchError,
        acquire.UnsafeArchiveError,
        acquire.RawDirSettingError,
    ) as exc:
        # expected, user-fixable failures: the message is the whole story, a traceback would bury it
        print(f"ferrepro decode: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    samples = pd.read_csv(out / "samples.csv", usecols=["label", "split"], keep_default_na=False)
    print(
        f"wrote {out}: {len(samples)} samples; per split "
        f"{samples['split'].replace('', '(none)').value_counts().to_dict()}"
    )
    quarantine_file = out / QUARANTINE_FILE
    if quarantine_file.exists():
        print(f"quarantined: see {quarantine_file}")
    return 0
