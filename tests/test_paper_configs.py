"""Every paper config (config/papers/*.yaml) is valid, runnable where it says so, and honest about its claims.

The checks run the real config machinery (``load_paper_config``, ``load_run_matrix`` with the full
preset), the real model factories and the real preprocessing pipelines on tiny inputs, so a typo in
a model kwarg, a preprocessing parameter or a dataset name fails here rather than hours into a run.
"""

from __future__ import annotations

import copy
import re
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from ferrepro.config import deep_merge, load_config, load_paper_config, load_run_matrix
from ferrepro.data.registry import load_registry
from ferrepro.features.preprocess import (
    GrayscaleChannelWarning,
    apply_pipeline,
    build_pipeline,
)
from ferrepro.labels import label_set
from ferrepro.models import available_models, build_model
from ferrepro.training.inputs import to_model_input

REPO = Path(__file__).resolve().parents[1]
PAPER_DIR = REPO / "config" / "papers"
PAPER_FILES = sorted(PAPER_DIR.glob("*.yaml"))
PAPERS = [p.stem for p in PAPER_FILES]

# Runnable experiments per paper; a change here must be deliberate (and explained in the paper's doc).
EXPECTED_RUNNABLE = {
    "majeed2025": 4,  # proposed (also cross-tested on CK+ and JAFFE), its Keras-SGD reading, LeNet-5, Lu et al.
    "afzaal2025": 20,  # 5 models x {oversample, SMOTE} x {proper, leaky}
    "nauman2025": 19,  # 4 feature variants x 3 training sizes + 5 leaky rows + RAF-DB/AffectNet + Table 5
    "gilanie2025": 20,  # Table 2 Exp. 01-09 (both channel readings), 2 channel additions, Table 3 x 4, matrix
    "abdeldayem2025": 14,  # Table 8 (6 rows; residual = full) + SE + CK+ (3) + KDEF (3) + the random-init control
}
# An experiment may name a dataset that cannot be measured (unpublished, no expression labels): it then
# gets no run in the full preset, and its description must say that its claim is untestable.
UNTESTABLE_SAID = re.compile(r"\buntestable\b|\bNot run(nable)?\b")
FRACTION_METRICS = {"test_accuracy", "val_accuracy", "macro_f1", "macro_precision", "macro_recall", "weighted_f1"}
NOT_RUN_REASON = re.compile(r"\bNot run(nable)?\b")
CHANNEL_MODE_WIDTH = {"I": 1, "R": 1, "G": 1, "B": 1, "RGB": 3, "IRGB": 4}


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (plain YAML silently keeps the last one)."""


def _construct_unique_mapping(loader, node, deep=False):
    keys = [loader.construct_object(k, deep=deep) for k, _ in node.value]
    duplicates = sorted({k for k in keys if keys.count(k) > 1}, key=str)
    if duplicates:
        raise yaml.constructor.ConstructorError(None, None, f"duplicate keys {duplicates}", node.start_mark)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


@cache
def paper(name: str) -> dict:
    return load_paper_config(PAPER_DIR / f"{name}.yaml")


@cache
def registry():
    return load_registry(REPO / "config" / "datasets.yaml")


def full_preset_config(paper_name: str) -> dict:
    config = copy.deepcopy(load_config(REPO / "config" / "config.yaml"))
    config["papers"] = [paper_name]
    config["preset"] = "full"
    return config


def experiments(paper_name: str):
    yield from paper(paper_name)["experiments"].items()


def is_runnable(exp: dict) -> bool:
    return exp.get("runnable", True) is not False


def merged(paper_name: str, exp: dict) -> dict:
    """The experiment's settings over the paper defaults (no preset), as resolve_spec layers them."""
    cfg = paper(paper_name)
    defaults = {k: v for k, v in cfg.get("defaults", {}).items() if k != "datasets"}
    own = {k: v for k, v in exp.items() if k not in ("datasets", "claims", "description", "cross_eval", "folds")}
    return deep_merge(defaults, own)


def exp_datasets(paper_name: str, exp: dict) -> list[str]:
    return exp.get("datasets") or paper(paper_name).get("defaults", {}).get("datasets", [])


ALL_EXPERIMENTS = [(p, name) for p in PAPERS for name, _ in experiments(p)]


# --------------------------------------------------------------------------------------------- validity


@pytest.mark.parametrize("path", PAPER_FILES, ids=PAPERS)
def test_paper_config_validates_and_has_no_duplicate_keys(path):
    cfg = load_paper_config(path)  # schema + file-name check
    assert cfg["paper"] == path.stem
    yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # a repeated experiment name would vanish silently


def test_the_four_new_papers_are_present():
    assert set(EXPECTED_RUNNABLE) <= set(PAPERS)


@pytest.mark.parametrize("paper_name,experiment", ALL_EXPERIMENTS)
def test_model_is_registered_and_preprocessing_builds(paper_name, experiment):
    spec = merged(paper_name, paper(paper_name)["experiments"][experiment])
    assert spec.get("model") in available_models(), (
        f"{paper_name}/{experiment}: model {spec.get('model')!r} unregistered"
    )
    build_pipeline(spec.get("preprocess"))  # unknown ops or parameters raise


@pytest.mark.parametrize("paper_name", PAPERS)
def test_not_runnable_rows_say_why(paper_name):
    for name, exp in experiments(paper_name):
        if not is_runnable(exp):
            assert NOT_RUN_REASON.search(exp.get("description", "")), (
                f"{paper_name}/{name} is runnable: false but its description does not say 'Not runnable: <why>'"
            )


# --------------------------------------------------------------------------------------------- claims


@pytest.mark.parametrize("paper_name", PAPERS)
def test_claim_datasets_are_known_or_documented_as_untestable(paper_name):
    for name, exp in experiments(paper_name):
        runs_on = set(exp_datasets(paper_name, exp))
        for claim in exp.get("claims", []):
            ds = claim.get("dataset")
            if ds is None:
                continue
            if ds not in registry():
                assert UNTESTABLE_SAID.search(exp["description"]), (
                    f"{paper_name}/{name}: claim dataset {ds!r} is not in config/datasets.yaml and not documented as "
                    "untestable"
                )
            if is_runnable(exp) and not exp.get("cross_eval"):
                # a claim on a dataset the experiment never runs on could never be compared
                assert ds in runs_on, (
                    f"{paper_name}/{name}: claim on {ds!r} but the experiment runs on {sorted(runs_on)}"
                )


@pytest.mark.parametrize("paper_name", PAPERS)
def test_claim_values_are_fractions_not_percent(paper_name):
    for name, exp in experiments(paper_name):
        for claim in exp.get("claims", []):
            metric, value = claim["metric"], claim["value"]
            where = f"{paper_name}/{name} {claim['table']} {metric}={value}"
            if metric in FRACTION_METRICS:
                assert 0 < value <= 1, f"{where}: accuracy-type claims are fractions (72.92% -> 0.7292)"
            elif metric == "mcc":
                assert -1 <= value <= 1, where
            elif metric == "epochs":
                assert value >= 1 and float(value).is_integer(), where
            elif metric == "params":
                assert value >= 1000, f"{where}: parameters are a count (11.6M -> 11600000)"
            else:
                assert value > 0, where


@pytest.mark.parametrize("paper_name", PAPERS)
def test_runnable_experiments_on_unmeasurable_datasets_say_so(paper_name):
    for name, exp in experiments(paper_name):
        if is_runnable(exp):
            for ds in exp_datasets(paper_name, exp):
                if ds not in registry() or not registry()[ds].expression_labels:
                    assert UNTESTABLE_SAID.search(exp["description"]), (
                        f"{paper_name}/{name}: {ds!r} cannot be measured but the description does not say untestable"
                    )


# --------------------------------------------------------------------------------------------- run matrix


def measurable(ds: str) -> bool:
    return ds in registry() and registry()[ds].expression_labels


def n_folds(paper_name: str, exp: dict) -> int:
    folds = exp.get("folds", paper(paper_name).get("defaults", {}).get("folds"))
    if folds is None:
        return 1
    return int(exp["split"].removeprefix("subject_k")) if folds == "all" else len(folds)


@pytest.mark.parametrize("paper_name", sorted(EXPECTED_RUNNABLE))
def test_full_preset_expands_every_runnable_experiment(paper_name):
    config = full_preset_config(paper_name)
    runs = load_run_matrix(config, REPO)
    runnable = {name for name, exp in experiments(paper_name) if is_runnable(exp)}
    assert len(runnable) == EXPECTED_RUNNABLE[paper_name]
    measured = {
        name
        for name in runnable
        if any(measurable(d) for d in exp_datasets(paper_name, paper(paper_name)["experiments"][name]))
    }
    assert {r.group for r in runs} == measured
    seeds = config["presets"]["full"]["seeds"]
    expected = sum(
        n_folds(paper_name, exp) * sum(measurable(d) for d in exp_datasets(paper_name, exp))
        for name, exp in experiments(paper_name)
        if name in runnable
    )
    assert len(runs) == expected * len(seeds)
    assert len({r.run_dir for r in runs}) == len(runs), "two runs share a run folder"
    for r in runs:
        assert r.dataset in exp_datasets(paper_name, paper(paper_name)["experiments"][r.group])
        assert r.spec.paper == paper_name and r.spec.max_epochs >= 1


def _without_balance(spec: dict) -> dict:
    return {k: v for k, v in spec.items() if k not in ("balance", "runnable")}


@pytest.mark.parametrize("paper_name", PAPERS)
def test_leaky_rows_are_labelled_and_differ_from_their_proper_row_only_in_balance(paper_name):
    exps = dict(experiments(paper_name))
    for name, exp in exps.items():
        spec = merged(paper_name, exp)
        leaky = (spec.get("balance") or {}).get("order") == "leaky"
        assert leaky == name.endswith("_leaky"), f"{paper_name}/{name}: leaky rows (and only they) end in _leaky"
        if not leaky:
            continue
        assert exp["description"].startswith("LEAKY"), f"{paper_name}/{name}: a leaky row must say so first"
        proper_name = name.removesuffix("_leaky")
        if proper_name not in exps:
            continue
        proper = merged(paper_name, exps[proper_name])
        assert (proper.get("balance") or {}).get("order", "proper") == "proper"
        assert _without_balance(spec) == _without_balance(proper), (
            f"{paper_name}/{name} differs from {proper_name} in more than balance"
        )
        assert exp_datasets(paper_name, exp) == exp_datasets(paper_name, exps[proper_name])


# --------------------------------------------------------------------------------------------- models and inputs


def _fake_decoded(dataset: str, n: int = 1, side: int = 40) -> np.ndarray:
    """uint8 N x H x W x C images in the dataset's decoded colour (gray or RGB)."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(n, side, side, registry()[dataset].channels), dtype=np.uint8)


def _fake_landmarks(n: int, side: int) -> np.ndarray:
    """68 plausible (x, y) points inside the frame: enough for landmark_emphasis to draw its regions."""
    rng = np.random.default_rng(1)
    return rng.uniform(0.2 * side, 0.8 * side, size=(n, 68, 2)).astype(np.float32)


def _model_input(spec: dict, dataset: str, size: int, gray_acknowledged: bool = False) -> np.ndarray:
    images = _fake_decoded(dataset)
    steps = spec.get("preprocess") or []
    if steps:
        with warnings.catch_warnings():
            # a channel decomposition of grayscale data would make a channel study meaningless, unless the
            # experiment says so (the cross-dataset matrix feeds grayscale JAFFE to an IRGB model on purpose)
            warnings.simplefilter("ignore" if gray_acknowledged else "error", GrayscaleChannelWarning)
            images = apply_pipeline(images, steps, landmarks=_fake_landmarks(len(images), images.shape[1]))
    return to_model_input(images, size, spec["input"]["channels"])


@cache
def _built(model: str, kwargs_key: str, in_channels: int, size: int, classes: int):
    # On the meta device: the factory runs its real constructor (kwargs, size checks) and the forward pass
    # checks every tensor shape, at the paper's input size, without allocating or initialising weights.
    with torch.device("meta"):
        return build_model(
            model, num_classes=classes, in_channels=in_channels, input_size=size, **yaml.safe_load(kwargs_key)
        ).eval()


RUNNABLE = [(p, n) for p, n in ALL_EXPERIMENTS if is_runnable(paper(p)["experiments"][n])]


@pytest.mark.parametrize("paper_name,experiment", RUNNABLE)
def test_runnable_experiment_builds_its_model_and_inputs(paper_name, experiment):
    """Preprocessing -> model input -> model factory -> logits, end to end, at the spec's input size."""
    spec = merged(paper_name, paper(paper_name)["experiments"][experiment])
    size = spec["input"]["size"]
    classes = len(label_set(spec.get("label_set", "basic7")))
    kwargs = dict(spec.get("model_kwargs", {}))
    if kwargs.get("pretrained_weights") is not None:
        # ImageNet weights are not part of the repository: the option must be the documented one, with
        # no silent fallback to random initialisation; the model is then built without them.
        assert kwargs["pretrained_weights"] == "imagenet" and kwargs.get("allow_random_fallback") is False
        kwargs["pretrained_weights"] = None
    feature_dim = 5 * len(spec.get("features", []))
    if feature_dim:
        kwargs["feature_dim"] = feature_dim  # what ferrepro.training.run.with_feature_dim does at training time
    exp = paper(paper_name)["experiments"][experiment]
    for dataset in exp_datasets(paper_name, exp):
        if not measurable(dataset):
            continue  # no run on it (its claim is untestable); the quick preset checks it on synthetic data
        x = _model_input(spec, dataset, size, gray_acknowledged="grayscale" in exp.get("description", ""))
        assert x.shape[2:] == (size, size)
        for step in spec.get("preprocess") or []:
            if step["op"] == "channels":
                assert x.shape[1] == CHANNEL_MODE_WIDTH[step["mode"]]
        model = _built(spec["model"], yaml.safe_dump(kwargs, sort_keys=True), x.shape[1], size, classes)
        args = [torch.from_numpy(x).to("meta")]
        if feature_dim:
            args.append(torch.zeros(len(x), feature_dim, device="meta"))
        with torch.no_grad():
            logits = model(*args)
        assert tuple(logits.shape) == (len(x), classes)
