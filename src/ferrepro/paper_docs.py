"""The experiment table of each ``docs/papers/<paper>.md``, generated from its config.

The config is the single source of truth for what an experiment is and what the paper claims for it;
the docs show it to readers. ``ferrepro paper-docs`` rewrites the block between the two markers below
in every paper doc, and ``tests/test_paper_docs.py`` fails when a doc is out of date, so the two can
never drift apart. The "runs" column describes the full preset (the paper's own datasets).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ferrepro.config import (
    ConfigError,
    claim_label,
    dataset_availability,
    experiment_setting,
    fold_splits,
    load_paper_config,
    unavailable_reason,
)

BEGIN = "<!-- experiments:begin (generated from the config by `ferrepro paper-docs`; do not edit by hand) -->"
END = "<!-- experiments:end -->"
HEADER = (
    "| experiment | model / settings | datasets | claims (metric = value) | runs (full preset) |\n|---|---|---|---|---|"
)


def _settings(paper_cfg: dict, exp: dict) -> str:
    """The experiment's own settings (what it changes relative to the paper's defaults), in words."""
    model = exp.get("model", paper_cfg.get("defaults", {}).get("model", "?")).split(".", 1)[-1]
    kwargs = exp.get("model_kwargs") or {}
    head = model + (f"; {', '.join(f'{k}={v}' for k, v in kwargs.items())}" if kwargs else "")
    parts = [head]
    if "preprocess" in exp:
        steps = [s["op"] + (f" {s['mode']}" if "mode" in s else "") for s in exp["preprocess"]]
        parts.append("preprocess: " + (", ".join(steps) or "none"))
    if exp.get("features"):
        parts.append("features: " + " + ".join(exp["features"]))
    if exp.get("train_per_class"):
        parts.append(f"train_per_class {exp['train_per_class']}")
    if exp.get("balance"):
        b = exp["balance"]
        copies = f" x{b['copies']}" if b.get("method") == "augment" else ""
        parts.append(f"{b.get('method', 'none')}{copies} ({b.get('order', 'proper')})")
    if "augmentation" in exp:
        parts.append(f"augmentation {exp['augmentation']}")
    if "split" in exp:
        parts.append(f"split {exp['split']}" + (f", folds {exp['folds']}" if "folds" in exp else ""))
    if "label_set" in exp:
        ls = exp["label_set"]
        parts.append("classes " + (" vs ".join(ls) if isinstance(ls, list) else ls))
    if exp.get("cross_eval"):
        ce = exp["cross_eval"]
        parts.append("cross-tested on " + ("every other dataset" if ce == "others" else ", ".join(ce)))
    return "; ".join(parts)


def _paper_row(claims: list[dict]) -> str:
    """The per-class claims of one row of a paper's table, in one phrase: ``sad ('Sadness'): precision = 0.98,
    recall = 0.98, f1 = 0.85`` (the paper's row name is shown where it is not our class name)."""
    first = claims[0]
    name = first["class"] if first["row"].lower() == first["class"] else f"{first['class']} ('{first['row']}')"
    return f"{name}: " + ", ".join(f"{c['metric']} = {c['value']:g}" for c in claims)


def _same_paper_row(a: dict, b: dict) -> bool:
    return all(a.get(k) == b.get(k) for k in ("table", "row", "class", "dataset"))


def _claims(exp: dict) -> str:
    claims = exp.get("claims") or []
    if not claims:
        return "—"
    several = len({c.get("dataset") for c in claims}) > 1
    # A classification report gives P/R/F1 per class: one phrase per paper row keeps the cell readable.
    groups: list[list[dict]] = []
    for claim in claims:
        if groups and claim.get("class") and _same_paper_row(groups[-1][0], claim):
            groups[-1].append(claim)
        else:
            groups.append([claim])
    texts = [_paper_row(g) if g[0].get("class") else f"{claim_label(g[0])} = {g[0]['value']:g}" for g in groups]
    return "; ".join(t + (f" ({g[0]['dataset']})" if several else "") for t, g in zip(texts, groups))


def _runs(paper_cfg: dict, name: str, exp: dict, availability: dict, full_preset: dict) -> str:
    if exp.get("runnable", True) is False:
        reason = exp.get("description", "").split("Not runnable", 1)[-1].lstrip(":. ")
        return f"no: {reason}" if reason else "no"
    datasets = experiment_setting(paper_cfg, name, "datasets", [])
    blocked = {d: unavailable_reason(d, availability) for d in datasets}
    usable = [d for d, why in blocked.items() if why is None]
    if not usable:
        return (
            "no: "
            + "; ".join(f"{d}: {why}" for d, why in blocked.items())
            + " (the configuration still runs on synthetic data in the quick preset)"
        )
    folds = fold_splits(paper_cfg, name, full_preset)
    text = "yes" + (f", {len(folds)} folds" if folds != [(None, None)] else "")
    skipped = [d for d in datasets if d not in usable]
    return text + (f"; not on {', '.join(skipped)}" if skipped else "")


def experiment_table(paper_cfg: dict, basedir: str | Path = ".") -> str:
    availability = dataset_availability(basedir)
    full_preset = {"max_folds": None}
    rows = [HEADER]
    for name, exp in paper_cfg["experiments"].items():
        datasets = ", ".join(experiment_setting(paper_cfg, name, "datasets", []))
        rows.append(
            f"| `{name}` | {_settings(paper_cfg, exp)} | {datasets} | {_claims(exp)} | "
            f"{_runs(paper_cfg, name, exp, availability, full_preset)} |"
        )
    return "\n".join(rows)


def render_block(paper_cfg: dict, basedir: str | Path = ".") -> str:
    return f"{BEGIN}\n{experiment_table(paper_cfg, basedir)}\n{END}"


def sync_doc(doc: str, paper_cfg: dict, basedir: str | Path = ".") -> str:
    """The doc text with its generated block replaced (the markers must be there exactly once)."""
    if doc.count(BEGIN) != 1 or doc.count(END) != 1:
        raise ConfigError(f"docs/papers/{paper_cfg['paper']}.md needs the markers {BEGIN!r} and {END!r} once each")
    before, rest = doc.split(BEGIN)
    _, after = rest.split(END)
    return before + render_block(paper_cfg, basedir) + after


def cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="ferrepro paper-docs", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config-dir", default="config/papers")
    p.add_argument("--docs-dir", default="docs/papers")
    p.add_argument("--check", action="store_true", help="only report docs that are out of date (exit 1)")
    a = p.parse_args(argv)
    stale = []
    for path in sorted(Path(a.config_dir).glob("*.yaml")):
        cfg = load_paper_config(path)
        doc_path = Path(a.docs_dir) / f"{cfg['paper']}.md"
        doc = doc_path.read_text()
        new = sync_doc(doc, cfg, Path(a.config_dir).resolve().parents[1])
        if new != doc:
            stale.append(str(doc_path))
            if not a.check:
                doc_path.write_text(new)
    verb = "out of date" if a.check else "rewritten"
    print("\n".join(f"{s}: {verb}" for s in stale) or "every paper doc is up to date")
    return 1 if (a.check and stale) else 0
