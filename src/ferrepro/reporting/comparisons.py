"""Ablation pairs (``comparisons:`` in a paper config): McNemar and a bootstrap CI of the accuracy difference.

A comparison ``{a, b, label}`` names two experiments of the same paper. For every dataset both were
trained and tested on, and every seed, the two models' per-sample correctness is paired:

* **paired** when a and b were tested on the same samples (same split and seed). A sample that
  only one of them could score (a fusion model leaves out faces without landmarks) is dropped from
  both, so the pairs stay pairs; the table says how many. Then McNemar's test (statsmodels; exact
  binomial when fewer than 25 discordant pairs) and a paired bootstrap CI of acc(a) - acc(b);
* **unpaired** when the test sets differ (a leaky re-split against the proper split): McNemar is
  undefined, and the CI resamples the two test sets independently.

Over all seeds: the difference of the seed means with its bootstrap CI (seeds resampled together
when they share one test set), folds pooled per seed as in ferrepro.reporting.experiments.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ferrepro.reporting.config_checks import validate_comparisons
from ferrepro.reporting.tables import fmt, interval, write_table

COLUMNS = ["paper", "comparison", "a", "b", "trained on", "tested on", "seed", "n pairs", "accuracy a", "accuracy b",
           "difference a - b", "95% CI", "McNemar (only a / only b correct)", "McNemar p", "note"]


# ---------------------------------------------------------------------------------------------- pairing


def _universe(run) -> set[str]:
    """Every test sample the run was meant to score: the scored ones and those left out for missing features."""
    ids, _, _ = run.outcomes()
    return set(ids) | {str(s) for s in run.metrics.get("excluded_missing_features") or []}


def _seed_outcomes(members) -> tuple[dict[str, tuple[int, int]], set[str]]:
    """{sample: (true, predicted)} of one seed (folds pooled) and its universe of intended samples."""
    from ferrepro.reporting.experiments import pooled_outcomes

    ids, true, pred = pooled_outcomes(members)
    universe = set().union(*(_universe(r) for r in members))
    return {s: (t, p) for s, t, p in zip(ids, true, pred)}, universe


def pair_seed(a_members, b_members) -> dict[str, Any]:
    """Outcome vectors of one seed: paired on common samples when both meant to score the same test set."""
    a, universe_a = _seed_outcomes(a_members)
    b, universe_b = _seed_outcomes(b_members)
    if universe_a == universe_b:
        common = sorted(set(a) & set(b))
        return {"paired": True, "ids": common, "dropped": len(a) + len(b) - 2 * len(common),
                "a": tuple(np.array([a[s][i] for s in common], dtype=np.int64) for i in (0, 1)),
                "b": tuple(np.array([b[s][i] for s in common], dtype=np.int64) for i in (0, 1))}
    return {"paired": False, "ids": None, "dropped": 0,
            "a": tuple(np.array([v[i] for v in a.values()], dtype=np.int64) for i in (0, 1)),
            "b": tuple(np.array([v[i] for v in b.values()], dtype=np.int64) for i in (0, 1))}


def _by_seed(runs) -> dict[int, list]:
    seeds = defaultdict(list)
    for run in runs:
        seeds[run.seed].append(run)
    return dict(sorted(seeds.items()))


def compare_groups(a_runs, b_runs, n_classes: int) -> list[dict[str, Any]]:
    """One result per common seed, then (with several seeds) one over all seeds."""
    from ferrepro.evaluation import stats

    a_seeds, b_seeds = _by_seed(a_runs), _by_seed(b_runs)
    seeds = sorted(set(a_seeds) & set(b_seeds))
    pairs = {seed: pair_seed(a_seeds[seed], b_seeds[seed]) for seed in seeds}
    results = []
    for seed, pair in pairs.items():
        (ta, pa), (tb, pb) = pair["a"], pair["b"]
        correct_a, correct_b = ta == pa, tb == pb
        result = {"seed": seed, "paired": pair["paired"], "n": len(correct_a) if pair["paired"] else f"{len(correct_a)} / {len(correct_b)}",
                  "dropped": pair["dropped"], "accuracy_a": float(correct_a.mean()), "accuracy_b": float(correct_b.mean())}
        if pair["paired"]:
            result["mcnemar"] = stats.mcnemar_test(correct_a, correct_b)
            result["difference"] = stats.paired_bootstrap_diff_ci(correct_a, correct_b)
        else:
            result["difference"] = stats.seed_mean_difference_ci([pair["a"]], [pair["b"]], "accuracy", n_classes,
                                                                 paired_within_seed=False, shared_test_set=False)
        results.append(result)
    if len(pairs) > 1:
        paired = all(p["paired"] for p in pairs.values())
        shared = paired and len({tuple(p["ids"]) for p in pairs.values()}) == 1
        ci = stats.seed_mean_difference_ci([p["a"] for p in pairs.values()], [p["b"] for p in pairs.values()], "accuracy",
                                           n_classes, paired_within_seed=paired, shared_test_set=shared)
        results.append({"seed": "all", "paired": paired, "n": "", "dropped": sum(p["dropped"] for p in pairs.values()),
                        "accuracy_a": float(np.mean([r["accuracy_a"] for r in results])),
                        "accuracy_b": float(np.mean([r["accuracy_b"] for r in results])), "difference": ci,
                        "shared_test_set": shared})
    return results


# ------------------------------------------------------------------------------------------------ table


def comparison_rows(paper_cfgs: list[dict], runs) -> pd.DataFrame:
    from ferrepro.reporting.experiments import group_runs

    groups = group_runs(runs)
    records = []
    for paper in paper_cfgs:
        for item in paper.get("comparisons") or []:
            base = {"paper": paper["paper"], "comparison": item["label"], "a": item["a"], "b": item["b"]}
            not_runnable = [side for side in ("a", "b") if paper["experiments"][item[side]].get("runnable", True) is False]
            if not_runnable:
                records.append(base | {"note": f"not run: {', '.join(item[s] for s in not_runnable)} is runnable: false"})
                continue
            keys = sorted({(d, e) for (p, g, d, e) in groups if p == paper["paper"] and g == item["a"]}
                          & {(d, e) for (p, g, d, e) in groups if p == paper["paper"] and g == item["b"]})
            if not keys:
                records.append(base | {"note": "no dataset on which both were run in this workspace"})
            for dataset, eval_dataset in keys:
                a_runs = groups[(paper["paper"], item["a"], dataset, eval_dataset)]
                b_runs = groups[(paper["paper"], item["b"], dataset, eval_dataset)]
                if a_runs[0].classes != b_runs[0].classes:
                    records.append(base | {"trained on": dataset, "tested on": eval_dataset,
                                           "note": f"different label sets ({a_runs[0].classes} vs {b_runs[0].classes})"})
                    continue
                for result in compare_groups(a_runs, b_runs, len(a_runs[0].classes)):
                    records.append(base | {"trained on": dataset, "tested on": eval_dataset} | _result_cells(result))
    return pd.DataFrame(records, columns=COLUMNS)


def _result_cells(result: dict) -> dict[str, Any]:
    diff = result["difference"]
    notes = []
    if not result["paired"]:
        notes.append("different test sets (unpaired): McNemar undefined, independent bootstrap")
    if result["dropped"]:
        notes.append(f"{result['dropped']} samples scored by only one model left out of the pairs")
    if result["seed"] == "all":
        notes.append("difference of seed means; " + ("seeds resampled together (shared test set)" if result.get("shared_test_set")
                                                      else "seeds resampled independently"))
    if diff.get("fallback_reason"):
        notes.append(diff["fallback_reason"])
    mcnemar = result.get("mcnemar")
    return {"seed": result["seed"], "n pairs": result["n"], "accuracy a": fmt(result["accuracy_a"]),
            "accuracy b": fmt(result["accuracy_b"]), "difference a - b": fmt(diff["difference"]),
            "95% CI": interval(diff["ci_low"], diff["ci_high"]),
            "McNemar (only a / only b correct)": f"{mcnemar['only_a_correct']} / {mcnemar['only_b_correct']}" if mcnemar else "",
            "McNemar p": (f"{mcnemar['pvalue']:.3g} ({mcnemar['method']})" if mcnemar else ""), "note": "; ".join(notes)}


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ferrepro comparisons", description=__doc__.split("\n\n")[0])
    parser.add_argument("--metrics", nargs="*", default=[], help="metrics.json files (in-domain and cross-dataset)")
    parser.add_argument("--paper-config-dir", default="config/papers")
    parser.add_argument("--papers", nargs="+", required=True, help="the papers this workspace runs")
    parser.add_argument("--out-csv", required=True)
    parser.add_argument("--out-md", required=True)
    parser.add_argument("--out-html")
    parser.add_argument("--out-json")
    args = parser.parse_args(argv)
    from ferrepro.config import load_paper_config
    from ferrepro.reporting.runs import load_runs

    configs = []
    for paper in args.papers:
        path = Path(args.paper_config_dir) / f"{paper}.yaml"
        cfg = load_paper_config(path)
        validate_comparisons(cfg, str(path))
        configs.append(cfg)
    table = comparison_rows(configs, load_runs(args.metrics))
    notes = ["McNemar: statsmodels, exact binomial below 25 discordant pairs, else chi-square with continuity correction. "
             "CI: bootstrap (BCa, 2000 resamples) of acc(a) - acc(b) over test samples, paired when a and b share them.",
             "Runs on synthetic data check the pipeline; a difference there says nothing about the paper's ablation."]
    write_table(table, "Ablation comparisons", args.out_csv, args.out_md, args.out_html, notes, table_id="comparisons")
    if args.out_json:
        Path(args.out_json).write_text(json.dumps(table.to_dict(orient="records"), indent=1))
    print(f"{len(table)} comparison rows")
    return 0
