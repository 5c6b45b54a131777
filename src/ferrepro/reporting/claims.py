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
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ferrepro.evaluation.stats import VERDICTS, claim_resolution, median_ci, verdict
from ferrepro.reporting.tables import fmt, interval, mean_sd, write_table

EFFICIENCY_METRICS = ("params", "gflops", "latency_ms")
FRACTION_METRICS = ("test_accuracy", "val_accuracy", "train_accuracy", "macro_f1", "macro_precision", "macro_recall", "mcc", "weighted_f1")
COLUMNS = ["paper", "table", "row", "experiment", "variant", "dataset", "metric", "claimed", "ours (mean ± sd)",
           "95% CI", "n seeds (folds)", "verdict", "reason / note"]
# Machine-readable companions of the text columns (for the chart and the CSV).
NUMERIC = ("_claimed", "_mean", "_low", "_high")
LEAKY_SUFFIX = "_leaky"


@dataclass(frozen=True)
class Workspace:
    """What was run here: the active profile and papers (reasons for 'untestable' name them)."""

    profile: str
    papers: tuple[str, ...]


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


def is_leaky(name: str, experiment: dict) -> bool:
    return name.endswith(LEAKY_SUFFIX) or (experiment.get("balance") or {}).get("order") == "leaky"


def base_name(name: str) -> str:
    return name[: -len(LEAKY_SUFFIX)] if name.endswith(LEAKY_SUFFIX) else name


def claim_dataset(claim: dict, experiment: dict, paper: dict) -> str | None:
    datasets = experiment.get("datasets") or paper.get("defaults", {}).get("datasets") or []
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


def paper_epochs(paper: dict, name: str) -> int | None:
    """The paper configuration's own epoch budget for an experiment (no profile applied)."""
    own = paper["experiments"][name].get("max_epochs", paper.get("defaults", {}).get("max_epochs"))
    return int(own) if own is not None else None


def budget_cut(group: dict, paper_budget: int | None) -> str | None:
    """Why a group's number is a lower bound: its runs hit an epoch limit below the paper configuration's."""
    limit = group.get("max_epochs")
    if not group.get("runs_at_epoch_limit") or paper_budget is None or limit is None or limit >= paper_budget:
        return None
    return (f"training capped at {limit} epochs by the profile ({group['runs_at_epoch_limit']} run(s) reached the cap; "
            f"the paper's configuration allows {paper_budget}): ours is what the capped runs reach, a lower bound "
            "of what the method reaches, so a claim above it cannot be refuted here")


def _from_group(group: dict, metric: str, claimed: float, synthetic: bool, cut: str | None = None) -> Ours:
    entry = group["metrics"].get(metric)
    if entry is None:
        return Ours("untestable", f"{metric} was not computed for this experiment")
    if "unavailable" in entry:
        return Ours("untestable", entry["unavailable"])
    ours = Ours("", mean=entry["mean"], sd=entry["sd"], ci_low=entry["ci_low"], ci_high=entry["ci_high"],
                seeds=seeds_label(group), digits=1 if metric == "epochs" else 4, ci_label=entry.get("interval", ""))
    ours.verdict = verdict(claimed, entry["ci_low"], entry["ci_high"], is_synthetic=synthetic,
                           fraction=metric != "epochs")
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
        parts.insert(0, f"ours is on the synthetic dataset (a pipeline check, never compared); "
                        f"{group.get('claim_dataset', 'the claim dataset')} was not run here")
    ours.reason = "; ".join(p for p in parts if p)
    return ours


def classification_rows(paper: str, name: str, claim: dict, dataset: str, groups: list[dict],
                        workspace: Workspace, paper_budget: int | None = None) -> list[Ours]:
    mine = [g for g in groups if g["paper"] == paper and g["experiment"] == name]
    real = [g for g in mine if g["eval_dataset"] == dataset and not g["synthetic"]]
    if real:
        # In-domain first; one row per training dataset when a claim is answered by several.
        real.sort(key=lambda g: (g["dataset"] != g["eval_dataset"], g["dataset"]))
        return [_from_group(g, claim["metric"], claim["value"], synthetic=False, cut=budget_cut(g, paper_budget))
                for g in real]
    synthetic = [g for g in mine if g["synthetic"]]
    if synthetic:
        group = dict(synthetic[0], claim_dataset=dataset)
        return [_from_group(group, claim["metric"], claim["value"], synthetic=True)]
    if paper not in workspace.papers:
        return [Ours("untestable", f"{paper} is not in `papers:` of the main config, so it was not run in this workspace")]
    return [Ours("untestable", f"no run of {name} was tested on {dataset} in this workspace (profile {workspace.profile})")]


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
    return Ours(verdict(claimed, value - half, value + half, is_synthetic=False), note, mean=value,
                ci_low=value - half, ci_high=value + half, seeds="exact", digits=digits,
                ci_label="exact value ± half a unit of the claim's last digit")


def efficiency_row(paper: str, name: str, claim: dict, dataset: str | None, efficiency: dict,
                   workspace: Workspace) -> Ours:
    entry = _efficiency_entry(efficiency, paper, name, dataset)
    if entry is None:
        why = ("it is not in `papers:` of the main config" if paper not in workspace.papers
               else "this experiment was not measured")
        return Ours("untestable", f"efficiency of {paper}/{name} not measured in this workspace: {why}")
    shape = "x".join(str(v) for v in entry["input_shape"])
    where = f"{entry['model']} at {shape} (C x H x W), {entry['num_classes']} classes, random init"
    metric, claimed = claim["metric"], float(claim["value"])
    if metric == "params":
        return _deterministic(float(entry["parameters"]["total"]), claimed, 0,
                              f"{where}; exact count; the claim rounds to ±{claim_resolution(claimed):g}")
    if metric == "gflops":
        flops = entry["flops"]
        half = claim_resolution(claimed)
        as_macs = verdict(claimed, flops["gmacs"] - half, flops["gmacs"] + half, is_synthetic=False)
        return _deterministic(float(flops["gflops"]), claimed, 3,
                              f"{where}; FlopCounterMode counts 2 FLOPs per multiply-add: {flops['gflops']:.3f} GFLOPs = "
                              f"{flops['gmacs']:.3f} GMACs; read as MACs the claim is: {as_macs}")
    # latency_ms
    cpu = entry.get("latency_cpu") or {}
    cpu_b1 = next((r for r in cpu.get("results", []) if r["batch_size"] == 1), None)
    cpu_text = (f"our CPU batch-1 median: {cpu_b1['median_ms']:.1f} ms ({cpu.get('threads')} threads, {cpu.get('device_name')})"
                if cpu_b1 else "no CPU latency measured")
    gpu = entry.get("latency_gpu")
    gpu_b1 = next((r for r in (gpu or {}).get("results", []) if r["batch_size"] == 1), None)
    if not gpu_b1:
        return Ours("untestable", f"the claim is a GPU/device latency and no GPU was available here; {cpu_text}")
    ci = median_ci(gpu_b1["times_ms"])
    return Ours(verdict(claimed, ci["ci_low"], ci["ci_high"], is_synthetic=False),
                f"GPU {gpu.get('device_name')}, batch 1, fp32, median of {gpu_b1['n_runs']} runs (percentile bootstrap CI "
                f"of the median); the paper's hardware differs; {cpu_text}",
                mean=ci["estimate"], ci_low=ci["ci_low"], ci_high=ci["ci_high"], seeds="timing", digits=2,
                ci_label="bootstrap CI of the median")


# ------------------------------------------------------------------------------------------------ table


def claim_rows(papers: list[dict], groups: list[dict], efficiency: dict, registry, workspace: Workspace) -> pd.DataFrame:
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
                dataset = claim_dataset(claim, experiment, paper)
                reason = permanent_reason(claim, experiment, dataset, registry)
                if reason:
                    results = [Ours("untestable", reason)]
                elif claim["metric"] in EFFICIENCY_METRICS:
                    results = [efficiency_row(paper["paper"], name, claim, dataset, efficiency, workspace)]
                else:
                    results = classification_rows(paper["paper"], name, claim, dataset, groups, workspace,
                                                  paper_epochs(paper, name))
                for ours in results:
                    records.append(_record(paper, name, claim, dataset, leaky, ours)
                                   | {"_order": (paper_index, first_index[base_name(name)], claim_index, leaky, name)})
    table = pd.DataFrame(records, columns=COLUMNS + list(NUMERIC) + ["_order"])
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
    return {"paper": paper["paper"], "table": claim["table"], "row": claim["row"], "experiment": name,
            "variant": "LEAKY" if leaky else "", "dataset": dataset or "", "metric": claim["metric"],
            "claimed": _claimed_text(claim["metric"], float(claim["value"])), "ours (mean ± sd)": ours_text,
            "95% CI": ci_text, "n seeds (folds)": ours.seeds, "verdict": ours.verdict, "reason / note": note,
            # machine-readable copies for the chart and tests
            "_claimed": float(claim["value"]), "_mean": ours.mean, "_low": ours.ci_low, "_high": ours.ci_high}


def verdict_counts(table: pd.DataFrame) -> str:
    counts = Counter(table["verdict"])
    return ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)


# ------------------------------------------------------------------------------------------------ chart


def plot_claims(table: pd.DataFrame, path: str | Path, metric: str = "test_accuracy") -> None:
    """Claimed vs ours with the CI, one panel per paper, for one metric (test accuracy by default)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = table[table["metric"] == metric]
    papers = list(dict.fromkeys(rows["paper"]))
    heights = [max(1.5, 0.28 * (rows["paper"] == p).sum() + 0.8) for p in papers] or [1.5]
    fig, axes = plt.subplots(len(heights), 1, figsize=(10, sum(heights) + 0.8), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    if not papers:
        axes[0, 0].text(0.5, 0.5, f"no {metric} claims", ha="center", va="center")
        axes[0, 0].set_axis_off()
    colours = {"reproduced": "tab:green", "not reproduced (higher)": "tab:red", "not reproduced (lower)": "tab:red",
               "synthetic only": "tab:gray", "untestable": "lightgray"}
    for ax, paper in zip(axes[:, 0], papers):
        part = rows[rows["paper"] == paper].reset_index(drop=True)
        y = range(len(part))[::-1]
        labels = [f"{r.experiment}{' (LEAKY)' if r.variant else ''} · {r.dataset} · {r.table[:24]}"
                  + (" (untestable)" if r.verdict == "untestable" else "") for r in part.itertuples()]
        ax.scatter(part["_claimed"], list(y), marker="x", color="black", zorder=3, label="claimed")
        for yi, (_, r) in zip(y, part.iterrows()):
            mean, low, high = r["_mean"], r["_low"], r["_high"]
            if mean is None or (isinstance(mean, float) and math.isnan(mean)):
                continue
            colour = colours[r["verdict"]]
            hollow = r["verdict"] == "synthetic only"
            ax.errorbar([mean], [yi], xerr=[[mean - low], [high - mean]], fmt="o", color=colour,
                        mfc="white" if hollow else colour, capsize=3, zorder=2)
        ax.set_yticks(list(y), labels, fontsize=7)
        ax.set_ylim(-0.6, len(part) - 0.4)
        ax.set_xlim(0, 1)
        ax.set_title(paper, fontsize=9, loc="left")
        ax.grid(axis="x", alpha=0.3)
    handles = [plt.Line2D([], [], marker="x", ls="", color="black", label="claimed"),
               plt.Line2D([], [], marker="o", ls="-", color="tab:green", label="ours, reproduced (95% CI)"),
               plt.Line2D([], [], marker="o", ls="-", color="tab:red", label="ours, not reproduced"),
               plt.Line2D([], [], marker="o", ls="-", color="tab:gray", mfc="white", label="ours on synthetic (not comparable)")]
    fig.legend(handles=handles, loc="upper right", fontsize=7, ncol=2)
    fig.suptitle(f"Claimed vs reproduced {metric.replace('_', ' ')} (95% CI)", fontsize=10, x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -------------------------------------------------------------------------------------------------- CLI


def load_efficiency(paths: list[str | Path]) -> dict[str, dict]:
    reports = {}
    for path in paths:
        data = json.loads(Path(path).read_text())
        if "paper" not in data or "models" not in data:
            raise ValueError(f"{path}: not an efficiency report (needs `paper` and `models`)")
        reports[data["paper"]] = data
    return reports


def build_table(paper_config_dir: str | Path, experiments_json: str | Path, efficiency_files: list[str | Path],
                registry_path: str | Path, workspace: Workspace) -> pd.DataFrame:
    from ferrepro.config import load_paper_config
    from ferrepro.data.registry import load_registry

    papers = [load_paper_config(p) for p in sorted(Path(paper_config_dir).glob("*.yaml"))]
    groups = json.loads(Path(experiments_json).read_text())["groups"]
    return claim_rows(papers, groups, load_efficiency(efficiency_files), load_registry(registry_path), workspace)


def notes(table: pd.DataFrame) -> list[str]:
    return [
        f"{len(table)} claims: {verdict_counts(table)}.",
        "Fractions, not percent. CI: bootstrap BCa 95% over test samples, statistic = mean over seeds, folds pooled "
        "(results/experiments.md says how); params/GFLOPs exact; epochs: range over runs.",
        "Runs on the synthetic dataset check the pipeline; they are never compared with a claim (verdict 'synthetic only').",
    ]


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ferrepro claims", description=__doc__.split("\n\n")[0])
    parser.add_argument("--paper-config-dir", default="config/papers")
    parser.add_argument("--experiments", required=True, help="results/experiments.json")
    parser.add_argument("--efficiency", nargs="*", default=[], help="results/efficiency/<paper>.json files")
    parser.add_argument("--registry", default="config/datasets.yaml")
    parser.add_argument("--profile", required=True, help="the active profile (named in untestable reasons)")
    parser.add_argument("--papers", nargs="*", default=[], help="the papers this workspace runs")
    parser.add_argument("--out-csv", required=True)
    parser.add_argument("--out-md", required=True)
    parser.add_argument("--out-html")
    parser.add_argument("--out-png")
    args = parser.parse_args(argv)
    table = build_table(args.paper_config_dir, args.experiments, args.efficiency, args.registry,
                        Workspace(args.profile, tuple(args.papers)))
    shown = table[COLUMNS]
    write_table(shown, "Claims against reproduced numbers", None, args.out_md, args.out_html, notes(table),
                table_id="claims", verdict_column="verdict")
    table.rename(columns={"_claimed": "claimed_value", "_mean": "ours_mean", "_low": "ci_low", "_high": "ci_high"}).to_csv(
        args.out_csv, index=False)
    if args.out_png:
        plot_claims(table, args.out_png)
    print(notes(table)[0])
    return 0
