"""Configuration: the main config, the per-paper configs, and their expansion into a run matrix.

A *run* is one (paper, experiment, dataset, seed) and owns the folder
``results/runs/<paper>/<experiment>/<dataset>/seed<k>/``. Its fully resolved *spec* is built in
one place, here, by layering (later wins):

1. the paper's ``defaults``;
2. the experiment's own keys;
3. the active profile's overrides (``quick`` runs every experiment on the synthetic data with few
   epochs; ``full`` keeps the paper's datasets and epochs).

The spec is what a training rule receives as ``params``, so Snakemake reruns exactly the runs whose
resolved settings changed, and nothing else.

This module must stay importable with only PyYAML and jsonschema (it is imported by the Snakefile,
which may run outside the project's environment, e.g. with ``--use-conda``).
"""

from __future__ import annotations

import argparse
import copy
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "workflow" / "schemas"
SYNTHETIC = "synthetic"


class ConfigError(ValueError):
    """A config file is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class Run:
    paper: str
    experiment: str
    dataset: str
    seed: int
    spec: dict

    @property
    def run_dir(self) -> str:
        return f"results/runs/{self.paper}/{self.experiment}/{self.dataset}/seed{self.seed}"

    @property
    def split_file(self) -> str:
        return f"results/splits/{self.dataset}/{self.spec['split']}_seed{self.seed}.csv"

    @property
    def gpus(self) -> int:
        """GPU slots the run occupies (Snakemake's `gpu` resource): its Lightning `devices` when an int."""
        devices = self.spec.get("trainer", {}).get("devices", 1)
        return devices if isinstance(devices, int) and devices > 0 else 1

    @property
    def spec_json(self) -> str:
        return json.dumps(self.spec, sort_keys=True, separators=(",", ":"))


def deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def validate_against_schema(data: dict, schema_name: str, where: str) -> None:
    """Validate with jsonschema and raise ConfigError naming the file and the offending key path."""
    import jsonschema

    schema = yaml.safe_load((SCHEMA_DIR / schema_name).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for err in errors[:10]:
            path = "/".join(str(p) for p in err.absolute_path) or "(top level)"
            lines.append(f"  at {path}: {err.message}")
        raise ConfigError(f"{where} is invalid:\n" + "\n".join(lines))


def load_paper_config(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"paper config {path} does not exist; papers are listed under `papers:` in config/config.yaml")
    data = yaml.safe_load(path.read_text())
    validate_against_schema(data, "paper.schema.yaml", str(path))
    if data["paper"] != path.stem:
        raise ConfigError(f"{path}: `paper: {data['paper']}` must match the file name ({path.stem})")
    return data


def resolve_spec(paper_cfg: dict, experiment: str, dataset: str, seed: int, config: dict) -> dict:
    exp = paper_cfg["experiments"][experiment]
    exp_settings = {k: v for k, v in exp.items() if k not in ("datasets", "claims", "description", "runnable")}
    defaults = {k: v for k, v in paper_cfg.get("defaults", {}).items() if k != "datasets"}
    spec = deep_merge(defaults, exp_settings)
    profile = config["profiles"][config["profile"]]
    spec = deep_merge(spec, profile.get("overrides", {}))
    if dataset == SYNTHETIC:
        spec = deep_merge(spec, profile.get("synthetic_overrides", {}))
    spec["trainer"] = deep_merge(config.get("trainer", {}), spec.get("trainer", {}))
    spec.update(paper=paper_cfg["paper"], experiment=experiment, dataset=dataset, seed=seed)
    for key in ("model", "split", "input", "optimizer", "batch_size", "max_epochs"):
        if key not in spec:
            raise ConfigError(f"{paper_cfg['paper']}/{experiment}: resolved spec lacks `{key}` (set it in defaults or the experiment)")
    return spec


def load_run_matrix(config: dict, basedir: str | Path = ".") -> list[Run]:
    """Expand config + paper configs into every run of the active profile."""
    basedir = Path(basedir)
    profile_name = config["profile"]
    if profile_name not in config["profiles"]:
        raise ConfigError(f"profile {profile_name!r} is not defined under `profiles:` (have {sorted(config['profiles'])})")
    profile = config["profiles"][profile_name]
    runs = []
    for paper in config["papers"]:
        paper_cfg = load_paper_config(basedir / config["paper_config_dir"] / f"{paper}.yaml")
        for experiment, exp in paper_cfg["experiments"].items():
            if exp.get("runnable", True) is False:
                continue
            datasets = profile.get("datasets") or exp.get("datasets") or paper_cfg.get("defaults", {}).get("datasets", [])
            for dataset in datasets:
                for seed in profile["seeds"]:
                    runs.append(Run(paper, experiment, dataset, int(seed), resolve_spec(paper_cfg, experiment, dataset, int(seed), config)))
    return runs


def load_config(path: str | Path) -> dict:
    data = yaml.safe_load(Path(path).read_text())
    validate_against_schema(data, "config.schema.yaml", str(path))
    return data


def cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="ferrepro show-config", description="Print the run matrix of a config.")
    p.add_argument("--config", default="config/config.yaml")
    p.add_argument("--json", action="store_true", help="print full specs as JSON")
    a = p.parse_args(argv)
    config = load_config(a.config)
    runs = load_run_matrix(config, Path(a.config).resolve().parents[1])
    if a.json:
        print(json.dumps([r.spec for r in runs], indent=2))
    else:
        for r in runs:
            print(f"{r.run_dir}  model={r.spec['model']} split={r.spec['split']} epochs={r.spec['max_epochs']}")
        print(f"{len(runs)} runs (profile {config['profile']})")
    return 0
