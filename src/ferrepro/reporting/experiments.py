"""Per experiment, over seeds and folds: mean ± sd and a bootstrap 95 % CI (results/experiments.*).

A *group* is every evaluation of one paper-config experiment trained on one dataset and tested on
one dataset: ``(paper, group, dataset, eval_dataset)``; it holds one or more seeds, and per seed one
run or one run per cross-validation fold.

How seeds and folds enter one interval (``ferrepro.evaluation.stats.seed_mean_ci``):

* **Folds are pooled.** Each test sample belongs to exactly one fold, so a seed's folds together
  form one test set (the whole dataset for k-fold CV); a seed's value is the metric on its pooled
  predictions (for accuracy: the fold accuracies weighted by fold size). A sample id found in two
  folds of one seed is an error.
* **Seeds are averaged.** The statistic is the mean over seeds of the per-seed metric; the
  bootstrap resamples test samples (2000 resamples, BCa, seed 0). When every seed was tested on
  the same samples (an official split, or pooled folds), one resample of sample indices is applied
  to all seeds together (paired: seeds err on the same hard faces). When the split itself depends
  on the seed, each seed's test set is resampled independently.
* The interval is about the finite test set for the models we trained; the spread between seeds
  is the sd shown beside it (with one seed, the sd is undefined and left empty).

Metrics: ``test_accuracy`` and ``macro_f1`` always; any other metric a paper claims for the group
as well (macro precision/recall, weighted F1, MCC from the predictions; ``val_accuracy`` from the
selected checkpoint's validation accuracy and validation size, which determine its bootstrap
exactly for one seed; ``epochs`` = the selected epoch, 1-based, i.e. the epochs trained up to the
checkpoint kept, with the range over runs as its interval instead of a CI).
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ferrepro.evaluation import stats
from ferrepro.evaluation.metrics import HISTORY, METRICS
from ferrepro.reporting.runs import EvaluatedRun, RunFileError, load_runs
from ferrepro.reporting.tables import interval, mean_sd, write_table

ALWAYS = ("test_accuracy", "macro_f1")
# Claim metric -> its stats name, for the whole-model metrics computed from the confusion matrix of the predictions.
PREDICTION_METRICS = {m.name: m.stats_name for m in METRICS if m.from_confusion and not m.per_class}
# Read per seed from the training history of the checkpoint kept (_split_accuracy, _epochs).
SEED_LEVEL_METRICS = tuple(m.name for m in METRICS if m.source == HISTORY)
# A per-class claim (``metric: f1, class: happy``) is kept under the key ``f1[happy]``.
CLASS_KEY = re.compile(r"^(?P<metric>" + "|".join(stats.CLASS_METRICS) + r")\[(?P<cls>[a-z_]+)\]$")
N_RESAMPLES = 2000
BOOTSTRAP_SEED = 0

GroupKey = tuple[str, str, str, str]  # paper, group (experiment), trained on, tested on


def group_runs(runs: list[EvaluatedRun]) -> dict[GroupKey, list[EvaluatedRun]]:
    groups: dict[GroupKey, list[EvaluatedRun]] = defaultdict(list)
    for run in runs:
        groups[(run.paper, run.group, run.dataset, run.eval_dataset)].append(run)
    return dict(sorted(groups.items()))


def _by_seed(runs: list[EvaluatedRun]) -> dict[int, list[EvaluatedRun]]:
    seeds: dict[int, list[EvaluatedRun]] = defaultdict(list)
    for run in runs:
        seeds[run.seed].append(run)
    for seed, members in seeds.items():
        folds = [r.fold for r in members]
        if len(members) > 1 and (None in folds or len(set(folds)) != len(folds)):
            raise RunFileError(
                f"seed {seed} has {len(members)} evaluations that are not distinct folds: "
                + ", ".join(str(r.metrics_path) for r in members)
            )
    return dict(sorted(seeds.items()))


def pooled_outcomes(members: list[EvaluatedRun]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One seed's (sample ids, true, predicted), its folds' test sets concatenated.

    A sample in two folds is an error."""
    ids, true, pred, origin = [], [], [], {}
    for run in sorted(members, key=lambda r: (r.fold is None, r.fold)):
        run_ids, run_true, run_pred = run.outcomes()
        for sample in run_ids:
            if sample in origin:
                raise RunFileError(
                    f"sample {sample!r} is in the test set of {origin[sample]} and of {run.metrics_path}: "
                    "cross-validation folds must not share test samples"
                )
            origin[sample] = run.metrics_path
        ids.append(run_ids), true.append(run_true), pred.append(run_pred)
    return np.concatenate(ids), np.concatenate(true), np.concatenate(pred)


def align_seeds(pooled: dict[int, tuple]) -> tuple[dict[int, tuple], bool]:
    """Sort each seed's outcomes by sample id when all seeds share one test set (then they are paired)."""
    id_sets = [frozenset(ids) for ids, _, _ in pooled.values()]
    shared = len(set(id_sets)) == 1
    if not shared:
        return pooled, False
    aligned = {}
    for seed, (ids, true, pred) in pooled.items():
        order = np.argsort(ids, kind="stable")
        aligned[seed] = (ids[order], true[order], pred[order])
    return aligned, True


def _check_same_classes(runs: list[EvaluatedRun]) -> list[str]:
    classes = runs[0].classes
    for run in runs[1:]:
        if run.classes != classes:
            raise RunFileError(
                f"{run.metrics_path} has classes {run.classes}, but {runs[0].metrics_path} has {classes}; "
                "runs of one experiment must share a label set"
            )
    return classes


def claim_key(claim: dict) -> str:
    """The experiments.json metric key of a claim: its metric, or ``<metric>[<class>]`` for a per-class claim."""
    return f"{claim['metric']}[{claim['class']}]" if claim.get("class") else str(claim["metric"])


def is_prediction_metric(key: str) -> bool:
    return key in PREDICTION_METRICS or CLASS_KEY.match(key) is not None


def scored_indices(runs: list[EvaluatedRun], classes: list[str]) -> list[int]:
    """Indices of the classes the runs' macro averages cover (metrics.json ``scored_classes``; union over runs)."""
    scored = set()
    for run in runs:
        scored.update(run.metrics.get("scored_classes") or classes)
    unknown = sorted(scored - set(classes))
    if unknown:
        raise RunFileError(f"scored_classes {unknown} are not among the classes {classes} of {runs[0].metrics_path}")
    return [i for i, c in enumerate(classes) if c in scored]


def _metric_args(key: str, classes: list[str]) -> tuple[str, int | None] | str:
    """(stats metric, class index) of a prediction-metric key, or why it cannot be computed."""
    match = CLASS_KEY.match(key)
    if match is None:
        return PREDICTION_METRICS[key], None
    if match["cls"] not in classes:
        return f"class {match['cls']!r} is not in this experiment's label set {classes}"
    return match["metric"], classes.index(match["cls"])


def _prediction_metric(
    metric: str, pooled: dict[int, tuple], shared: bool, classes: list[str], scored: list[int] | None = None
) -> dict[str, Any]:
    n_classes = len(classes)
    args = _metric_args(metric, classes)
    if isinstance(args, str):
        return {"unavailable": args}
    name, index = args
    scored = None if index is not None else scored
    per_seed = {
        seed: float(stats.metric_from_codes(stats.encode_outcomes(t, p, n_classes), n_classes, name, scored, index))
        for seed, (_, t, p) in pooled.items()
    }
    spread = stats.aggregate_seeds(per_seed.values())
    ci = stats.seed_mean_ci(
        [(t, p) for _, t, p in pooled.values()],
        name,
        n_classes,
        shared,
        n_resamples=N_RESAMPLES,
        seed=BOOTSTRAP_SEED,
        scored=scored,
        class_index=index,
    )
    return {
        "mean": spread["mean"],
        "sd": spread["sd"],
        "per_seed": per_seed,
        "ci_low": ci["ci_low"],
        "ci_high": ci["ci_high"],
        "interval": f"bootstrap {ci['method']} 95% CI",
        "fallback_reason": ci["fallback_reason"],
        "resampling": ci["resampling"],
    }


# Accuracies on the splits whose samples are not stored per sample: (metrics key, train_summary count key, note).
SPLIT_ACCURACIES = {
    "val_accuracy": ("n_val", "validation accuracy of the checkpoint selected on it: optimistically biased"),
    "train_accuracy": (
        "n_train",
        "epoch-mean training accuracy of the selected epoch (dropout and augmentation on, as Keras prints it)",
    ),
}


COUNT_NAMES = {"n_val": "validation", "n_train": "training"}


def _split_accuracy(by_seed: dict[int, list[EvaluatedRun]], metric: str) -> dict[str, Any]:
    count_key, note = SPLIT_ACCURACIES[metric]
    counts = {}
    for seed, members in by_seed.items():
        correct = total = 0
        for run in members:
            value = run.metrics.get(metric)
            n = run.train_summary().get(count_key)
            if value is None or not n:
                return {
                    "unavailable": f"{run.metrics_path}: no {metric} of the selected checkpoint "
                    f"(not recorded for this run, or {count_key} is missing)"
                }
            correct += int(round(float(value) * int(n)))
            total += int(n)
        counts[seed] = (correct, total)
    per_seed = {seed: c / n for seed, (c, n) in counts.items()}
    spread = stats.aggregate_seeds(per_seed.values())
    # These samples are not stored per sample, so seeds cannot be paired: resampled independently.
    ci = stats.seed_mean_ci(
        [stats.count_outcomes(c, n) for c, n in counts.values()],
        "accuracy",
        2,
        False,
        n_resamples=N_RESAMPLES,
        seed=BOOTSTRAP_SEED,
    )
    return {
        "mean": spread["mean"],
        "sd": spread["sd"],
        "per_seed": per_seed,
        "ci_low": ci["ci_low"],
        "ci_high": ci["ci_high"],
        "interval": f"bootstrap {ci['method']} 95% CI (from {COUNT_NAMES[count_key]} counts)",
        "fallback_reason": ci["fallback_reason"],
        "resampling": "independent per seed (samples not stored)",
        "note": note,
    }


def _epochs(runs: list[EvaluatedRun]) -> dict[str, Any]:
    values = [int(r.metrics["selected_epoch"]) + 1 for r in runs if r.metrics.get("selected_epoch") is not None]
    if len(values) != len(runs):
        return {"unavailable": "selected_epoch missing from some metrics.json"}
    spread = stats.aggregate_seeds(values)
    bounds = stats.seed_range(values)
    return {
        "mean": spread["mean"],
        "sd": spread["sd"],
        "values": values,
        "ci_low": bounds["low"],
        "ci_high": bounds["high"],
        "interval": "range over runs (no sampling model for an epoch count)",
        "note": "selected epoch, 1-based: epochs trained up to the checkpoint evaluated on test",
    }


PROVENANCE_COLUMNS = [
    "spec digests",
    "commits",
    "dirty",
    "data sha256",
    "seeds",
    "torch",
    "lightning",
    "device",
    "reproduce with",
    "run folders",
]


def _distinct(values) -> str:
    return ";".join(str(v) for v in dict.fromkeys(values) if v not in (None, ""))


def group_provenance(runs: list[EvaluatedRun]) -> dict[str, str]:
    """Where a group's numbers come from, as flat text cells (one value per distinct entry, ';'-joined)."""
    prov = [r.metrics.get("provenance") or {} for r in runs]
    training = [p.get("training") or {} for p in prov]
    return {
        "spec digests": _distinct(p.get("spec_digest") for p in prov),
        "commits": _distinct((t.get("code") or {}).get("commit") for t in training),
        "dirty": _distinct((t.get("code") or {}).get("dirty") for t in training),
        "data sha256": _distinct(
            f"{name}/{file}:{sha}"
            for p in prov
            for name, files in (p.get("data") or {}).items()
            for file, sha in files.items()
            if file != "computed"
        ),
        "seeds": _distinct(sorted({r.seed for r in runs})),
        "torch": _distinct((t.get("software") or {}).get("torch") for t in training),
        "lightning": _distinct((t.get("software") or {}).get("lightning") for t in training),
        "device": _distinct(p.get("device") for p in prov),
        "reproduce with": "snakemake " + " ".join(sorted(r.metrics_path.as_posix() for r in runs)),
        "run folders": _distinct(sorted(r.folder.as_posix() for r in runs)),
    }


def aggregate_group(runs: list[EvaluatedRun], metrics: tuple[str, ...] = ALWAYS) -> dict[str, Any]:
    """Mean ± sd over seeds and the CI of every requested metric for one group of runs."""
    classes = _check_same_classes(runs)
    scored = scored_indices(runs, classes)
    by_seed = _by_seed(runs)
    pooled, shared = align_seeds({seed: pooled_outcomes(members) for seed, members in by_seed.items()})
    leaky = {r.leaky for r in runs}
    if len(leaky) != 1:
        raise RunFileError(
            "one experiment mixes leaky and proper runs: " + ", ".join(str(r.metrics_path) for r in runs)
        )
    first = runs[0]
    folds = sorted({r.fold for r in runs if r.fold is not None})
    out: dict[str, Any] = {
        "paper": first.paper,
        "experiment": first.group,
        "dataset": first.dataset,
        "eval_dataset": first.eval_dataset,
        "synthetic": any(r.synthetic for r in runs),
        "leaky": leaky.pop(),
        "seeds": sorted(by_seed),
        "n_seeds": len(by_seed),
        "folds": folds,
        "n_folds": len(folds),
        "n_test": {s: int(len(v[0])) for s, v in pooled.items()},
        "shared_test_set": shared,
        "classes": classes,
        "scored_classes": [classes[i] for i in scored],
        "runs": sorted(str(r.metrics_path) for r in runs),
        "metrics": {},
        # The epoch budget the runs had, and how many used all of it (did not stop early): the claims table
        # compares this with the paper's own budget to flag runs a preset cut short.
        "max_epochs": max((int(r.metrics["max_epochs"]) for r in runs if r.metrics.get("max_epochs")), default=None),
        "runs_at_epoch_limit": sum(1 for r in runs if r.metrics.get("stopped_early") is False),
    }
    out["provenance"] = group_provenance(runs)
    for metric in dict.fromkeys(ALWAYS + tuple(metrics)):
        if is_prediction_metric(metric):
            out["metrics"][metric] = _prediction_metric(metric, pooled, shared, classes, scored)
        elif metric in SPLIT_ACCURACIES:
            out["metrics"][metric] = _split_accuracy(by_seed, metric)
        elif metric == "epochs":
            out["metrics"][metric] = _epochs(runs)
        # other claim metrics (params, gflops, latency_ms) come from the efficiency measurements
    return out


def claimed_metrics(papers: list[dict]) -> dict[tuple[str, str], set[str]]:
    """{(paper, experiment): metrics its claims name} over the paper configs."""
    wanted: dict[tuple[str, str], set[str]] = defaultdict(set)
    for paper in papers:
        for name, experiment in paper["experiments"].items():
            for claim in experiment.get("claims") or []:
                wanted[(paper["paper"], name)].add(claim_key(claim))
    return wanted


def aggregate(
    metrics_files: list[str | Path], papers: list[dict] | None = None, current_specs: str | Path | None = None
) -> list[dict[str, Any]]:
    """One row per (paper, experiment, dataset, eval dataset) group, with the metrics ``papers``' claims name."""
    wanted = claimed_metrics(papers or [])
    rows = []
    for (paper, group, _, _), runs in group_runs(load_runs(metrics_files, current_specs)).items():
        extra = tuple(
            sorted(m for m in wanted.get((paper, group), ()) if is_prediction_metric(m) or m in SEED_LEVEL_METRICS)
        )
        rows.append(aggregate_group(runs, extra))
    return rows


def seeds_label(row: dict[str, Any]) -> str:
    label = f"{row['n_seeds']} seed{'s' if row['n_seeds'] != 1 else ''}"
    return label + (f" x {row['n_folds']} folds" if row["n_folds"] else "")


TABLE_COLUMNS = [
    "paper",
    "experiment",
    "trained on",
    "tested on",
    "leaky",
    "seeds (folds)",
    "test samples per seed",
    "resampling",
    "accuracy (mean ± sd)",
    "accuracy 95% CI",
    "macro-F1 (mean ± sd)",
    "macro-F1 95% CI",
]


def to_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    records = []
    for row in rows:
        record = {
            "paper": row["paper"],
            "experiment": row["experiment"],
            "trained on": row["dataset"],
            "tested on": row["eval_dataset"],
            "leaky": "LEAKY" if row["leaky"] else "",
            "seeds (folds)": seeds_label(row),
            "test samples per seed": ", ".join(str(v) for v in row["n_test"].values()),
            "resampling": row["metrics"]["test_accuracy"]["resampling"],
        }
        for metric, label in (("test_accuracy", "accuracy"), ("macro_f1", "macro-F1")):
            m = row["metrics"][metric]
            record[f"{label} (mean ± sd)"] = mean_sd(m["mean"], m["sd"])
            record[f"{label} 95% CI"] = interval(m["ci_low"], m["ci_high"])
        records.append(record | row.get("provenance", {}))
    return pd.DataFrame(records, columns=TABLE_COLUMNS + PROVENANCE_COLUMNS)


NOTES = (
    "CI: scipy.stats.bootstrap, BCa, 2000 resamples of test samples (seed 0); statistic = mean over seeds of the "
    "per-seed metric, folds pooled per seed. Seeds sharing one test set are resampled together (paired), "
    "seed-dependent test sets independently. sd = sample sd over seeds (empty with one seed).",
    "Runs on the synthetic dataset test the pipeline only; they are never compared with a paper's claims.",
)


def skipped_notes(skipped: dict[str, str]) -> tuple[str, ...]:
    """One note per cross-test target the papers ask for that is missing on disk (no group, so no row)."""
    return tuple(f"Cross-test on {dataset} skipped: {reason}." for dataset, reason in sorted(skipped.items()))


def _jsonable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return json.loads(json.dumps(rows, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def parse_skipped(text: str) -> dict[str, str]:
    """--skipped-cross: a JSON object {dataset: reason}."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(
            f"--skipped-cross must be a JSON object {{dataset: reason}}: {error}"
        ) from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise argparse.ArgumentTypeError(f"--skipped-cross must be a JSON object {{dataset: reason}}, got {text!r}")
    return value


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ferrepro experiments", description=__doc__.split("\n\n")[0])
    parser.add_argument("--metrics", nargs="*", default=[], help="metrics.json files (in-domain and cross-dataset)")
    parser.add_argument(
        "--paper-configs",
        nargs="+",
        required=True,
        help="config/papers/<paper>.yaml of the papers this workspace runs: the metrics their claims name are added",
    )
    parser.add_argument("--current-specs", help="folder of the current run specs (results/specs): refuse stale files")
    parser.add_argument(
        "--skipped-cross",
        default="{}",
        type=parse_skipped,
        help="JSON {dataset: reason}: cross-test targets missing on disk (config.skipped_cross_targets)",
    )
    parser.add_argument("--out-json", required=True)
    parser.add_argument("--out-csv", required=True)
    parser.add_argument("--out-md", required=True)
    parser.add_argument("--out-html")
    args = parser.parse_args(argv)
    from ferrepro.config import load_paper_config

    rows = aggregate(args.metrics, [load_paper_config(path) for path in args.paper_configs], args.current_specs)
    Path(args.out_json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out_json).write_text(
        json.dumps(
            {"method": __doc__, "groups": _jsonable(rows), "skipped_cross_targets": args.skipped_cross}, indent=1
        )
    )
    write_table(
        to_table(rows),
        "Experiments over seeds and folds",
        args.out_csv,
        args.out_md,
        args.out_html,
        NOTES + skipped_notes(args.skipped_cross),
        table_id="experiments",
    )
    print(f"{len(rows)} experiment groups from {len(args.metrics)} evaluations")
    return 0
