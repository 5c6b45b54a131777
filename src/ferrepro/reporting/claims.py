"""The claims table: every number the papers claim beside ours, with its CI and a verdict.

``results/claims.{csv,md,html}`` have one row per claimed number of every paper config in
``config/papers/`` (also the experiments marked ``runnable: false``), and ``results/claims.png``
plots the test-accuracy claims per paper.

Verdicts (``ferrepro.evaluation.stats.verdict``):

* ``reproduced``: the claim lies inside our 95 % CI; ``not reproduced (higher)`` /
  ``not reproduced (lower)``: the claim lies above / below it;
* ``untestable``, with the reason, derived in this order: the claim's own ``untestable`` key; the
  experiment is ``runnable: false`` (its description says why); the claim's dataset is not in
  ``config/datasets.yaml`` (not public or not identifiable) or has no expression labels (the
  registry's ``no_labels_reason``); nothing was measured here (the dataset or the paper was not
  run in this profile/workspace, no GPU for a GPU latency, a metric not recorded);
* ``synthetic only``: the experiment ran here on the synthetic dataset only. Our synthetic number
  is shown, never compared.

Precedence: a permanent untestable reason > ``synthetic only`` > a verdict.

Where our number comes from, per claimed metric:

* ``test_accuracy`` (metrics.json ``accuracy``), ``macro_f1``, ``macro_precision``,
  ``macro_recall``, ``weighted_f1``, ``mcc``: results/experiments.json (mean ± sd over seeds, bootstrap
  CI; see ferrepro.reporting.experiments);
* ``precision``, ``recall``, ``f1`` with a ``class`` (a per-class claim, e.g. one row of a paper's
  classification report): the same, for that class of the run's label set (experiments.json key
  ``f1[happy]``; the table's metric column reads ``f1 (happy)``). A class the tested dataset has no
  samples of (a cross-test target that lacks it) is untestable;
* ``val_accuracy``: the validation accuracy of the selected checkpoint, CI from its validation counts;
* ``epochs``: the selected epoch (1-based: epochs trained up to the checkpoint kept); the interval is
  the range over runs;
* ``params``, ``gflops``: results/efficiency/<paper>.json (the model at the paper's input size). These
  are exact, so the claim counts as reproduced when ours rounds to it at the claim's printed
  precision (11.6 M: ours within 11.55-11.65 M). GFLOPs are compared as FLOPs (2 per multiply-add);
  the MAC reading is given in the note;
* ``latency_ms``: our GPU batch-1 median (percentile bootstrap CI of the median over the timed runs)
  when a GPU was measured; the CPU numbers are in the note. Different hardware: read with care.

Leaky and proper variants (afzaal2025, nauman2025) sit in adjacent rows, the leaky one marked LEAKY,
so the reader sees how much of a claim the leakage explains.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ferrepro.config import claim_label, experiment_setting, paper_max_epochs
from ferrepro.evaluation.stats import VERDICTS, claim_resolution, median_ci, verdict
from ferrepro.reporting.experiments import PROVENANCE_COLUMNS, claim_key, parse_skipped
from ferrepro.reporting.tables import Section, fmt, interval, mean_sd, synthetic_title, write_sections

EFFICIENCY_METRICS = ("params", "gflops", "latency_ms")
FRACTION_METRICS = (
    "test_accuracy",
    "val_accuracy",
    "train_accuracy",
    "macro_f1",
    "macro_precision",
    "macro_recall",
    "mcc",
    "weighted_f1",
    "precision",
    "recall",
    "f1",
)
COLUMNS = [
    "paper",
    "table",
    "row",
    "experiment",
    "variant",
    "dataset",
    "metric",
    "claimed",
    "ours (mean ± sd)",
    "95% CI",
    "n seeds (folds)",
    "verdict",
    "reason / note",
]
# Machine-readable companions of the text columns (for the chart and the CSV).
NUMERIC = ("_claimed", "_mean", "_low", "_high")
LEAKY_SUFFIX = "_leaky"


@dataclass(frozen=True)
class Workspace:
    """What was run here: the active profile and papers (reasons for 'untestable' name them)."""

    profile: str
    papers: tuple[str, ...]
    # Cross-test targets the papers ask for but missing on disk: {dataset: why} (config.skipped_cross_targets).
    skipped_cross: dict = field(default_factory=dict)
    raw_dir: str = "resources/raw"


def skipped_reason(dataset: str, workspace: Workspace) -> str:
    return (
        f"cross-test target {dataset} skipped, not on disk: put it under {workspace.raw_dir}/{dataset}/ "
        f"(`ferrepro data status` says how) and rerun; {workspace.skipped_cross[dataset]}"
    )


@dataclass
class Ours:
    """Our side of one claim row."""

    verdict: str
    reason: str = ""
    mean: float | None = None
    sd: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    seeds: str = ""
    digits: int = 4
    ci_label: str = ""
    provenance: dict = field(default_factory=dict)


def is_leaky(name: str, experiment: dict) -> bool:
    return name.endswith(LEAKY_SUFFIX) or (experiment.get("balance") or {}).get("order") == "leaky"


def base_name(name: str) -> str:
    return name[: -len(LEAKY_SUFFIX)] if name.endswith(LEAKY_SUFFIX) else name


def claim_dataset(claim: dict, paper: dict, name: str) -> str | None:
    """The claim's own dataset, else the first the experiment runs on (as the run matrix resolves it)."""
    datasets = experiment_setting(paper, name, "datasets", [])
    return claim.get("dataset") or (datasets[0] if datasets else None)


def permanent_reason(claim: dict, experiment: dict, dataset: str | None, registry) -> str | None:
    """Why this claim can never be tested by this project, or None."""
    if claim.get("untestable"):
        return str(claim["untestable"])
    if experiment.get("runnable", True) is False:
        return f"not runnable: {experiment.get('description', 'marked runnable: false')}"
    if claim["metric"] in EFFICIENCY_METRICS:
        return None  # measured on the model itself, whatever the dataset
    if dataset is None:
        return "the claim names no dataset"
    if dataset not in registry:
        return f"dataset {dataset!r} is not in config/datasets.yaml: not public or not identifiable"
    spec = registry[dataset]
    if not spec.expression_labels:
        return spec.no_labels_reason or f"dataset {dataset!r} has no expression labels"
    return None


# ---------------------------------------------------------------------------------------- classification


def seeds_label(group: dict) -> str:
    label = str(group["n_seeds"])
    return label + (f" ({group['n_folds']} folds)" if group.get("n_folds") else "")


def budget_cut(group: dict, paper_budget: int | None) -> str | None:
    """Why a group's number is a lower bound: its runs hit an epoch limit below the paper configuration's."""
    limit = group.get("max_epochs")
    if not group.get("runs_at_epoch_limit") or paper_budget is None or limit is None or limit >= paper_budget:
        return None
    return (
        f"training capped at {limit} epochs by the profile ({group['runs_at_epoch_limit']} run(s) reached the cap; "
        f"the paper's configuration allows {paper_budget}): ours is what the capped runs reach, a lower bound "
        "of what the method reaches, so a claim above it cannot be refuted here"
    )


def _from_group(group: dict, metric: str, claimed: float, synthetic: bool, cut: str | None = None) -> Ours:
    entry = group["metrics"].get(metric)
    if entry is None:
        return Ours("untestable", f"{metric} was not computed for this experiment")
    if "unavailable" in entry:
        return Ours("untestable", entry["unavailable"])
    ours = Ours(
        "",
        mean=entry["mean"],
        sd=entry["sd"],
        ci_low=entry["ci_low"],
        ci_high=entry["ci_high"],
        seeds=seeds_label(group),
        digits=1 if metric == "epochs" else 4,
        ci_label=entry.get("interval", ""),
        provenance=group.get("provenance") or {},
    )
    ours.verdict = verdict(
        claimed, entry["ci_low"], entry["ci_high"], is_synthetic=synthetic, fraction=metric != "epochs"
    )
    parts = [entry.get("interval", "")]
    if cut and not synthetic:
        parts.insert(0, cut)
        if metric == "epochs":
            ours.verdict = "untestable"  # the cap, not the method, decided how long the run trained
        elif ours.verdict == "not reproduced (higher)":
            ours.verdict = "untestable"  # more training could close the gap: no refutation from a capped run
    if group["dataset"] != group["eval_dataset"]:
        parts.append(f"trained on {group['dataset']}, tested on {group['eval_dataset']}")
    if entry.get("note"):
        parts.append(entry["note"])
    if synthetic:
        parts.insert(
            0,
            f"ours is on the synthetic dataset (a pipeline check, never compared); "
            f"{group.get('claim_dataset', 'the claim dataset')} was not run here",
        )
    ours.reason = "; ".join(p for p in parts if p)
    return ours


def unscored_class(group: dict, claim: dict) -> str | None:
    """Why a per-class claim cannot be tested on this group: the tested dataset has no samples of its class.

    The per-class value would then be a 0 with a degenerate interval (no true samples, so no recall), which
    reads as a refutation it is not.
    """
    scored = group.get("scored_classes")
    if not claim.get("class") or scored is None or claim["class"] in scored:
        return None
    return (
        f"{group['eval_dataset']} has no {claim['class']} test samples (the classes scored on it: "
        f"{', '.join(scored)}), so its {claim['metric']} for that class is not defined"
    )


def _real_row(group: dict, claim: dict, paper_budget: int | None) -> Ours:
    why = unscored_class(group, claim)
    if why:
        return Ours("untestable", why)
    return _from_group(group, claim_key(claim), claim["value"], synthetic=False, cut=budget_cut(group, paper_budget))


def classification_rows(
    paper: str,
    name: str,
    claim: dict,
    dataset: str,
    groups: list[dict],
    workspace: Workspace,
    paper_budget: int | None = None,
) -> list[Ours]:
    mine = [g for g in groups if g["paper"] == paper and g["experiment"] == name]
    real = [g for g in mine if g["eval_dataset"] == dataset and not g["synthetic"]]
    if real:
        # In-domain first; one row per training dataset when a claim is answered by several.
        real.sort(key=lambda g: (g["dataset"] != g["eval_dataset"], g["dataset"]))
        return [_real_row(g, claim, paper_budget) for g in real]
    if dataset in workspace.skipped_cross:
        return [Ours("untestable", skipped_reason(dataset, workspace))]
    synthetic = [g for g in mine if g["synthetic"]]
    if synthetic:
        group = dict(synthetic[0], claim_dataset=dataset)
        return [_from_group(group, claim_key(claim), claim["value"], synthetic=True)]
    if paper not in workspace.papers:
        return [
            Ours("untestable", f"{paper} is not in `papers:` of the main config, so it was not run in this workspace")
        ]
    return [
        Ours("untestable", f"no run of {name} was tested on {dataset} in this workspace (profile {workspace.profile})")
    ]


# -------------------------------------------------------------------------------------------- efficiency


def _efficiency_entry(efficiency: dict, paper: str, name: str, dataset: str | None) -> dict | None:
    report = efficiency.get(paper)
    if report is None:
        return None
    by_dataset = report.get("experiments", {}).get(name, {})
    model_id = by_dataset.get(dataset) if dataset in by_dataset else next(iter(by_dataset.values()), None)
    return None if model_id is None else report["models"][model_id]


def _deterministic(value: float, claimed: float, digits: int, note: str) -> Ours:
    half = claim_resolution(claimed)
    return Ours(
        verdict(claimed, value - half, value + half, is_synthetic=False),
        note,
        mean=value,
        ci_low=value - half,
        ci_high=value + half,
        seeds="exact",
        digits=digits,
        ci_label="exact value ± half a unit of the claim's last digit",
    )


def efficiency_row(
    paper: str, name: str, claim: dict, dataset: str | None, efficiency: dict, workspace: Workspace
) -> Ours:
    entry = _efficiency_entry(efficiency, paper, name, dataset)
    if entry is None:
        why = (
            "it is not in `papers:` of the main config"
            if paper not in workspace.papers
            else "this experiment was not measured"
        )
        return Ours("untestable", f"efficiency of {paper}/{name} not measured in this workspace: {why}")
    shape = "x".join(str(v) for v in entry["input_shape"])
    where = f"{entry['model']} at {shape} (C x H x W), {entry['num_classes']} classes, random init"
    metric, claimed = claim["metric"], float(claim["value"])
    if metric == "params":
        return _deterministic(
            float(entry["parameters"]["total"]),
            claimed,
            0,
            f"{where}; exact count; the claim rounds to ±{claim_resolution(claimed):g}",
        )
    if metric == "gflops":
        flops = entry["flops"]
        half = claim_resolution(claimed)
        as_macs = verdict(claimed, flops["gmacs"] - half, flops["gmacs"] + half, is_synthetic=False)
        return _deterministic(
            float(flops["gflops"]),
            claimed,
            3,
            f"{where}; FlopCounterMode counts 2 FLOPs per multiply-add: {flops['gflops']:.3f} GFLOPs = "
            f"{flops['gmacs']:.3f} GMACs; read as MACs the claim is: {as_macs}",
        )
    # latency_ms
    cpu = entry.get("latency_cpu") or {}
    cpu_b1 = next((r for r in cpu.get("results", []) if r["batch_size"] == 1), None)
    cpu_text = (
        f"our CPU batch-1 median: {cpu_b1['median_ms']:.1f} ms ({cpu.get('threads')} threads, {cpu.get('device_name')})"
        if cpu_b1
        else "no CPU latency measured"
    )
    gpu = entry.get("latency_gpu")
    gpu_b1 = next((r for r in (gpu or {}).get("results", []) if r["batch_size"] == 1), None)
    if not gpu_b1:
        return Ours("untestable", f"the claim is a GPU/device latency and no GPU was available here; {cpu_text}")
    ci = median_ci(gpu_b1["times_ms"])
    return Ours(
        verdict(claimed, ci["ci_low"], ci["ci_high"], is_synthetic=False),
        f"GPU {gpu.get('device_name')}, batch 1, fp32, median of {gpu_b1['n_runs']} runs (percentile bootstrap CI "
        f"of the median); the paper's hardware differs; {cpu_text}",
        mean=ci["estimate"],
        ci_low=ci["ci_low"],
        ci_high=ci["ci_high"],
        seeds="timing",
        digits=2,
        ci_label="bootstrap CI of the median",
    )


# ------------------------------------------------------------------------------------------------ table


def claim_rows(
    papers: list[dict], groups: list[dict], efficiency: dict, registry, workspace: Workspace
) -> pd.DataFrame:
    """One row per claimed number (more when several training datasets answer one claim)."""
    records = []
    for paper_index, paper in enumerate(papers):
        names = list(paper["experiments"])
        first_index = {}
        for index, name in enumerate(names):
            first_index.setdefault(base_name(name), index)
        for name, experiment in paper["experiments"].items():
            leaky = is_leaky(name, experiment)
            for claim_index, claim in enumerate(experiment.get("claims") or []):
                dataset = claim_dataset(claim, paper, name)
                reason = permanent_reason(claim, experiment, dataset, registry)
                if reason:
                    results = [Ours("untestable", reason)]
                elif claim["metric"] in EFFICIENCY_METRICS:
                    results = [efficiency_row(paper["paper"], name, claim, dataset, efficiency, workspace)]
                else:
                    results = classification_rows(
                        paper["paper"], name, claim, dataset, groups, workspace, paper_max_epochs(paper, name)
                    )
                for ours in results:
                    records.append(
                        _record(paper, name, claim, dataset, leaky, ours)
                        | {"_order": (paper_index, first_index[base_name(name)], claim_index, leaky, name)}
                    )
    table = pd.DataFrame(records, columns=COLUMNS + list(NUMERIC) + PROVENANCE_COLUMNS + ["_order"])
    if not table.empty:
        table = table.sort_values("_order", kind="stable")
    return table.drop(columns="_order").reset_index(drop=True)


def _claimed_text(metric: str, value: float) -> str:
    if metric == "params":
        return f"{value / 1e6:.2f} M"
    if metric in FRACTION_METRICS:
        return fmt(float(value))
    return f"{value:g}"


def _ours_text(metric: str, ours: Ours) -> tuple[str, str]:
    if ours.mean is None:
        return "", ""
    if metric == "params":
        return f"{ours.mean / 1e6:.3f} M", f"exact (claim ± {(ours.ci_high - ours.mean) / 1e6:g} M)"
    if ours.seeds == "exact":
        return fmt(ours.mean, ours.digits), f"exact (claim ± {ours.ci_high - ours.mean:g})"
    return mean_sd(ours.mean, ours.sd, ours.digits), interval(ours.ci_low, ours.ci_high, ours.digits)


def _record(paper: dict, name: str, claim: dict, dataset: str | None, leaky: bool, ours: Ours) -> dict[str, Any]:
    if ours.verdict not in VERDICTS:
        raise ValueError(f"internal: verdict {ours.verdict!r} is not one of {VERDICTS}")
    ours_text, ci_text = _ours_text(claim["metric"], ours)
    note = "; ".join(p for p in (ours.reason, f"paper: {claim['note']}" if claim.get("note") else "") if p)
    return {
        "paper": paper["paper"],
        "table": claim["table"],
        "row": claim["row"],
        "experiment": name,
        "variant": "LEAKY" if leaky else "",
        "dataset": dataset_text(dataset, ours),
        "metric": claim_label(claim),
        "claimed": _claimed_text(claim["metric"], float(claim["value"])),
        "ours (mean ± sd)": ours_text,
        "95% CI": ci_text,
        "n seeds (folds)": ours.seeds,
        "verdict": ours.verdict,
        "reason / note": note,
        # machine-readable copies for the chart and tests
        "_claimed": float(claim["value"]),
        "_mean": ours.mean,
        "_low": ours.ci_low,
        "_high": ours.ci_high,
        **{column: ours.provenance.get(column, "") for column in PROVENANCE_COLUMNS},
    }


def dataset_text(dataset: str | None, ours: Ours) -> str:
    """The claim's dataset, and what ours was measured on when that is another one: ``affectnet (ours: synthetic)``."""
    if ours.verdict == "synthetic only":
        return f"{dataset or '?'} (ours: synthetic)"
    return dataset or ""


def verdict_counts(table: pd.DataFrame) -> str:
    counts = Counter(table["verdict"])
    return ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)


# ------------------------------------------------------------------------------------------------ chart


def plot_claims(
    table: pd.DataFrame, path: str | Path, metric: str = "test_accuracy", profile: str | None = None
) -> None:
    """results/claims.png; drawn by ``evaluation.plots.plot_claims`` with the other figures."""
    from ferrepro.evaluation.plots import plot_claims as draw

    draw(table, path, metric, profile)


# -------------------------------------------------------------------------------------------------- CLI


def load_efficiency(paths: list[str | Path]) -> dict[str, dict]:
    reports = {}
    for path in paths:
        data = json.loads(Path(path).read_text())
        if "paper" not in data or "models" not in data:
            raise ValueError(f"{path}: not an efficiency report (needs `paper` and `models`)")
        reports[data["paper"]] = data
    return reports


def build_table(
    paper_config_dir: str | Path,
    experiments_json: str | Path,
    efficiency_files: list[str | Path],
    registry_path: str | Path,
    workspace: Workspace,
) -> pd.DataFrame:
    from ferrepro.config import load_paper_config
    from ferrepro.data.registry import load_registry

    papers = [load_paper_config(p) for p in sorted(Path(paper_config_dir).glob("*.yaml"))]
    groups = json.loads(Path(experiments_json).read_text())["groups"]
    return claim_rows(papers, groups, load_efficiency(efficiency_files), load_registry(registry_path), workspace)


def check_groups_current(experiments_json: str | Path, current_specs: str | Path) -> None:
    """Every run behind experiments.json must carry its current spec digest (ferrepro.reporting.runs)."""
    from ferrepro.reporting.runs import load_runs

    groups = json.loads(Path(experiments_json).read_text())["groups"]
    load_runs([run for group in groups for run in group["runs"]], current_specs)


def notes(table: pd.DataFrame) -> list[str]:
    return [
        f"{len(table)} claims: {verdict_counts(table)}.",
        "Fractions, not percent. CI: bootstrap BCa 95% over test samples, statistic = mean over seeds, folds pooled "
        "(results/experiments.md says how); params/GFLOPs exact; epochs: range over runs.",
        "Runs on the synthetic dataset check the pipeline; they are never compared with a claim (verdict 'synthetic "
        "only').",
    ]


COMPACT_COLUMNS = ["claim", "claimed", "ours", "95% CI", "verdict"]
TITLE = "Claims against reproduced numbers"


def claim_text(row) -> str:
    """One claim in a few words: where the paper states it, the experiment, the dataset, the metric."""
    leaky = " LEAKY" if row["variant"] else ""
    return f"{row['table']}, {row['row']} ({row['experiment']}{leaky}): {row['metric']} on {row['dataset']}"


def compact_table(rows: pd.DataFrame) -> pd.DataFrame:
    """claim, claimed, ours, CI, verdict: the narrow per-paper table the report opens on (no reason column)."""
    return pd.DataFrame(
        {
            "claim": [claim_text(r) for _, r in rows.iterrows()],
            "claimed": rows["claimed"].tolist(),
            "ours": rows["ours (mean ± sd)"].tolist(),
            "95% CI": rows["95% CI"].tolist(),
            "verdict": rows["verdict"].tolist(),
        },
        columns=COMPACT_COLUMNS,
    )


def claim_sections(table: pd.DataFrame) -> list[Section]:
    """One compact table per paper (its verdict counts first), then the full table with reasons."""
    synthetic = bool((table["verdict"] == "synthetic only").any())
    sections = []
    for paper, rows in table.groupby("paper", sort=False):
        sections.append(
            Section(
                synthetic_title(str(paper), bool((rows["verdict"] == "synthetic only").any())),
                compact_table(rows),
                [f"{len(rows)} claims: {verdict_counts(rows)}."],
                table_id=f"claims-{paper}",
                verdict_column="verdict",
            )
        )
    shown = table[[c for c in COLUMNS + ["run folders"] if c in table.columns]]
    sections.append(
        Section(
            synthetic_title(f"{TITLE}: the full table, with reasons", synthetic),
            shown,
            notes(table),
            table_id="claims",
            verdict_column="verdict",
        )
    )
    return sections


def write_claims(table: pd.DataFrame, md: str | Path, html_path: str | Path | None = None) -> None:
    """claims.md/.html: the verdict counts on top, one compact table per paper, then the full table."""
    synthetic = bool((table["verdict"] == "synthetic only").any())
    write_sections(
        synthetic_title(TITLE, synthetic),
        notes(table)[0],
        claim_sections(table),
        md,
        html_path,
        page_id="claims-overview",
    )


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ferrepro claims", description=__doc__.split("\n\n")[0])
    parser.add_argument("--paper-config-dir", default="config/papers")
    parser.add_argument("--experiments", required=True, help="results/experiments.json")
    parser.add_argument("--efficiency", nargs="*", default=[], help="results/efficiency/<paper>.json files")
    parser.add_argument("--registry", default="config/datasets.yaml")
    parser.add_argument("--profile", required=True, help="the active profile (named in untestable reasons)")
    parser.add_argument("--papers", nargs="*", default=[], help="the papers this workspace runs")
    parser.add_argument("--current-specs", help="folder of the current run specs (results/specs): refuse stale runs")
    parser.add_argument(
        "--skipped-cross",
        default="{}",
        type=parse_skipped,
        help="JSON {dataset: reason}: cross-test targets missing on disk (config.skipped_cross_targets)",
    )
    parser.add_argument("--raw-dir", default="resources/raw", help="where raw datasets go (named in skipped reasons)")
    parser.add_argument("--out-csv", required=True)
    parser.add_argument("--out-md", required=True)
    parser.add_argument("--out-html")
    parser.add_argument("--out-png")
    args = parser.parse_args(argv)
    if args.current_specs:
        check_groups_current(args.experiments, args.current_specs)
    table = build_table(
        args.paper_config_dir,
        args.experiments,
        args.efficiency,
        args.registry,
        Workspace(args.profile, tuple(args.papers), args.skipped_cross, args.raw_dir),
    )
    write_claims(table, args.out_md, args.out_html)
    table.rename(
        columns={"_claimed": "claimed_value", "_mean": "ours_mean", "_low": "ci_low", "_high": "ci_high"}
    ).to_csv(args.out_csv, index=False)
    if args.out_png:
        plot_claims(table, args.out_png, profile=args.profile)
    print(notes(table)[0])
    return 0
