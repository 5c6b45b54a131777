"""`ferrepro <command>`: the single entry point that Snakemake rules and users call.

Each command lives in the module that owns its logic and exposes ``cli(argv) -> int``. Modules are
imported lazily so that, e.g., ``ferrepro split`` never pays for importing torch.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module:function, one-line help)
    "make-synthetic": ("ferrepro.data.synthetic:cli", "render the embedded synthetic face dataset"),
    "decode": ("ferrepro.data.decode:cli", "decode a real dataset from its native layout into the standard format"),
    "check-data": ("ferrepro.data.acquire:cli", "check (or, for public files, download) a raw dataset"),
    "audit": ("ferrepro.data.audit:cli", "leakage audit of a decoded dataset and one split list"),
    "split": ("ferrepro.data.splits:cli", "write a seeded split list for a decoded dataset"),
    "features": ("ferrepro.features.cli:cli", "compute one cached handcrafted feature array (hog, sliding_hog, landmarks)"),
    "train": ("ferrepro.training.run:cli", "train one run (paper/experiment/dataset/seed) with Lightning"),
    "evaluate": ("ferrepro.evaluation.evaluate:cli", "evaluate a trained run once on its test split"),
    "predict": ("ferrepro.predict:cli", "classify the expression of every face in your own photos with a trained run"),
    "efficiency": ("ferrepro.evaluation.efficiency:cli", "parameters, FLOPs and latency of a registered model"),
    "summary": ("ferrepro.reporting.summary:cli", "collect every run's metrics into results/summary.*"),
    "experiments": ("ferrepro.reporting.experiments:cli", "per experiment over seeds and folds: mean ± sd and bootstrap CIs"),
    "claims": ("ferrepro.reporting.claims:cli", "the claims table: every claimed number beside ours, with CI and verdict"),
    "comparisons": ("ferrepro.reporting.comparisons:cli", "ablation pairs: McNemar and a bootstrap CI of the accuracy difference"),
    "efficiency-paper": ("ferrepro.reporting.efficiency_measure:cli_measure", "params, FLOPs and latency of one paper's models at its input size"),
    "efficiency-table": ("ferrepro.reporting.efficiency_table:cli_table", "collect results/efficiency/*.json into results/efficiency.*"),
    "robustness": ("ferrepro.evaluation.robustness:cli", "accuracy of a trained run under occlusion, noise and brightness shifts"),
    "robustness-table": ("ferrepro.reporting.robustness_table:cli", "collect robustness.json files into results/robustness.*"),
    "plot-data": ("ferrepro.reporting.plot_data:cli", "lay out learning curves, predictions and confusion matrices for dvc plots"),
    "show-config": ("ferrepro.config:cli", "print the resolved run matrix for a config"),
    "paper-docs": ("ferrepro.paper_docs:cli", "regenerate the experiment tables of docs/papers/*.md from the paper configs"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: ferrepro <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in sorted(COMMANDS.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"ferrepro: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, func_name = COMMANDS[name][0].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
