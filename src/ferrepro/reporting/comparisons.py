"""Ablation pairs (``comparisons:`` in a paper config): McNemar and a bootstrap CI of the accuracy difference.

A comparison ``{a, b, label}`` names two experiments of the same paper. For every dataset both were
trained and tested on, and every seed, the two models' per-sample correctness is paired:

* **paired** when a and b were tested on the same samples (same split and seed). A sample that
  only one of them could score (a fusion model leaves out faces without landmarks) is dropped from
  both, so the pairs stay pairs; the table says how many. Then McNemar's test (statsmodels; exact
  binomial when fewer than 25 discordant pairs) and a paired bootstrap CI of acc(a) - acc(b);
* **unpaired** when the test sets differ (a leaky re-split against the proper split): the CI of the
  whole-test-set difference resamples the two test sets independently. McNemar's test and a paired
  bootstrap CI are then taken on the test images that BOTH test sets hold (same sample ids): the same
  images scored by both models, which is where a leak shows (the leaky model may have trained on their
  copies). The table names how many images that is.

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

from ferrepro.reporting.tables import fmt, interval, synthetic_title, write_table

COLUMNS = [
    "paper",
    "comparison",
    "a",
    "b",
    "trained on",
    "tested on",
    "seed",
    "n pairs",
    "accuracy a",
    "accuracy b",
    "difference a - b",
    "95% CI",
    "McNemar (only a / only b correct)",
    "McNemar p",
    "note",
]


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
        return {
            "paired": True,
            "ids": common,
            "dropped": len(a) + len(b) - 2 * len(common),
            "a": tuple(np.array([a[s][i] for s in common], dtype=np.int64) for i in (0, 1)),
            "b": tuple(np.array([b[s][i] for s in common], dtype=np.int64) for i in (0, 1)),
        }
    shared = sorted(set(a) & set(b))
    return {
        "paired": False,
        "ids": None,
        "dropped": 0,
        "a": tuple(np.array([v[i] for v in a.values()], dtype=np.int64) for i in (0, 1)),
        "b": tuple(np.array([v[i] for v in b.values()], dtype=np.int64) for i in (0, 1)),
        "shared": {
            "n": len(shared),
            "a": np.array([a[k][0] == a[k][1] for k in shared], dtype=bool),
            "b": np.array([b[k][0] == b[k][1] for k in shared], dtype=bool),
        },
    }


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
        result = {
            "seed": seed,
            "paired": pair["paired"],
            "n": len(correct_a) if pair["paired"] else f"{len(correct_a)} / {len(correct_b)}",
            "dropped": pair["dropped"],
            "accuracy_a": float(correct_a.mean()),
            "accuracy_b": float(correct_b.mean()),
        }
        if pair["paired"]:
            result["mcnemar"] = stats.mcnemar_test(correct_a, correct_b)
            result["difference"] = stats.paired_bootstrap_diff_ci(correct_a, correct_b)
        else:
            result["difference"] = stats.seed_mean_difference_ci(
                [pair["a"]], [pair["b"]], "accuracy", n_classes, paired_within_seed=False, shared_test_set=False
            )
            shared = pair["shared"]
            if shared["n"]:
                result["shared"] = {
                    "n": shared["n"],
                    "mcnemar": stats.mcnemar_test(shared["a"], shared["b"]),
                    "difference": stats.paired_bootstrap_diff_ci(shared["a"], shared["b"]),
                    "accuracy_a": float(shared["a"].mean()),
                    "accuracy_b": float(shared["b"].mean()),
                }
        results.append(result)
    if len(pairs) > 1:
        paired = all(p["paired"] for p in pairs.values())
        shared = paired and len({tuple(p["ids"]) for p in pairs.values()}) == 1
        ci = stats.seed_mean_difference_ci(
            [p["a"] for p in pairs.values()],
            [p["b"] for p in pairs.values()],
            "accuracy",
            n_classes,
            paired_within_seed=paired,
            shared_test_set=shared,
        )
        results.append(
            {
                "seed": "all",
                "paired": paired,
                "n": "",
                "dropped": sum(p["dropped"] for p in pairs.values()),
                "accuracy_a": float(np.mean([r["accuracy_a"] for r in results])),
                "accuracy_b": float(np.mean([r["accuracy_b"] for r in results])),
                "difference": ci,
                "shared_test_set": shared,
            }
        )
    return results


# ------------------------------------------------------------------------------------------------ table


def comparison_rows(paper_cfgs: list[dict], runs) -> pd.DataFrame:
    from ferrepro.reporting.experiments import group_runs

    groups = group_runs(runs)
    records = []
    for paper in paper_cfgs:
        for item in paper.get("comparisons") or []:
            base = {"paper": paper["paper"], "comparison": item["label"], "a": item["a"], "b": item["b"]}
            not_runnable = [
                side for side in ("a", "b") if paper["experiments"][item[side]].get("runnable", True) is False
            ]
            if not_runnable:
                records.append(
                    base | {"note": f"not run: {', '.join(item[s] for s in not_runnable)} is runnable: false"}
                )
                continue
            keys = sorted(
                {(d, e) for (p, g, d, e) in groups if p == paper["paper"] and g == item["a"]}
                & {(d, e) for (p, g, d, e) in groups if p == paper["paper"] and g == item["b"]}
            )
            if not keys:
                records.append(base | {"note": "no dataset on which both were run in this workspace"})
            for dataset, eval_dataset in keys:
                a_runs = groups[(paper["paper"], item["a"], dataset, eval_dataset)]
                b_runs = groups[(paper["paper"], item["b"], dataset, eval_dataset)]
                if a_runs[0].classes != b_runs[0].classes:
                    records.append(
                        base
                        | {
                            "trained on": dataset,
                            "tested on": eval_dataset,
                            "note": f"different label sets ({a_runs[0].classes} vs {b_runs[0].classes})",
                        }
                    )
                    continue
                for result in compare_groups(a_runs, b_runs, len(a_runs[0].classes)):
                    records.append(base | {"trained on": dataset, "tested on": eval_dataset} | _result_cells(result))
    return pd.DataFrame(records, columns=COLUMNS)


def _result_cells(result: dict) -> dict[str, Any]:
    diff = result["difference"]
    notes = []
    shared = result.get("shared")
    if not result["paired"]:
        notes.append("different test sets (unpaired): independent bootstrap of the whole-test-set difference")
    if shared:
        sd = shared["difference"]
        notes.append(
            f"McNemar and a paired CI on the {shared['n']} test images both test sets hold: accuracy "
            f"{fmt(shared['accuracy_a'])} vs {fmt(shared['accuracy_b'])}, difference {fmt(sd['difference'])} "
            f"{interval(sd['ci_low'], sd['ci_high'])}"
        )
    if result["dropped"]:
        notes.append(f"{result['dropped']} samples scored by only one model left out of the pairs")
    if result["seed"] == "all":
        notes.append(
            "difference of seed means; "
            + (
                "seeds resampled together (shared test set)"
                if result.get("shared_test_set")
                else "seeds resampled independently"
            )
        )
    if diff.get("fallback_reason"):
        notes.append(diff["fallback_reason"])
    mcnemar = result.get("mcnemar") or (shared or {}).get("mcnemar")
    return {
        "seed": result["seed"],
        "n pairs": result["n"],
        "accuracy a": fmt(result["accuracy_a"]),
        "accuracy b": fmt(result["accuracy_b"]),
        "difference a - b": fmt(diff["difference"]),
        "95% CI": interval(diff["ci_low"], diff["ci_high"]),
        "McNemar (only a / only b correct)": f"{mcnemar['only_a_correct']} / {mcnemar['only_b_correct']}"
        if mcnemar
        else "",
        "McNemar p": (f"{mcnemar['pvalue']:.3g} ({mcnemar['method']})" if mcnemar else ""),
        "note": "; ".join(notes),
    }


# ------------------------------------------------------------------------------------ leaky-vs-proper figure

LEAKY_LABEL = "leaky vs proper"


def _number(text) -> float | None:
    try:
        return float(str(text).split()[0])
    except (ValueError, IndexError):
        return None


def _interval(text) -> tuple[float | None, float | None]:
    parts = str(text).strip("[] ").split(",")
    if len(parts) != 2:
        return None, None
    return _number(parts[0]), _number(parts[1])


def leaky_vs_proper_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Per leaky-vs-proper comparison and dataset: leaky - proper with its CI and the McNemar p-values.

    ``table`` is the comparisons table as written (results/comparisons.csv, text cells). The seed-mean row
    is used when there are several seeds, else the one seed's row; the McNemar p of every seed is listed
    (on unpaired test sets it is the McNemar on the test images both hold, see the note column).
    """
    rows = table[table["comparison"].astype(str).str.lower().str.startswith(LEAKY_LABEL)]
    out = []
    for _, group in rows.groupby(["paper", "comparison", "trained on", "tested on"], sort=False, dropna=False):
        pooled = group[group["seed"].astype(str) == "all"]
        row = (pooled if len(pooled) else group).iloc[0]
        difference = _number(row["difference a - b"])
        if difference is None:
            continue  # not run (the note says why)
        low, high = _interval(row["95% CI"])
        seeds = group[group["seed"].astype(str) != "all"]
        pvalues = [(str(r["seed"]), _number(r["McNemar p"])) for _, r in seeds.iterrows()]
        out.append(
            {
                "label": f"{row['paper']}: {str(row['comparison'])[len(LEAKY_LABEL) :].lstrip(' :')} "
                f"({row['trained on']} -> {row['tested on']})",
                "difference": difference,
                "low": low,
                "high": high,
                "pvalues": [(seed, p) for seed, p in pvalues if p is not None],
                "synthetic": "synthetic" in (str(row["trained on"]), str(row["tested on"])),
            }
        )
    return out


def leaky_vs_proper_figure(table: pd.DataFrame):
    """Leaky minus proper test accuracy with its 95% CI, one row per comparison, the McNemar p beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = leaky_vs_proper_rows(table)
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.45 * max(len(rows), 1)))
    synthetic = any(r["synthetic"] for r in rows)
    title = "Leaky minus proper test accuracy (95% CI), McNemar p per seed"
    if synthetic:
        title += ": SYNTHETIC data (a pipeline check, not a paper's number)"
    fig.suptitle(title, fontsize=10)
    if not rows:
        ax.text(
            0.5,
            0.5,
            "no leaky-vs-proper comparison was run in this workspace",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        ax.set_axis_off()
        return fig
    y = np.arange(len(rows))[::-1]
    for yi, r in zip(y, rows):
        has_ci = r["low"] is not None and r["high"] is not None
        err = [[r["difference"] - r["low"]], [r["high"] - r["difference"]]] if has_ci else None
        ax.errorbar(r["difference"], yi, xerr=err, fmt="o", color="tab:red", capsize=3)
        ptext = ", ".join(f"{p:.3g}" for _, p in r["pvalues"]) or "n/a"
        ax.annotate(
            f"McNemar p = {ptext}",
            (1.02, yi),
            xycoords=("axes fraction", "data"),
            va="center",
            fontsize=8,
            annotation_clip=False,
        )
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, [r["label"] for r in rows], fontsize=8)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("accuracy(leaky) - accuracy(proper) (fraction; > 0: the leak inflates the score)")
    return fig


def plot_leaky_vs_proper(table: pd.DataFrame, path: str | Path) -> None:
    import matplotlib.pyplot as plt

    fig = leaky_vs_proper_figure(table)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ferrepro comparisons", description=__doc__.split("\n\n")[0])
    parser.add_argument("--metrics", nargs="*", default=[], help="metrics.json files (in-domain and cross-dataset)")
    parser.add_argument(
        "--paper-configs", nargs="+", required=True, help="config/papers/<paper>.yaml of the papers this workspace runs"
    )
    parser.add_argument("--out-csv", required=True)
    parser.add_argument("--out-md", required=True)
    parser.add_argument("--out-html")
    parser.add_argument("--out-json")
    parser.add_argument("--out-png", help="the leaky-vs-proper figure (results/leaky_vs_proper.png)")
    parser.add_argument("--current-specs", help="folder of the current run specs (results/specs): refuse stale files")
    args = parser.parse_args(argv)
    from ferrepro.config import load_paper_config
    from ferrepro.reporting.runs import load_runs

    configs = [load_paper_config(path) for path in args.paper_configs]
    table = comparison_rows(configs, load_runs(args.metrics, args.current_specs))
    notes = [
        "McNemar: statsmodels, exact binomial below 25 discordant pairs, else chi-square with continuity correction. "
        "CI: bootstrap (BCa, 2000 resamples) of acc(a) - acc(b) over test samples, paired when a and b share them.",
        "Runs on synthetic data check the pipeline; a difference there says nothing about the paper's ablation.",
    ]
    synthetic = bool(table["trained on"].eq("synthetic").any() or table["tested on"].eq("synthetic").any())
    write_table(
        table,
        synthetic_title("Ablation comparisons", synthetic),
        args.out_csv,
        args.out_md,
        args.out_html,
        notes,
        table_id="comparisons",
    )
    if args.out_json:
        Path(args.out_json).write_text(json.dumps(table.to_dict(orient="records"), indent=1))
    if args.out_png:
        plot_leaky_vs_proper(table, args.out_png)
    print(f"{len(table)} comparison rows")
    return 0
