"""``ferrepro data status``: per dataset, whether its raw data is present, missing or decoded, its
counts, and the next step (where to get the data, or the command that decodes it).

It only looks (folders, ``decode_report.json``); it never decodes, extracts or hashes anything, so it
is instant even for AffectNet.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ferrepro.data.acquire import configured_raw_root
from ferrepro.data.registry import DatasetSpec, load_registry
from ferrepro.data.standard import REPORT_FILE

DECODED_ROOT = Path("results/decoded")


def dataset_status(spec: DatasetSpec, raw_root: Path, decoded_root: Path = DECODED_ROOT) -> dict:
    """{dataset, state (decoded | present | missing | not usable), raw, n_raw_files, counts, next}."""
    raw = raw_root / spec.name
    report_file = decoded_root / spec.name / REPORT_FILE
    n_raw = sum(1 for p in raw.rglob("*") if p.is_file() and not p.name.startswith(".")) if raw.is_dir() else 0
    row = {"dataset": spec.name, "raw": str(raw), "n_raw_files": n_raw, "counts": None}
    if not spec.expression_labels:
        return {**row, "state": "not usable", "next": f"nothing to do: {spec.no_labels_reason}"}
    decode_cmd = f"snakemake --cores all {decoded_root / spec.name / 'samples.csv'}"
    if report_file.exists():
        report = json.loads(report_file.read_text())
        counts = {
            "samples": report.get("n_samples"),
            "per_label": report.get("per_label"),
            "dropped": report.get("n_dropped", 0),
            "quarantined": report.get("n_quarantined", 0),
            "layout": report.get("layout"),
        }
        return {
            **row,
            "state": "decoded",
            "counts": counts,
            "next": f"nothing to do (new raw data re-decodes with: {decode_cmd})",
        }
    if n_raw:
        return {
            **row,
            "state": "present",
            "next": f"decode it: {decode_cmd}  (or: ferrepro decode --dataset "
            f"{spec.name} --raw-dir {raw} --out {decoded_root / spec.name})",
        }
    return {
        **row,
        "state": "missing",
        "next": f"get it from {spec.obtain_url} ({spec.licence}) and put it into {raw}/: {spec.obtain_how}",
    }


def format_status(rows: list[dict]) -> str:
    lines = []
    for row in rows:
        head = f"{row['dataset']:<10} {row['state']:<10} raw: {row['raw']} ({row['n_raw_files']} files)"
        lines.append(head)
        if row["counts"]:
            c = row["counts"]
            lines.append(
                f"{'':<11}decoded ({c['layout']}): {c['samples']} samples {c['per_label']}; "
                f"dropped {c['dropped']}, quarantined {c['quarantined']}"
            )
        lines.append(f"{'':<11}next: {row['next']}")
    return "\n".join(lines)


def cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="ferrepro data", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="action", required=True)
    status = sub.add_parser("status", help="per dataset: present, missing or decoded; counts; the next step")
    status.add_argument("--registry", help="dataset registry (default config/datasets.yaml)")
    status.add_argument(
        "--raw-root", help="the folder of every dataset's raw folder (default: raw_dir of config/config.yaml)"
    )
    status.add_argument("--decoded-dir", default=str(DECODED_ROOT), help="decoded root (default results/decoded)")
    status.add_argument("--json", action="store_true", help="print JSON instead of text")
    a = p.parse_args(argv)
    registry = load_registry(a.registry)
    raw_root = Path(a.raw_root) if a.raw_root else configured_raw_root()
    rows = [dataset_status(registry[name], raw_root, Path(a.decoded_dir)) for name in registry.names]
    print(json.dumps(rows, indent=2) if a.json else format_status(rows))
    return 0
