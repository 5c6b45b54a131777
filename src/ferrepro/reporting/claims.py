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
  run in this preset/workspace, no GPU for a GPU latency, a metric not recorded);
* ``synthetic only``: the experiment ran here on the synthetic dataset only. Our synthetic number
  is shown, never compared.

Precedence: a permanent untestable reason > ``synthetic only`` > a verdict.

Where our number comes from, by the claimed metric's source and kind in the metric table
(ferrepro.evaluation.metrics.METRICS, which also names every metric a claim may use):

* test predictions and training history: results/experiments.json (mean ± sd over seeds, bootstrap CI;
  see ferrepro.reporting.experiments). A per-class claim (``metric: f1, class: happy``, e.g. one row of a
  paper's classification report) is that class of the run's label set (experiments.json key ``f1[happy]``;
  the table's metric column reads ``f1 (happy)``); a class the tested dataset has no samples of (a cross-test
  target that lacks it) is untestable. ``val_accuracy`` is the selected checkpoint's, its CI from the
  validation counts; ``epochs`` (a count) is the selected epoch (1-based: epochs trained up to the checkpoint
  kept), its interval the range over runs;
* the efficiency measurement: results/efficiency/<paper>.json (the model at the paper's input size).
  Exact metrics (``params``, ``gflops``) count as reproduced when ours rounds to the claim at its printed
  precision (11.6 M: ours within 11.55-11.65 M). GFLOPs are compared as FLOPs (2 per multiply-add); the MAC
  reading is given in the note. ``latency_ms`` is our GPU batch-1 median (percentile bootstrap CI of the
  median over the timed runs) when a GPU was measured; the CPU numbers are in the note. Different hardware:
  read with care.

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
from ferrepro.data.acquire import configured_raw_root
from ferrepro.evaluation.metrics import BY_NAME, COUNT, EFFICIENCY_METRICS, FRACTION
from ferrepro.evaluation.stats import VERDICTS, claim_resolution, median_ci, verdict
from ferrepro.reporting.experiments import PROVENANCE_COLUMNS, claim_key, parse_skipped
from ferrepro.reporting.tables import Section, fmt, interval, mean_sd, synthetic_title, write_sections

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
    """What was run here: the active preset and papers (reasons for 'untestable' name them)."""

    preset: str
    papers: tuple[str, ...]
    # Cross-test targets the papers ask for but missing on disk: {dataset: why} (config.skipped_cross_targets).
    skipped_cross: dict = field(default_factory=dict)
    # Where raw datasets go: raw_dir of the main config unless given (the one setting that says so).
    raw_dir: str = field(default_factory=lambda: str(configured_raw_root()))


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
        f"training capped at {limit} epochs by the preset ({group['runs_at_epoch_limit']} run(s) reached the cap; "
        f"the paper's configuration allows {paper_budget}): ours is what the capped runs reach, a lower bound "
        "of what the method reaches, so a claim above it cannot be refuted here"
    )


def _from_group(group: dict, claim: dict, synthetic: bool, cut: str | None = None) -> Ours:
    metric, spec = claim_key(claim), BY_NAME[claim["metric"]]
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
        digits=spec.digits,
        ci_label=entry.get("interval", ""),
        provenance=group.get("provenance") or {},
    )
    ours.verdict = verdict(
        claim["value"], entry["ci_low"], entry["ci_high"], is_synthetic=synthetic, fraction=spec.kind == FRACTION
    )
    parts = [entry.get("interval", "")]
    if cut and not synthetic:
        parts.insert(0, cut)
        if spec.kind == COUNT:
            ours.verdict = "untestable"  # an epoch count: the cap, not the method, decided how long the run trained
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
    return _from_group(group, claim, synthetic=False, cut=budget_cut(group, paper_budget))


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
        return [_from_group(group, claim, synthetic=True)]
    if paper not in workspace.papers:
        return [
            Ours("untestable", f"{paper} is not in `papers:` of the main config, so it was not run in this workspace")
        ]
    return [
        Ours("untestable", f"no run of {name} was tested on {dataset} in this workspace (preset {workspace.preset})")
    ]


# -------------------------------------------------------------------------------------------- efficiency


def _efficiency_entry(efficiency: dict, paper: str, name: str, dataset: str | None) -> dict | None:
    report = efficiency.get(paper)
    if report is None:
        return None
    by_dataset = report.get("experiments", {}).get(name, {})
    model_id = by_dataset.get(dataset) if dataset in by_dataset else next(iter(by_dataset.values()), None)
    return None if model_id is None else report["models"][model_id]


def _measured_verdict(metric: str, claimed: float, low: float, high: float) -> str:
    """The verdict on a measured efficiency number (a count, FLOPs or milliseconds is no fraction: no percent check)."""
    return verdict(claimed, low, high, is_synthetic=False, fraction=BY_NAME[metric].kind == FRACTION)


def _deterministic(metric: str, value: float, claimed: float, note: str) -> Ours:
    half = claim_resolution(claimed)
    return Ours(
        _measured_verdict(metric, claimed, value - half, value + half),
        note,
        mean=value,
        ci_low=value - half,
        ci_high=value + half,
        seeds="exact",
        digits=BY_NAME[metric].digits,
        ci_label="exact value ± half a unit of the claim's last digit",
    )


def _params(entry: dict, claimed: float, where: str) -> Ours:
    return _deterministic(
        "params",
        float(entry["parameters"]["total"]),
        claimed,
        f"{where}; exact count; the claim rounds to ±{claim_resolution(claimed):g}",
    )


def _gflops(entry: dict, claimed: float, where: str) -> Ours:
    flops = entry["flops"]
    half = claim_resolution(claimed)
    as_macs = _measured_verdict("gflops", claimed, flops["gmacs"] - half, flops["gmacs"] + half)
    return _deterministic(
        "gflops",
        float(flops["gflops"]),
        claimed,
        f"{where}; FlopCounterMode counts 2 FLOPs per multiply-add: {flops['gflops']:.3f} GFLOPs = "
        f"{flops['gmacs']:.3f} GMACs; read as MACs the claim is: {as_macs}",
    )


def _latency_ms(entry: dict, claimed: float, where: str) -> Ours:
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
        _measured_verdict("latency_ms", claimed, ci["ci_low"], ci["ci_high"]),
        f"GPU {gpu.get('device_name')}, batch 1, fp32, median of {gpu_b1['n_runs']} runs (percentile bootstrap CI "
        f"of the median); the paper's hardware differs; {cpu_text}",
        mean=ci["estimate"],
        ci_low=ci["ci_low"],
        ci_high=ci["ci_high"],
        seeds="timing",
        digits=BY_NAME["latency_ms"].digits,
        ci_label="bootstrap CI of the median",
    )


# How ours is read from a model's efficiency entry, per efficiency metric of the metric table (a test checks
# that every one has a reader).
EFFICIENCY_READERS = {"params": _params, "gflops": _gflops, "latency_ms": _latency_ms}


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
    return EFFICIENCY_READERS[claim["metric"]](entry, float(claim["value"]), where)


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
    spec = BY_NAME[metric]
    if spec.unit:
        unit, size = spec.unit
        return f"{value / size:.2f} {unit}"
    if spec.kind == FRACTION:
        return fmt(float(value), spec.digits)
    return f"{value:g}"


def _ours_text(metric: str, ours: Ours) -> tuple[str, str]:
    if ours.mean is None:
        return "", ""
    unit, size = BY_NAME[metric].unit or ("", 1.0)
    suffix = f" {unit}" if unit else ""
    if ours.seeds == "exact":
        half = (ours.ci_high - ours.mean) / size
        return fmt(ours.mean / size, ours.digits) + suffix, f"exact (claim ± {half:g}{suffix})"
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
    table: pd.DataFrame, path: str | Path, metric: str = "test_accuracy", preset: str | None = None
) -> None:
    """results/claims.png; drawn by ``evaluation.plots.plot_claims`` with the other figures."""
    from ferrepro.evaluation.plots import plot_claims as draw

    draw(table, path, metric, preset)


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
    paper_configs: list[str | Path],
    experiments_json: str | Path,
    efficiency_files: list[str | Path],
    registry_path: str | Path,
    workspace: Workspace,
) -> pd.DataFrame:
    """The claims of every paper config given, in that order, whether the workspace ran the paper or not."""
    from ferrepro.config import load_paper_config
    from ferrepro.data.registry import load_registry

    configs = [load_paper_config(path) for path in paper_configs]
    groups = json.loads(Path(experiments_json).read_text())["groups"]
    return claim_rows(configs, groups, load_efficiency(efficiency_files), load_registry(registry_path), workspace)


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
    parser.add_argument(
        "--paper-configs", nargs="+", required=True, help="config/papers/<paper>.yaml files whose claims are listed"
    )
    parser.add_argument("--experiments", required=True, help="results/experiments.json")
    parser.add_argument("--efficiency", nargs="*", default=[], help="results/efficiency/<paper>.json files")
    parser.add_argument("--registry", default="config/datasets.yaml")
    parser.add_argument("--preset", required=True, help="the active preset (named in untestable reasons)")
    parser.add_argument("--papers", nargs="*", default=[], help="the papers this workspace runs")
    parser.add_argument("--current-specs", help="folder of the current run specs (results/specs): refuse stale runs")
    parser.add_argument(
        "--skipped-cross",
        default="{}",
        type=parse_skipped,
        help="JSON {dataset: reason}: cross-test targets missing on disk (config.skipped_cross_targets)",
    )
    parser.add_argument(
        "--raw-dir",
        default=None,
        help="where raw datasets go (named in skipped reasons); default: raw_dir of config/config.yaml",
    )
    parser.add_argument("--out-csv", required=True)
    parser.add_argument("--out-md", required=True)
    parser.add_argument("--out-html")
    parser.add_argument("--out-png")
    args = parser.parse_args(argv)
    if args.current_specs:
        check_groups_current(args.experiments, args.current_specs)
    table = build_table(
        args.paper_configs,
        args.experiments,
        args.efficiency,
        args.registry,
        Workspace(args.preset, tuple(args.papers), args.skipped_cross, args.raw_dir or str(configured_raw_root())),
    )
    write_claims(table, args.out_md, args.out_html)
    table.rename(
        columns={"_claimed": "claimed_value", "_mean": "ours_mean", "_low": "ci_low", "_high": "ci_high"}
    ).to_csv(args.out_csv, index=False)
    if args.out_png:
        plot_claims(table, args.out_png, preset=args.preset)
    print(notes(table)[0])
    return 0
