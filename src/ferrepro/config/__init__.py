"""Configuration: the main config, the per-paper configs, and their expansion into a run matrix.

A *run* is one (paper, experiment, dataset, seed) and owns the folder
``results/runs/<paper>/<experiment>/<dataset>/seed<k>/``. Its fully resolved *spec* is built in
one place, here, by layering (later wins):

1. the paper's ``defaults``;
2. the experiment's own keys;
3. the active preset's overrides (``quick`` runs every experiment on the synthetic data with few
   epochs; ``full`` keeps the paper's datasets and epochs).

The spec is a ``ferrepro.runspec.RunSpec``: typed, every default defined there. Its digest is what
a training rule receives as ``params``, so Snakemake reruns exactly the runs whose resolved settings
changed, and nothing else.

This module must stay importable with only PyYAML and jsonschema (it is imported by the Snakefile,
which may run outside the project's environment, e.g. with ``--use-conda``).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from ferrepro.provenance import REPO_ROOT
from ferrepro.runspec import MATRIX_ONLY_KEYS, MissingFeatures, RunSpec, SpecError

# The repository's schemas, which the Snakefile validates config/config.yaml against too (not package data).
SCHEMA_DIR = REPO_ROOT / "workflow" / "schemas"
SYNTHETIC = "synthetic"


class ConfigError(ValueError):
    """A config file is invalid; the message names the file and the key."""


def write_spec_file(path: str | Path, spec: RunSpec, trained: str | Path | None = None) -> bool:
    """Write a run's spec file, only when its content changes (its mtime then tells Snakemake, and DVC
    clones without Snakemake's metadata, exactly which runs a config edit affects). True if written.

    ``trained`` is the run's train_summary.json. When a config edit is reverted, the spec file returns to
    the spec the run's outputs were trained for (the digests agree): its mtime is then set back to just
    before that training, so the revert does not retrain a run whose outputs are current.
    """
    path = Path(path)
    digest = spec.digest()
    text = json.dumps({"spec_digest": digest, "spec": spec.to_dict()}, indent=2, sort_keys=True) + "\n"
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    trained = Path(trained) if trained else None
    if trained is not None and trained.exists() and json.loads(trained.read_text()).get("spec_digest") == digest:
        before = trained.stat().st_mtime - 1
        os.utime(path, (before, before))
    return True


def load_spec_file(path: str | Path) -> RunSpec:
    """A spec file written by ``write_spec_file``: {"spec": ..., "spec_digest": ...}."""
    data = json.loads(Path(path).read_text())
    spec = RunSpec.from_dict(data["spec"], str(path))
    if spec.digest() != data.get("spec_digest"):
        raise ValueError(
            f"{path}: its spec_digest does not match its spec (edited by hand?); rerun snakemake, "
            "which rewrites it from the configs"
        )
    return spec


@dataclass(frozen=True)
class Run:
    paper: str
    experiment: str
    dataset: str
    seed: int
    spec: RunSpec
    # The paper-config experiment whose claims this run answers: the experiment itself, or the
    # experiment a cross-validation fold was expanded from (experiment ``<group>-fold<k>``).
    group: str = ""
    fold: int | None = None
    # Datasets this run's trained model is also tested on, whole (train on A, test on B).
    cross_targets: tuple[str, ...] = ()
    # Whether the trained model is also scored on perturbed test images (occlusion, noise, brightness).
    robustness: bool = False

    @property
    def run_dir(self) -> str:
        return f"results/runs/{self.paper}/{self.experiment}/{self.dataset}/seed{self.seed}"

    @property
    def split_file(self) -> str:
        return f"results/splits/{self.dataset}/{self.spec.split}_seed{self.seed}.csv"

    @property
    def gpus(self) -> int:
        """GPU slots the run occupies (Snakemake's `gpu` resource): its Lightning `devices` when an int."""
        devices = self.spec.trainer.devices
        return devices if isinstance(devices, int) and devices > 0 else 1

    @property
    def spec_json(self) -> str:
        return self.spec.to_json()

    @property
    def spec_digest(self) -> str:
        return self.spec.digest()

    @property
    def spec_file(self) -> str:
        return f"results/specs/{self.paper}/{self.experiment}/{self.dataset}/seed{self.seed}.json"


def deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def validate_against_schema(data: dict, schema_name: str, where: str, definition: str | None = None) -> None:
    """Validate with jsonschema and raise ConfigError naming the file and the offending key path.

    ``definition`` validates against one entry of the schema's ``$defs`` instead of the whole schema.
    """
    import jsonschema

    schema = load_schema(schema_name)
    if definition is not None:
        schema = {"$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}
    validator = jsonschema.Draft202012Validator(schema)
    errors = list(validator.iter_errors(data))
    if errors:
        err = _real_cause(errors)
        path = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        more = (
            f"\n  ({len(errors) - 1} more error(s) follow from the same file; fix this one first)"
            if len(errors) > 1
            else ""
        )
        # A schema entry may carry an `x-hint` (jsonschema ignores unknown keywords) saying what the bare
        # message cannot, e.g. why a metric is refused: because the claim names a class.
        hint = err.schema.get("x-hint") if isinstance(err.schema, dict) else None
        message = f"{err.message}: {hint}" if hint else err.message
        raise ConfigError(f"{where} is invalid:\n  at {path}: {message}{more}")


def load_schema(schema_name: str) -> dict:
    """A schema of workflow/schemas/, with each ``x-enum: <name>`` replaced by the enum the code owns under that
    name (ferrepro.evaluation.metrics.SCHEMA_ENUMS: the metric table's names), so the schema never copies them."""
    from ferrepro.evaluation.metrics import SCHEMA_ENUMS

    def fill(node):
        if isinstance(node, list):
            return [fill(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {key: fill(value) for key, value in node.items() if key != "x-enum"}
        if "x-enum" in node:
            out["enum"] = list(SCHEMA_ENUMS[node["x-enum"]])
        return out

    return fill(yaml.safe_load((SCHEMA_DIR / schema_name).read_text()))


def _real_cause(errors: list):
    """The one error to show. A wrong type inside an ``allOf`` also makes ``unevaluatedProperties`` list
    every valid sibling key as "unexpected"; that cascade is never the cause while another error exists."""
    from jsonschema.exceptions import best_match

    causes = [e for e in errors if e.validator != "unevaluatedProperties"] or errors
    return best_match(causes)


def spec_keys() -> list[str]:
    """Every run-setting key the paper schema knows (``$defs/spec``)."""
    schema = yaml.safe_load((SCHEMA_DIR / "paper.schema.yaml").read_text())
    return sorted(schema["$defs"]["spec"]["properties"])


def check_override_keys(overrides: dict, where: str) -> None:
    """Overrides replace run settings, so an unknown key (a typo) would change nothing but the spec: refuse it,
    naming the closest valid key. Experiment-level keys (``MATRIX_ONLY_KEYS``, e.g. ``robustness``) are no
    run settings either: they are read from the paper config alone."""
    import difflib

    known = [k for k in spec_keys() if k not in MATRIX_ONLY_KEYS]
    for key in overrides or {}:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean `{close[0]}`?" if close else f"valid keys: {', '.join(known)}"
            raise ConfigError(f"{where}: unknown run setting `{key}` ({hint})")


# Keys renamed since: an old config is refused, naming the new key, rather than failing as merely "unexpected".
# (The run preset was called `profile`, which Snakemake's `profiles/` folder also is.)
RENAMED_CONFIG_KEYS = {"profile": "preset", "profiles": "presets"}
RENAMED_PAPER_KEYS = {"profile_overrides": "preset_overrides"}


def refuse_renamed_keys(data: dict, where: str, renamed: dict[str, str] = RENAMED_CONFIG_KEYS) -> None:
    """Stop with a ConfigError naming every renamed key in ``data`` and how to write it now."""
    fixes = [_rename_hint(old, new, data[old]) for old, new in renamed.items() if old in (data or {})]
    if fixes:
        raise ConfigError(f"{where}: " + "; ".join(fixes))


def _rename_hint(old: str, new: str, value) -> str:
    if isinstance(value, (str, int, float)):  # a value `--config` can set
        how = f"use --config {new}={value} (in a config file: `{new}: {value}`)"
    else:
        how = f"rename `{old}:` to `{new}:`"
    return f"config key {old!r} was renamed to {new!r}: {how}"


def load_paper_config(path: str | Path) -> dict:
    # Imported here, not at the top: config.checks imports ConfigError from this module.
    from ferrepro.config.checks import validate_comparisons

    path = Path(path)
    if not path.exists():
        raise ConfigError(
            f"paper config {path} does not exist; papers are listed under `papers:` in config/config.yaml"
        )
    data = yaml.safe_load(path.read_text())
    refuse_renamed_keys(data, str(path), RENAMED_PAPER_KEYS)
    validate_against_schema(data, "paper.schema.yaml", str(path))
    for preset_name, overrides in (data.get("preset_overrides") or {}).items():
        check_override_keys(overrides, f"{path} preset_overrides/{preset_name}")
    if data["paper"] != path.stem:
        raise ConfigError(f"{path}: `paper: {data['paper']}` must match the file name ({path.stem})")
    check_claim_classes(data, str(path))
    validate_comparisons(data, str(path))
    return data


def claim_label(claim: dict) -> str:
    """A claim's metric as tables show it: ``f1 (happy)`` for a per-class claim, else the metric name."""
    return f"{claim['metric']} ({claim['class']})" if claim.get("class") else str(claim["metric"])


def check_claim_classes(paper_cfg: dict, where: str) -> None:
    """Every per-class claim names a class of its experiment's label set.

    The schema knows the class names but not which label set an experiment trains on; a class outside it
    would only surface at report time as an unmeasurable metric. An ``untestable`` claim may name such a
    class: it records a number the paper prints for a class the run cannot have (its reason says so).
    """
    from ferrepro.labels import label_set

    for name in paper_cfg["experiments"]:
        classes = label_set(experiment_setting(paper_cfg, name, "label_set", RunSpec.default("label_set")))
        for index, claim in enumerate(paper_cfg["experiments"][name].get("claims") or []):
            if claim.get("class") and claim["class"] not in classes and not claim.get("untestable"):
                raise ConfigError(
                    f"{where}: experiments/{name}/claims/{index} ({claim['table']}, {claim['row']}): class "
                    f"{claim['class']!r} is not in experiment {name}'s label set {list(classes)}; name one of these "
                    "(our label names: the paper's 'sadness' is sad), or mark the claim `untestable` with the reason"
                )


FOLDED_SPLIT = re.compile(r"^subject_k(?P<k>[0-9]+)$")
SYNTHETIC_DATASETS = (SYNTHETIC, "synthetic_shift")


def resolve_spec(
    paper_cfg: dict, experiment: str, dataset: str, seed: int, config: dict, split: str | None = None
) -> RunSpec:
    """The fully resolved settings of one run (see the module docstring for the layering)."""
    exp = paper_cfg["experiments"][experiment]
    exp_settings = {k: v for k, v in exp.items() if k not in MATRIX_ONLY_KEYS}
    defaults = {k: v for k, v in paper_cfg.get("defaults", {}).items() if k not in MATRIX_ONLY_KEYS}
    spec = deep_merge(defaults, exp_settings)
    preset_name = config["preset"]
    preset = config["presets"][preset_name]
    spec = deep_merge(spec, preset.get("overrides", {}))
    if dataset in SYNTHETIC_DATASETS:
        spec = deep_merge(spec, preset.get("synthetic_overrides", {}))
    # The paper's own sizing for this preset wins over the generic preset settings: e.g. the quick
    # preset shrinks DCRNet's 224x224 input, which no global override could know about.
    spec = deep_merge(spec, (paper_cfg.get("preset_overrides") or {}).get(preset_name, {}))
    spec["trainer"] = deep_merge(config.get("trainer", {}), spec.get("trainer", {}))
    if split is not None:
        spec["split"] = split
    spec.update(paper=paper_cfg["paper"], experiment=experiment, dataset=dataset, seed=seed)
    where = f"{paper_cfg['paper']}/{experiment}"
    if spec.get("features"):
        # Both keys, the defaults filled in: the policy a fused-feature run applies is in its digest.
        spec["missing_features"] = MissingFeatures.from_dict(spec.get("missing_features") or {}, where).policy()
    else:
        spec.pop("missing_features", None)  # meaningless without fused features: kept out of the digest
    for key in ("model", "split", "input", "optimizer", "batch_size", "max_epochs"):
        if key not in spec:
            raise ConfigError(
                f"{paper_cfg['paper']}/{experiment}: resolved spec lacks `{key}` (set it in defaults or the experiment)"
            )
    missing = [k for k in ("size", "channels") if k not in spec["input"]]
    if missing:
        raise ConfigError(f"{paper_cfg['paper']}/{experiment}: resolved spec's `input` lacks {missing}")
    if spec["input"].get("normalize") == "imagenet" and spec["input"]["channels"] != "rgb":
        raise ConfigError(
            f"{paper_cfg['paper']}/{experiment}: input normalize imagenet standardises the R, G and B "
            f"channels, but input channels is {spec['input']['channels']!r}; set channels: rgb (grey "
            "images are replicated to 3 channels) or another normalize"
        )
    try:
        return RunSpec.from_dict(spec, where)
    except SpecError as err:
        raise ConfigError(str(err)) from None


def write_spec_files(runs: list[Run], basedir: str | Path = ".") -> int:
    """Every run's spec file (``write_spec_file``); returns how many were (re)written."""
    basedir = Path(basedir)
    return sum(
        write_spec_file(basedir / run.spec_file, run.spec, basedir / run.run_dir / "train_summary.json") for run in runs
    )


def _check_preset_overrides(preset_name: str, preset: dict) -> None:
    """A preset's overrides are run settings: they get the paper schema's checks (e.g. an integer
    max_epochs, a known optimiser), which the config schema leaves to this point."""
    for key in ("overrides", "synthetic_overrides"):
        where = f"config/config.yaml presets/{preset_name}/{key}"
        check_override_keys(preset.get(key) or {}, where)
        validate_against_schema(preset.get(key) or {}, "paper.schema.yaml", where, "spec")


def experiment_setting(paper_cfg: dict, experiment: str, key: str, default=None):
    """An experiment's own value of a key in its paper config, else the paper default's (no preset applied,
    no deep merge: a matrix key's whole value, or a run setting as the paper configures it)."""
    exp = paper_cfg["experiments"][experiment]
    return exp[key] if key in exp else paper_cfg.get("defaults", {}).get(key, default)


def paper_max_epochs(paper_cfg: dict, experiment: str) -> int | None:
    """The paper configuration's own epoch budget for an experiment (no preset applied)."""
    own = experiment_setting(paper_cfg, experiment, "max_epochs")
    return int(own) if own is not None else None


def fold_splits(paper_cfg: dict, experiment: str, preset: dict) -> list[tuple[int | None, str | None]]:
    """(fold, split protocol) pairs of an experiment: one per cross-validation fold, or [(None, None)].

    ``split: subject_k5`` with ``folds: all`` (or a list of fold numbers) expands into the split lists
    ``subject_k5_fold0`` ... of one run each; the preset's ``max_folds`` keeps the first few (the quick
    preset checks the plumbing on one fold).
    """
    where = f"{paper_cfg['paper']}/{experiment}"
    folds = experiment_setting(paper_cfg, experiment, "folds")
    split = experiment_setting(paper_cfg, experiment, "split", "")
    match = FOLDED_SPLIT.match(str(split))
    if folds is None:
        if match:
            raise ConfigError(
                f"{where}: split {split!r} names no fold; set `folds: all` (or a list) to run "
                f"every fold, or name one fold as {split}_fold0"
            )
        return [(None, None)]
    if not match:
        raise ConfigError(f"{where}: `folds` needs a split of the form subject_k<K> (got split {split!r})")
    k = int(match["k"])
    chosen = list(range(k)) if folds == "all" else [int(f) for f in folds]
    bad = [f for f in chosen if not 0 <= f < k]
    if bad:
        raise ConfigError(f"{where}: folds {bad} do not exist in a {k}-fold split (use 0..{k - 1})")
    if preset.get("max_folds"):
        chosen = chosen[: int(preset["max_folds"])]
    return [(f, f"{split}_fold{f}") for f in chosen]


def dataset_availability(basedir: str | Path = ".") -> dict[str, str | None]:
    """dataset -> None when expression results can be measured on it, else the reason they cannot.

    Read from the registry (config/datasets.yaml) with plain YAML, so the Snakefile needs no more than
    PyYAML; a dataset the registry does not list is not public (or could not be identified).
    """
    registry = Path(basedir) / "config" / "datasets.yaml"
    data = yaml.safe_load(registry.read_text()) if registry.exists() else {}
    out: dict[str, str | None] = {name: None for name in SYNTHETIC_DATASETS}
    for name, entry in (data.get("datasets") or {}).items():
        ok = entry.get("expression_labels", True)
        out[name] = None if ok else entry.get("no_labels_reason", "the dataset has no expression labels")
    return out


def unavailable_reason(dataset: str, availability: dict[str, str | None]) -> str | None:
    if dataset not in availability:
        return (
            f"dataset {dataset!r} is not in config/datasets.yaml: the paper's data is not public "
            "or could not be identified"
        )
    return availability[dataset]


def cross_targets(paper_cfg: dict, experiment: str, dataset: str, datasets: list[str], preset: dict) -> tuple[str, ...]:
    """Datasets a run trained on `dataset` is also tested on, whole (train on A, test on B).

    ``cross_eval: others`` means every other dataset of the experiment; a preset's ``cross_datasets``
    replaces the targets (the quick preset tests on the second synthetic domain instead of real data).
    """
    wanted = experiment_setting(paper_cfg, experiment, "cross_eval")
    if not wanted:
        return ()
    targets = [d for d in datasets if d != dataset] if wanted == "others" else list(wanted)
    if preset.get("cross_datasets") is not None:
        targets = list(preset["cross_datasets"])
    return tuple(t for t in dict.fromkeys(targets) if t != dataset)


def data_on_disk(dataset: str, config: dict, basedir: str | Path = ".") -> bool:
    """Whether a dataset's raw folder holds something, or it has been decoded already."""
    raw = Path(basedir) / config["raw_dir"] / dataset
    decoded = Path(basedir) / "results" / "decoded" / dataset / "samples.csv"
    has_raw = raw.is_dir() and any(not p.name.startswith(".") for p in raw.iterdir())
    return has_raw or decoded.exists()


def skipped_cross_targets(config: dict, runs: list[Run], basedir: str | Path = ".") -> dict[str, str]:
    """{dataset: why it was not cross-tested} over the cross targets the papers ask for but no run got."""
    preset = config["presets"][config["preset"]]
    if preset.get("cross_datasets") is not None:
        return {}
    availability = dataset_availability(basedir)
    papers = {
        paper: load_paper_config(Path(basedir) / config["paper_config_dir"] / f"{paper}.yaml")
        for paper in {run.paper for run in runs}
    }
    skipped: set[str] = set()
    for run in runs:
        paper_cfg = papers[run.paper]
        own = experiment_setting(paper_cfg, run.group or run.experiment, "datasets", [])
        skipped.update(
            set(cross_targets(paper_cfg, run.group or run.experiment, run.dataset, own, preset))
            - set(run.cross_targets)
        )
    raw_dir = config["raw_dir"]
    return {
        t: unavailable_reason(t, availability) or f"no data on disk ({raw_dir}/{t}/ is missing or empty)"
        for t in sorted(skipped)
    }


def load_run_matrix(config: dict, basedir: str | Path = ".") -> list[Run]:
    """Expand config + paper configs into every run of the active preset.

    Runs on datasets that cannot be measured (not public, no expression labels) are left out: their
    claims are reported as untestable with the reason. ``run_datasets`` (main config) restricts the
    matrix to the datasets a workspace has.
    """
    basedir = Path(basedir)
    refuse_renamed_keys(config, "the main config")
    preset_name = config["preset"]
    if preset_name not in config["presets"]:
        raise ConfigError(f"preset {preset_name!r} is not defined under `presets:` (have {sorted(config['presets'])})")
    preset = config["presets"][preset_name]
    _check_preset_overrides(preset_name, preset)
    availability = dataset_availability(basedir)
    only = config.get("run_datasets")

    def usable(dataset: str) -> bool:
        return unavailable_reason(dataset, availability) is None and (not only or dataset in only)

    def usable_cross_target(dataset: str) -> bool:
        """`run_datasets` names the datasets to train on; a cross-test target whose data is on disk is
        tested too (e.g. `run_datasets=[fer2013]` still cross-tests on CK+ and JAFFE when they are there)."""
        return usable(dataset) or (
            unavailable_reason(dataset, availability) is None and data_on_disk(dataset, config, basedir)
        )

    runs = []
    for paper in config["papers"]:
        paper_cfg = load_paper_config(basedir / config["paper_config_dir"] / f"{paper}.yaml")
        for experiment, exp in paper_cfg["experiments"].items():
            if exp.get("runnable", True) is False:
                continue
            own = experiment_setting(paper_cfg, experiment, "datasets", [])
            datasets = [d for d in (preset.get("datasets") or own) if usable(d)]
            folds = fold_splits(paper_cfg, experiment, preset)
            for dataset in datasets:
                targets = tuple(
                    t for t in cross_targets(paper_cfg, experiment, dataset, own, preset) if usable_cross_target(t)
                )
                for fold, split in folds:
                    name = experiment if fold is None else f"{experiment}-fold{fold}"
                    for seed in preset["seeds"]:
                        spec = resolve_spec(paper_cfg, experiment, dataset, int(seed), config, split)
                        spec = spec.with_settings(experiment=name, group=experiment, fold=fold)
                        runs.append(
                            Run(
                                paper,
                                name,
                                dataset,
                                int(seed),
                                spec,
                                group=experiment,
                                fold=fold,
                                cross_targets=targets,
                                robustness=bool(experiment_setting(paper_cfg, experiment, "robustness", False)),
                            )
                        )
    return runs


def load_config(path: str | Path) -> dict:
    data = yaml.safe_load(Path(path).read_text())
    refuse_renamed_keys(data, str(path))
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
        print(json.dumps([r.spec.to_dict() for r in runs], indent=2))
    else:
        for r in runs:
            print(f"{r.run_dir}  model={r.spec.model} split={r.spec.split} epochs={r.spec.max_epochs}")
        print(f"{len(runs)} runs (preset {config['preset']})")
    return 0
