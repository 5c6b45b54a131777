"""What the efficiency rule measures, computed when the workflow is parsed (PyYAML + jsonschema only).

The rule receives this as a parameter, so Snakemake re-measures a paper exactly when the networks
it would build at the paper's own sizes change (a new experiment, other model kwargs, another input
size), and not when, say, a learning rate changes.
"""

from __future__ import annotations

import copy
from pathlib import Path

from ferrepro.evaluation.metrics import EFFICIENCY_METRICS


def full_preset_model_specs(config: dict, paper: str, basedir: str | Path = ".") -> dict:
    """The model settings (``RunSpec.model_settings``) of every run of ``paper`` under the full preset (seeds
    collapsed)."""
    from ferrepro.config import ConfigError, load_paper_config, load_run_matrix

    if "full" not in config.get("presets", {}):
        raise ConfigError(
            "the main config has no `full` preset; efficiency is measured at the paper's (full-preset) sizes"
        )
    full = copy.deepcopy(config)
    full.update(preset="full", papers=[paper])
    paper_cfg = load_paper_config(Path(basedir) / config["paper_config_dir"] / f"{paper}.yaml")
    claimed = sorted(
        name
        for name, exp in paper_cfg["experiments"].items()
        if any(c["metric"] in EFFICIENCY_METRICS for c in exp.get("claims") or [])
    )
    runs, seen = [], set()
    for run in load_run_matrix(full, basedir):
        # The paper-config experiment (a fold's group), whose claims an efficiency number answers.
        experiment = getattr(run, "group", "") or run.experiment
        item = run.spec.model_settings() | {"experiment": experiment, "dataset": run.dataset}
        key = repr(sorted(item.items()))
        if key not in seen:
            seen.add(key)
            runs.append(item)
    return {"paper": paper, "features": config.get("features", {}), "claimed": claimed, "runs": runs}
