"""The reproduction ledger: every number measured on real data, beside the claim, with its evidence.

``ferrepro ledger`` reads one workspace's claims table (``results/claims.csv``), the experiment groups
behind it (``results/experiments.json``) and the per-run files those name, and merges one row per
real-data claim into ``docs/results/ledger.csv`` (and ``ledger.md``). Each row says what was claimed,
what we measured (mean ± sd over seeds, 95% CI, n seeds), the verdict, and where the number comes from:
the dataset and the sha256 of the raw archive, the spec digest(s) and commit(s), the hardware, the
epochs run and selected, the wall time, and the command that reproduces it.

Rows from several machines and workspaces merge, keyed by (paper, table, row, experiment, dataset,
metric, spec digests): a new key is added, an identical row is kept once, and a different number for
the same key is an error naming both, never a silent overwrite. Synthetic rows never enter the ledger,
and only numbers do (no images, arrays or per-sample predictions).

Ablation comparisons (``results/comparisons.csv``) of real-data runs go into ``comparisons.csv`` beside
it, keyed the same way.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd

KEY = ["paper", "table", "row", "experiment", "dataset", "metric", "spec_digests"]
VALUE_COLUMNS = ["ours_mean", "ci_low", "ci_high"]
COLUMNS = KEY[:-1] + [
    "variant",
    "claimed_value",
    "ours_mean",
    "ours_sd",
    "ci_low",
    "ci_high",
    "n_seeds",
    "verdict",
    "reason",
    "raw_data",
    "data_sha256",
    "spec_digests",
    "commits",
    "dirty",
    "hardware",
    "device",
    "epochs_run",
    "selected_epoch",
    "max_epochs",
    "train_seconds",
    "preset",
    "command",
    "runs",
]
COMPARISON_KEY = ["paper", "comparison", "trained on", "tested on", "seed", "spec_digests"]


class LedgerError(ValueError):
    """Merging would lose or overwrite a recorded number."""


def _run_evidence(metrics_path: Path) -> dict[str, Any]:
    """Provenance of one evaluated run, from its metrics.json and train_summary.json."""
    metrics = json.loads(metrics_path.read_text())
    run_dir = metrics_path.parent if (metrics_path.parent / "train_summary.json").exists() else metrics_path.parents[2]
    summary = json.loads((run_dir / "train_summary.json").read_text())
    provenance = metrics.get("provenance") or {}
    if not provenance.get("spec_digest"):
        raise LedgerError(
            f"{metrics_path} carries no spec digest (evaluated before provenance was recorded): "
            f"rerun `snakemake {metrics_path.as_posix()}` to rebuild it"
        )
    training = provenance.get("training") or {}
    machine = training.get("machine") or {}
    return {
        "spec_digest": provenance["spec_digest"],
        "commit": (training.get("code") or {}).get("commit"),
        "dirty": (training.get("code") or {}).get("dirty"),
        "data": provenance.get("data") or {},
        "hardware": f"{machine.get('cpu')} ({machine.get('cores')} cores)"
        + (f", {machine['gpu']}" if machine.get("gpu") else ""),
        "device": summary.get("device"),
        "epochs_run": summary.get("epochs_run"),
        "selected_epoch": summary.get("selected_epoch") + 1 if summary.get("selected_epoch") is not None else None,
        "max_epochs": metrics.get("max_epochs"),
        "train_seconds": summary.get("train_seconds"),
        "run": metrics_path.parent.as_posix(),
    }


def _join(values) -> str:
    return ";".join(str(v) for v in dict.fromkeys(values) if v is not None and v != "")


def _raw_archives(workspace: Path, dataset: str) -> tuple[str, str]:
    """(raw file names, their sha256) as recorded by the decode step, else hashed from the raw folder."""
    report = workspace / "results" / "decoded" / dataset / "decode_report.json"
    data = json.loads(report.read_text()) if report.exists() else {}
    archives = data.get("verified_sha256") or {}
    if isinstance(archives, dict) and archives:
        return _join(archives), _join(archives.values())
    return "", ""


def ledger_rows(
    workspace: str | Path,
    claims_csv: str | Path,
    experiments_json: str | Path,
    preset: str,
    targets_prefix: str = "snakemake --cores all",
) -> pd.DataFrame:
    """The workspace's real-data claim rows with their evidence."""
    workspace = Path(workspace)
    claims = pd.read_csv(claims_csv, keep_default_na=False)
    groups = json.loads(Path(experiments_json).read_text())["groups"]
    by_key = {(g["paper"], g["experiment"], g["dataset"]): g for g in groups if not g.get("synthetic")}
    records = []
    for _, claim in claims.iterrows():
        group = by_key.get((claim["paper"], claim["experiment"], claim["dataset"]))
        if group is None or claim["ours_mean"] == "":
            continue  # not measured on real data here
        evidence = [_run_evidence(workspace / run) for run in group["runs"]]
        names, shas = _raw_archives(workspace, group["dataset"])
        data_sha = shas or _join(
            f"{k}:{v}" for e in evidence for d in e["data"].values() for k, v in d.items() if k != "computed"
        )
        targets = " ".join(f"{e['run']}/metrics.json" for e in evidence)
        records.append(
            {
                "paper": claim["paper"],
                "table": claim["table"],
                "row": claim["row"],
                "experiment": claim["experiment"],
                "variant": claim["variant"],
                "dataset": claim["dataset"],
                "metric": claim["metric"],
                "claimed_value": float(claim["claimed_value"]),
                "ours_mean": float(claim["ours_mean"]),
                "ours_sd": claim["ours (mean ± sd)"],
                "ci_low": _float(claim["ci_low"]),
                "ci_high": _float(claim["ci_high"]),
                "n_seeds": group["n_seeds"],
                "verdict": claim["verdict"],
                "reason": claim["reason / note"],
                "raw_data": names or group["dataset"],
                "data_sha256": data_sha,
                "spec_digests": _join(e["spec_digest"] for e in evidence),
                "commits": _join(e["commit"] for e in evidence),
                "dirty": any(bool(e["dirty"]) for e in evidence),
                "hardware": _join(e["hardware"] for e in evidence),
                "device": _join(e["device"] for e in evidence),
                "epochs_run": _join(e["epochs_run"] for e in evidence),
                "selected_epoch": _join(e["selected_epoch"] for e in evidence),
                "max_epochs": _join(e["max_epochs"] for e in evidence),
                "train_seconds": _join(e["train_seconds"] for e in evidence),
                "preset": preset,
                "command": f"{targets_prefix} --config preset={preset} "
                f"'run_datasets=[{group['dataset']}]' -- {targets}",
                "runs": _join(e["run"] for e in evidence),
            }
        )
    return pd.DataFrame(records, columns=COLUMNS)


def _float(value) -> float | None:
    return None if value in ("", None) else float(value)


def merge(existing: pd.DataFrame, new: pd.DataFrame, key: list[str], values: list[str]) -> pd.DataFrame:
    """Union of two ledgers; the same key with a different number is an error naming both rows."""
    if existing.empty:
        return new.reset_index(drop=True)
    old = {tuple(str(v) for v in row[key]): row for _, row in existing.iterrows()}
    added = []
    for _, row in new.iterrows():
        k = tuple(str(v) for v in row[key])
        if k in old:
            before = old[k]
            if any(_differs(before[c], row[c]) for c in values):
                raise LedgerError(
                    f"ledger row {dict(zip(key, k))} is recorded with "
                    f"{ {c: before[c] for c in values} } (runs {before.get('runs')}) but this workspace "
                    f"measured { {c: row[c] for c in values} } (runs {row.get('runs')}) for the same spec: "
                    "the same settings gave another number; find out why before recording either"
                )
            continue
        added.append(row)
    return pd.concat([existing, pd.DataFrame(added, columns=new.columns)], ignore_index=True) if added else existing


def _differs(a, b) -> bool:
    try:
        return abs(float(a) - float(b)) > 1e-9
    except (TypeError, ValueError):
        return str(a) != str(b)


def write_markdown(ledger: pd.DataFrame, comparisons: pd.DataFrame, path: str | Path) -> None:
    shown = ledger.assign(
        claimed=ledger["claimed_value"].map(lambda v: f"{v:g}"),
        ours=ledger["ours_sd"],
        ci=[
            f"[{lo:.4f}, {hi:.4f}]" if pd.notna(lo) and lo != "" else ""
            for lo, hi in zip(ledger["ci_low"], ledger["ci_high"])
        ],
        epochs=[
            f"{r} run, {s} selected (max {m})"
            for r, s, m in zip(ledger["epochs_run"], ledger["selected_epoch"], ledger["max_epochs"])
        ],
        spec=ledger["spec_digests"].map(lambda d: ";".join(x[:12] for x in str(d).split(";"))),
        commit=ledger["commits"].map(lambda c: ";".join(x[:10] for x in str(c).split(";"))),
    )
    cols = [
        "paper",
        "table",
        "row",
        "experiment",
        "variant",
        "metric",
        "claimed",
        "ours",
        "ci",
        "n_seeds",
        "verdict",
        "epochs",
        "train_seconds",
        "spec",
        "commit",
        "hardware",
    ]
    lines = [
        "# Reproduction ledger",
        "",
        "Every number measured on real data, beside the paper's claim. Generated by `ferrepro ledger` from the "
        "workspaces' results (never edited by hand); the full provenance of each row (raw data sha256, full spec "
        "digests and commits, device, the reproducing command) is in `ledger.csv`.",
        "",
        _md_table(shown[cols]),
    ]
    if not comparisons.empty:
        lines += ["", "## Comparisons on real data", "", _md_table(comparisons.drop(columns=["spec_digests"]))]
    Path(path).write_text("\n".join(lines) + "\n")


def _md_table(table: pd.DataFrame) -> str:
    def cell(v) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    rows = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    rows += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(rows)


def comparison_rows(workspace: Path, comparisons_csv: str | Path | None, ledger: pd.DataFrame) -> pd.DataFrame:
    """Real-data comparison rows (both sides among this workspace's ledger experiments), with their digests."""
    if not comparisons_csv or not Path(comparisons_csv).exists():
        return pd.DataFrame(columns=COMPARISON_KEY)
    table = pd.read_csv(comparisons_csv, keep_default_na=False)
    digests = {(r.paper, r.experiment): r.spec_digests for r in ledger.itertuples()}
    keep = [(p, a) in digests and (p, b) in digests for p, a, b in zip(table["paper"], table["a"], table["b"])]
    table = table[keep].copy()
    table["spec_digests"] = [
        f"{digests[(p, a)]}|{digests[(p, b)]}" for p, a, b in zip(table["paper"], table["a"], table["b"])
    ]
    return table.reset_index(drop=True)


def read_ledger(path: Path) -> pd.DataFrame:
    """The recorded ledger. Rows written before the run preset was renamed (``profile`` -> ``preset``)
    are read in the new names, so that rows measured on other machines keep merging."""
    if not path.exists():
        return pd.DataFrame(columns=COLUMNS)
    ledger = pd.read_csv(path, keep_default_na=False)
    if "profile" in ledger.columns:
        ledger = ledger.rename(columns={"profile": "preset"})
        ledger["command"] = ledger["command"].str.replace("--config profile=", "--config preset=", regex=False)
    return ledger


def cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="ferrepro ledger", description=__doc__.split("\n\n")[0])
    p.add_argument("--workspace", default=".", help="the workspace whose results/ to read (default: here)")
    p.add_argument("--claims", default="results/claims.csv", help="claims table, relative to the workspace")
    p.add_argument("--experiments", default="results/experiments.json", help="relative to the workspace")
    p.add_argument("--comparisons", default="results/comparisons.csv", help="relative to the workspace")
    p.add_argument("--preset", required=True, help="the preset the workspace ran (part of the reproducing command)")
    p.add_argument("--ledger", default="docs/results/ledger.csv")
    p.add_argument("--md", default="docs/results/ledger.md")
    a = p.parse_args(argv)
    ws = Path(a.workspace)
    new = ledger_rows(ws, ws / a.claims, ws / a.experiments, a.preset)
    ledger_path, comparisons_path = Path(a.ledger), Path(a.ledger).with_name("comparisons.csv")
    existing = read_ledger(ledger_path)
    ledger = merge(existing, new, KEY, VALUE_COLUMNS)
    new_cmp = comparison_rows(ws, ws / a.comparisons, new)
    old_cmp = pd.read_csv(comparisons_path, keep_default_na=False) if comparisons_path.exists() else pd.DataFrame()
    comparisons = (
        merge(old_cmp, new_cmp, COMPARISON_KEY, ["difference a - b", "McNemar p"])
        if len(new_cmp) or len(old_cmp)
        else new_cmp
    )
    ledger_path.parent.mkdir(parents=True, exist_ok=True)
    ledger.to_csv(ledger_path, index=False)
    if len(comparisons):
        comparisons.to_csv(comparisons_path, index=False)
    write_markdown(ledger, comparisons, a.md)
    print(f"{ledger_path}: {len(ledger)} rows ({len(ledger) - len(existing)} new); {len(comparisons)} comparisons")
    return 0
