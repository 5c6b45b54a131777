"""The typed run spec (ferrepro.runspec.RunSpec): its JSON and digests are those of the dict-based specs it
replaced, every field is classified once and known to the schema, and a bad spec file is refused by name."""

from __future__ import annotations

import copy
import json
from dataclasses import fields, replace

import pytest
import yaml
from conftest import REPO

from ferrepro.config import (
    ConfigError,
    deep_merge,
    load_config,
    load_run_matrix,
    load_spec_file,
    write_spec_file,
)
from ferrepro.runspec import GROUPS, MATRIX_ONLY_KEYS, InputSettings, RunSpec, SpecError

# {preset[+gpu]: {paper/experiment/dataset/seed<k>: digest}}, dumped from the dict-based config before RunSpec
# existed: real-data trainings are keyed by these digests, so no refactoring may change one.
DIGESTS = json.loads((REPO / "tests" / "data" / "spec_digests.json").read_text())
# Set by the run matrix, not by any config key.
IDENTITY = {"paper", "experiment", "dataset", "seed", "group", "fold"}


def _matrix(name: str):
    preset, _, gpu = name.partition("+")
    config = load_config(REPO / "config" / "config.yaml")
    if gpu:
        config = deep_merge(config, yaml.safe_load((REPO / "profiles" / "gpu" / "overrides.yaml").read_text()))
    config["preset"] = preset
    return load_run_matrix(config, REPO)


@pytest.fixture(scope="module")
def quick_runs():
    return _matrix("quick")


@pytest.mark.parametrize("name", sorted(DIGESTS))
def test_every_runs_digest_is_the_one_before_the_refactor(name):
    runs = _matrix(name)
    got = {run.spec_file.removeprefix("results/specs/").removesuffix(".json"): run.spec_digest for run in runs}
    assert got == DIGESTS[name]


def _order(value):
    """A value's dict keys in their order, all the way down (model.pt pickles the spec with this order)."""
    if isinstance(value, dict):
        return [(k, _order(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_order(v) for v in value]
    return value


def test_a_spec_read_back_from_its_json_writes_the_same_json_in_the_same_key_order(quick_runs, tmp_path):
    for run in quick_runs:
        data = run.spec.to_dict()
        again = RunSpec.from_dict(json.loads(json.dumps(data)), "spec.json")
        assert again == run.spec and _order(again.to_dict()) == _order(data), run.run_dir
        assert again.digest() == run.spec_digest
    run = quick_runs[0]
    path = tmp_path / "seed0.json"
    write_spec_file(path, run.spec)
    expected = {"spec_digest": run.spec_digest, "spec": json.loads(run.spec_json)}
    assert path.read_text() == json.dumps(expected, indent=2, sort_keys=True) + "\n"
    # The file sorts its keys, so the spec read back has them sorted: the same settings and digest.
    assert load_spec_file(path).to_dict() == run.spec.to_dict()


def test_a_spec_file_whose_digest_does_not_match_is_refused(quick_runs, tmp_path):
    path = tmp_path / "seed0.json"
    write_spec_file(path, quick_runs[0].spec)
    data = json.loads(path.read_text())
    data["spec"]["batch_size"] += 1
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=f"{path}: its spec_digest does not match its spec"):
        load_spec_file(path)


def test_every_field_is_classified_exactly_once():
    names = [f.name for f in RunSpec._fields()]
    assert {f.metadata.get("group") for f in fields(RunSpec) if f.name != "_given"} <= set(GROUPS)
    classified = RunSpec.MATRIX_FIELDS + RunSpec.MODEL_FIELDS + RunSpec.TRAINING_FIELDS
    assert sorted(classified) == sorted(names) and len(set(classified)) == len(classified)
    assert IDENTITY <= set(RunSpec.MATRIX_FIELDS)
    assert not set(MATRIX_ONLY_KEYS) & set(names)


def test_the_schema_knows_exactly_the_settings_a_config_may_write():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "paper.schema.yaml").read_text())["$defs"]["spec"]
    settings = {f.name for f in RunSpec._fields()} - IDENTITY
    assert set(schema["properties"]) - set(MATRIX_ONLY_KEYS) == settings
    for f in RunSpec._fields():
        section = f.metadata.get("section")
        if section is None:
            continue
        if f.name == "trainer":  # the main config's trainer block
            config = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
            keys = config["properties"]["trainer"]["properties"]
        else:
            keys = schema["properties"][f.name]["properties"]
        assert set(keys) == {g.name for g in section._fields()}, f.name


def _plain_spec(**extra) -> dict:
    return {
        "paper": "p",
        "experiment": "e",
        "dataset": "synthetic",
        "seed": 0,
        "split": "subject",
        "model": "majeed2025.lenet5",
        "input": {"size": 48, "channels": "gray"},
        "optimizer": {"name": "adam", "lr": 0.001},
        "batch_size": 8,
        "max_epochs": 1,
    } | extra


def test_unset_settings_read_as_their_defaults_and_stay_out_of_the_json():
    spec = RunSpec.from_dict(_plain_spec(), "spec.json")
    assert spec.to_dict() == _plain_spec()
    assert spec.label_set == RunSpec.default("label_set") == "basic7"
    assert spec.input.normalize == "unit" and spec.checkpoint_monitor == "val_acc"
    assert spec.early_stopping.monitor == "val_loss" and spec.early_stopping.patience is None
    assert spec.trainer.num_workers == 0 and spec.trainer.threads is None
    assert spec.missing_features.policy() == {"train": "exclude", "evaluate": "impute"}
    assert spec.model_settings()["label_set"] == "basic7" and spec.model_settings()["input"]["normalize"] == "unit"
    # A setting written with its default value is written back (it is part of the digest).
    explicit = RunSpec.from_dict(_plain_spec(label_set="basic7"), "spec.json")
    assert explicit.to_dict()["label_set"] == "basic7" and explicit.digest() != spec.digest()


def test_changed_copies_set_and_unset_settings_as_a_dict_update_would():
    spec = RunSpec.from_dict(_plain_spec(balance={"method": "oversample"}), "spec.json")
    folded = spec.with_settings(experiment="e-fold0", group="e", fold=None)
    assert list(folded.to_dict())[-3:] == ["balance", "group", "fold"] and folded.to_dict()["fold"] is None
    assert folded.to_dict()["experiment"] == "e-fold0" and list(folded.to_dict())[1] == "experiment"
    bare = spec.without("balance")
    assert "balance" not in bare.to_dict() and bare.balance.method == "none"
    # A plain dataclasses.replace is still written when it changes a setting from its default.
    assert replace(spec, features=("hog",)).to_dict()["features"] == ["hog"]
    assert InputSettings(size=32, channels="rgb").to_dict() == {"size": 32, "channels": "rgb"}


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.update(note="x"), r"model.pt: unknown spec key\(s\) \['note'\]"),
        (lambda d: d["input"].update(crop=True), r"model.pt: unknown spec key\(s\) \['input.crop'\]"),
        (lambda d: d.pop("model"), r"model.pt: the spec lacks \['model'\]"),
        (lambda d: d["optimizer"].pop("lr"), r"model.pt: the spec lacks \['optimizer.lr'\]"),
        (lambda d: d.update(input=48), r"model.pt: spec key `input` must be a mapping"),
        (lambda d: d.update(missing_features={"train": "drop"}), r"model.pt: missing_features.train 'drop'"),
    ],
)
def test_a_bad_spec_is_refused_naming_the_file_and_the_key(edit, message):
    data = copy.deepcopy(_plain_spec())
    edit(data)
    with pytest.raises(SpecError, match=message):
        RunSpec.from_dict(data, "model.pt")


def test_a_preset_override_of_an_experiment_level_key_is_refused():
    config = load_config(REPO / "config" / "config.yaml")
    config["presets"]["quick"]["overrides"]["robustness"] = True
    with pytest.raises(ConfigError, match="presets/quick/overrides: unknown run setting `robustness`"):
        load_run_matrix(config, REPO)
