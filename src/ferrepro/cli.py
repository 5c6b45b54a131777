"""`ferrepro <command>`: the single entry point that Snakemake rules and users call.

Each command lives in the module that owns its logic and exposes ``cli(argv) -> int``. Modules are
imported lazily so that, e.g., ``ferrepro split`` never pays for importing torch.

Here, for every command: a mistyped command gets "did you mean"; an *expected* error (one of the
project's own exception classes, whose messages name the file or key and say how to fix it, a missing
or unreadable file, a YAML syntax error) is printed as ``ferrepro <command>: error: <message>`` with
exit status 2 instead of a traceback (``FERREPRO_TRACEBACK=1`` shows the traceback); and help texts,
often the modules' docstrings, are shown without reStructuredText markup.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import os
import re
import sys

EXIT_USAGE = 2

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module:function, one-line help)
    "make-synthetic": ("ferrepro.data.synthetic:cli", "render the embedded synthetic face dataset"),
    "decode": ("ferrepro.data.decode:cli", "decode a real dataset from its native layout into the standard format"),
    "check-data": ("ferrepro.data.acquire:cli", "check (or, for public files, download) a raw dataset"),
    "data": ("ferrepro.data.status:cli", "`data status`: per dataset, present, missing or decoded; counts; next step"),
    "audit": ("ferrepro.data.audit:cli", "leakage audit of a decoded dataset and one split list"),
    "weights": (
        "ferrepro.models.weights:cli",
        "`weights check`: is the ImageNet DenseNet121 file in torch hub's cache, hash right? `weights where`",
    ),
    "split": ("ferrepro.data.splits:cli", "write a seeded split list for a decoded dataset"),
    "features": (
        "ferrepro.features.cli:cli",
        "compute one cached handcrafted feature array (hog, sliding_hog, landmarks)",
    ),
    "train": ("ferrepro.training.run:cli", "train one run (paper/experiment/dataset/seed) with Lightning"),
    "evaluate": ("ferrepro.evaluation.evaluate:cli", "evaluate a trained run once on its test split"),
    "predict": ("ferrepro.predict:cli", "classify the expression of every face in your own photos with a trained run"),
    "efficiency": (
        "ferrepro.evaluation.efficiency:cli",
        "parameters, FLOPs and latency of one paper's networks at its input size, or of one registered model",
    ),
    "summary": ("ferrepro.reporting.summary:cli", "collect every run's metrics into results/summary.*"),
    "experiments": (
        "ferrepro.reporting.experiments:cli",
        "per experiment over seeds and folds: mean ± sd and bootstrap CIs",
    ),
    "claims": (
        "ferrepro.reporting.claims:cli",
        "the claims table: every claimed number beside ours, with CI and verdict",
    ),
    "comparisons": (
        "ferrepro.reporting.comparisons:cli",
        "ablation pairs: McNemar and a bootstrap CI of the accuracy difference",
    ),
    "per-class": (
        "ferrepro.reporting.per_class:cli",
        "per-class precision, recall and F1 per paper and dataset, n/a for classes without test images",
    ),
    "efficiency-table": (
        "ferrepro.reporting.efficiency_table:cli_table",
        "collect results/efficiency/*.json into results/efficiency.*",
    ),
    "robustness": (
        "ferrepro.evaluation.robustness:cli",
        "accuracy of a trained run under occlusion, noise and brightness shifts",
    ),
    "robustness-table": (
        "ferrepro.reporting.robustness_table:cli",
        "collect robustness.json files into results/robustness.*",
    ),
    "plot-data": (
        "ferrepro.reporting.plot_data:cli",
        "lay out learning curves, predictions and confusion matrices for dvc plots",
    ),
    "ledger": (
        "ferrepro.reporting.ledger:cli",
        "merge a workspace's real-data claims into the reproduction ledger (docs/results/)",
    ),
    "show-config": ("ferrepro.config:cli", "print the resolved run matrix for a config"),
    "paper-docs": (
        "ferrepro.paper_docs:cli",
        "regenerate the experiment tables of docs/papers/*.md from the paper configs",
    ),
}

# Commands merged into another: the old name is refused with what to run instead.
RETIRED_COMMANDS = {
    "efficiency-paper": "`ferrepro efficiency --specs-json ...` (the same options; --cpu-runs is now --n-runs)",
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: ferrepro <command> [options]", "       ferrepro --version", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in sorted(COMMANDS.items())]
    lines += ["", "Run 'ferrepro <command> --help' for a command's options."]
    return "\n".join(lines)


def shell_flags(**flags) -> str:
    """Command-line flags for a Snakemake shell line, leaving out the empty ones.

    ``shell_flags(features=[], landmarks_points=["p.npy"])`` gives ``--landmarks-points p.npy``: a rule
    passes it as a param (``params: flags=lambda wc, input: shell_flags(features=input.features, ...)``)
    so that its printed command shows no bare ``--features  --landmarks-points``. Values are shell-quoted;
    underscores in names become dashes.
    """
    import shlex

    parts = []
    for name, value in flags.items():
        values = [value] if isinstance(value, (str, int, float)) else list(value or [])
        if values and all(str(v) != "" for v in values):
            parts.append(" ".join([f"--{name.replace('_', '-')}", *(shlex.quote(str(v)) for v in values)]))
    return " ".join(parts)


def version() -> str:
    from ferrepro import __version__

    return __version__


def suggestions(name: str) -> list[str]:
    """Commands close to a mistyped one (difflib's ratio >= 0.6), best first."""
    return difflib.get_close_matches(name, list(COMMANDS), n=3, cutoff=0.6)


_ROLE = re.compile(r":[a-z]+:`([^`]*)`")  # :func:`name` -> name
_LITERAL = re.compile(r"``([^`]*)``")  # ``name`` -> name
_QUOTED = re.compile(r"`([^`]*)`")  # `name` -> name


def plain_words(text: str) -> str:
    """Help text without reStructuredText markup: roles, double and single backquotes."""
    return _QUOTED.sub(r"\1", _LITERAL.sub(r"\1", _ROLE.sub(r"\1", text)))


@contextlib.contextmanager
def _plain_help():
    """Every argparse parser built while a command runs prints its help and usage in plain words."""
    original_help, original_usage = argparse.ArgumentParser.format_help, argparse.ArgumentParser.format_usage
    argparse.ArgumentParser.format_help = lambda self: plain_words(original_help(self))
    argparse.ArgumentParser.format_usage = lambda self: plain_words(original_usage(self))
    try:
        yield
    finally:
        argparse.ArgumentParser.format_help, argparse.ArgumentParser.format_usage = original_help, original_usage


def expected_error_message(exc: BaseException) -> str | None:
    """The message to print for an error a user can fix, or None for a bug (which keeps its traceback).

    Expected: the project's own exceptions (every class defined under ``ferrepro``: their messages name the
    file or key, what is wrong and how to fix it), a file that is missing, a folder, or unreadable
    (``OSError`` with a file name), and a YAML syntax error in a config file.
    """
    if any(cls.__module__.split(".")[0] == "ferrepro" for cls in type(exc).__mro__):
        return str(exc)
    if isinstance(exc, OSError) and exc.filename is not None:
        what = exc.strerror or type(exc).__name__
        hint = "; check the path" if isinstance(exc, (FileNotFoundError, NotADirectoryError)) else ""
        return f"{exc.filename}: {what.lower()}{hint}"
    yaml = sys.modules.get("yaml")
    if yaml is not None and isinstance(exc, yaml.YAMLError):
        return f"invalid YAML: {exc}"
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print(_usage(), file=sys.stderr)
        return EXIT_USAGE
    if argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        print(f"ferrepro {version()}")
        return 0
    name, rest = argv[0], argv[1:]
    if name in RETIRED_COMMANDS:
        print(f"ferrepro: command {name!r} is gone; run {RETIRED_COMMANDS[name]}", file=sys.stderr)
        return EXIT_USAGE
    if name not in COMMANDS:
        close = suggestions(name)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        kind = "option" if name.startswith("-") else "command"
        print(f"ferrepro: unknown {kind} {name!r}{hint}\n\n{_usage()}", file=sys.stderr)
        return EXIT_USAGE
    module_name, func_name = COMMANDS[name][0].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    try:
        with _plain_help():
            return int(func(rest) or 0)
    except Exception as exc:  # only expected errors are caught; the others are re-raised
        message = expected_error_message(exc)
        if message is None or os.environ.get("FERREPRO_TRACEBACK"):
            raise
        print(f"ferrepro {name}: error: {message}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
