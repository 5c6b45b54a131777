"""results/robustness.{csv,md,html}: accuracy drop per perturbation and severity, beside the paper's claim.

One row per run and condition (perturbation x severity) from each run's robustness.json
(ferrepro.evaluation.robustness.run_robustness), plus, when an experiment has several seeds or folds,
a row with the mean ± sd of the drop over them.

The only robustness claim among the papers is abdeldayem2025 §4.4: "an accuracy degradation of less
than 3% across all datasets" under random occlusion, noise injection and brightness variation, with
no magnitudes. It does not say whether 3 % is absolute (percentage points) or relative, so both
readings are checked: ``drop_pp < 3`` and ``100 * drop / clean accuracy < 3``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from ferrepro.reporting.tables import fmt, write_table

# paper -> (largest claimed drop, in the paper's "%", where it says so). Kept here, not in the paper
# config, because the claim schema has no robustness metric; move it there when one exists.
CLAIMED_MAX_DROP = {
    "abdeldayem2025": (3.0, "§4.4: 'accuracy degradation of less than 3% across all datasets'"),
}

COLUMNS = [
    "paper",
    "experiment",
    "dataset",
    "seed",
    "perturbation",
    "severity",
    "magnitude",
    "clean accuracy",
    "perturbed accuracy",
    "drop (pp)",
    "drop 95% CI (pp)",
    "relative drop (%)",
    "paper's claim",
    "within claim (pp / relative)",
]


def _within(paper: str, drop_pp: float, relative: float | None) -> tuple[str, str]:
    claim = CLAIMED_MAX_DROP.get(paper)
    if claim is None:
        return "", ""
    limit, where = claim
    absolute_ok = "yes" if drop_pp < limit else "no"
    relative_ok = "" if relative is None else ("yes" if relative < limit else "no")
    return f"< {limit:g} ({where})", f"{absolute_ok} / {relative_ok}"


def robustness_rows(reports: list[dict]) -> pd.DataFrame:
    records = []
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for report in sorted(reports, key=lambda r: (r["paper"], r["group"], r["dataset"], r["seed"], r.get("fold") or 0)):
        seed = f"{report['seed']}" + (f" (fold {report['fold']})" if report.get("fold") is not None else "")
        for c in report["conditions"]:
            claim, within = _within(report["paper"], c["drop_pp"], c["relative_drop_pct"])
            records.append(
                {
                    "paper": report["paper"],
                    "experiment": report["group"],
                    "dataset": report["dataset"],
                    "seed": seed,
                    "perturbation": c["perturbation"],
                    "severity": c["severity"],
                    "magnitude": c["magnitude"],
                    "clean accuracy": fmt(report["clean_accuracy"]),
                    "perturbed accuracy": fmt(c["accuracy"]),
                    "drop (pp)": fmt(c["drop_pp"], 2),
                    "drop 95% CI (pp)": f"[{c['drop_ci_low_pp']:.2f}, {c['drop_ci_high_pp']:.2f}]",
                    "relative drop (%)": fmt(c["relative_drop_pct"], 2),
                    "paper's claim": claim,
                    "within claim (pp / relative)": within,
                }
            )
            groups[
                (report["paper"], report["group"], report["dataset"], c["perturbation"], c["severity"], c["magnitude"])
            ].append(c | {"clean": report["clean_accuracy"]})
    for (paper, group, dataset, perturbation, severity, magnitude), members in groups.items():
        if len(members) < 2:
            continue
        drops = np.array([m["drop_pp"] for m in members])
        relative = [m["relative_drop_pct"] for m in members if m["relative_drop_pct"] is not None]
        claim, within = _within(paper, float(drops.mean()), float(np.mean(relative)) if relative else None)
        records.append(
            {
                "paper": paper,
                "experiment": group,
                "dataset": dataset,
                "seed": f"mean of {len(members)}",
                "perturbation": perturbation,
                "severity": severity,
                "magnitude": magnitude,
                "clean accuracy": fmt(float(np.mean([m["clean"] for m in members]))),
                "perturbed accuracy": fmt(float(np.mean([m["accuracy"] for m in members]))),
                "drop (pp)": f"{drops.mean():.2f} ± {drops.std(ddof=1):.2f}",
                "drop 95% CI (pp)": "",
                "relative drop (%)": fmt(float(np.mean(relative)), 2) if relative else "",
                "paper's claim": claim,
                "within claim (pp / relative)": within,
            }
        )
    table = pd.DataFrame(records, columns=COLUMNS)
    return table.sort_values(["paper", "experiment", "dataset", "perturbation", "severity"], kind="stable").reset_index(
        drop=True
    )


def notes(reports: list[dict]) -> list[str]:
    # The scale is read from the reports (each records the severities it used), so this table needs no torch.
    severities = reports[0]["severities"] if reports else {}
    scale = "; ".join(
        f"{name}: " + ", ".join(f"{s}={v:g}" for s, v in levels.items()) for name, levels in severities.items()
    )
    lines = [
        f"Severities (ferrepro.evaluation.robustness): {scale or 'see the module'} (occlusion: occluded area "
        "fraction of "
        "one black square; noise: Gaussian sigma on [0, 1] pixels; brightness: +/- shift, random sign per image).",
        "Images are perturbed at their decoded resolution, before the run's own preprocessing and resizing. Drop = "
        "clean "
        "minus perturbed accuracy in percentage points; CI: paired bootstrap over test images.",
    ]
    if not reports:
        lines.insert(0, "No run in this workspace has `robustness: true` in its spec, so nothing was measured.")
    if any(r.get("synthetic") for r in reports):
        lines.append("Runs on synthetic data check the pipeline only; their drops say nothing about a paper's claim.")
    return lines


class StaleRobustnessError(ValueError):
    """A robustness.json that was measured for another spec than the run's current one."""


def check_current_reports(paths: list[str], reports: list[dict], current_specs: str | Path) -> None:
    """Refuse a report unless it carries the digest of its run's current spec (results/specs/...)."""
    for path, report in zip(paths, reports):
        key = f"{report['paper']}/{report['experiment']}/{report['dataset']}/seed{report['seed']}"
        spec_file = Path(current_specs) / f"{key}.json"
        if not spec_file.exists():
            raise StaleRobustnessError(
                f"{path}: run {key} is not in the current run matrix (no {spec_file}); "
                "remove the file or name the config that makes this run"
            )
        current = json.loads(spec_file.read_text())["spec_digest"]
        if report.get("spec_digest") != current:
            raise StaleRobustnessError(
                f"{path}: stale: measured for spec {report.get('spec_digest') or '(none recorded)'}, but run {key}'s "
                f"current spec is {current}; rebuild it with `snakemake {path}`"
            )


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ferrepro robustness-table", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", nargs="*", default=[], help="robustness.json files")
    parser.add_argument("--out-csv", required=True)
    parser.add_argument("--out-md", required=True)
    parser.add_argument("--out-html")
    parser.add_argument("--current-specs", help="results/specs: refuse a report of another spec than the current one")
    args = parser.parse_args(argv)
    reports = [json.loads(Path(p).read_text()) for p in args.reports]
    if args.current_specs:
        try:
            check_current_reports(args.reports, reports, args.current_specs)
        except StaleRobustnessError as error:
            print(f"ferrepro robustness-table: {error}", file=sys.stderr)
            return 1
    write_table(
        robustness_rows(reports),
        "Robustness: accuracy drop under perturbations",
        args.out_csv,
        args.out_md,
        args.out_html,
        notes(reports),
        table_id="robustness",
    )
    return 0
