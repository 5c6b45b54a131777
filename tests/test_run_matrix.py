"""The run matrix: cross-validation folds, cross-dataset targets, per-paper preset overrides, datasets
that cannot be measured, and restricting a workspace to the datasets it has."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ferrepro.config import ConfigError, load_config, load_run_matrix

REPO = Path(__file__).resolve().parents[1]


def _paper(**experiments) -> dict:
    return {
        "paper": "demo2025",
        "title": "demo",
        "defaults": {
            "datasets": ["ckplus"],
            "model": "majeed2025.lenet5",
            "split": "stratified",
            "input": {"size": 48, "channels": "gray"},
            "optimizer": {"name": "sgd", "lr": 0.01},
            "batch_size": 32,
            "max_epochs": 40,
        },
        "experiments": experiments,
    }


def _matrix(tmp_path, paper: dict, preset: str = "full", **config_keys):
    """Runs of one paper config written to a temp dir, under the repo's main config (registry included)."""
    papers = tmp_path / "papers"
    papers.mkdir(exist_ok=True)
    (papers / f"{paper['paper']}.yaml").write_text(yaml.safe_dump(paper))
    config = load_config(REPO / "config" / "config.yaml")
    config.update(papers=[paper["paper"]], paper_config_dir=str(papers), preset=preset, **config_keys)
    return load_run_matrix(config, REPO)


def test_folds_all_expands_into_one_run_per_fold_and_seed(tmp_path):
    runs = _matrix(tmp_path, _paper(cv={"split": "subject_k5", "folds": "all"}))
    assert [(r.experiment, r.seed) for r in runs][:2] == [("cv-fold0", 0), ("cv-fold0", 1)]
    assert len(runs) == 5 * 3
    assert {r.group for r in runs} == {"cv"}
    assert sorted({(r.fold, r.spec.split) for r in runs}) == [(k, f"subject_k5_fold{k}") for k in range(5)]
    assert all(r.split_file == f"results/splits/ckplus/subject_k5_fold{r.fold}_seed{r.seed}.csv" for r in runs)
    assert all(r.spec.group == "cv" and r.spec.fold == r.fold for r in runs)


def test_quick_preset_keeps_the_first_fold_only(tmp_path):
    runs = _matrix(tmp_path, _paper(cv={"split": "subject_k5", "folds": [3, 1]}), preset="quick")
    assert [(r.experiment, r.dataset, r.spec.split) for r in runs] == [("cv-fold3", "synthetic", "subject_k5_fold3")]


@pytest.mark.parametrize(
    "keys, message",
    [
        ({"split": "subject_k5"}, "names no fold"),
        ({"split": "stratified", "folds": "all"}, "needs a split of the form subject_k"),
        ({"split": "subject_k5", "folds": [5]}, r"folds \[5\] do not exist"),
    ],
)
def test_bad_fold_settings_are_explained(tmp_path, keys, message):
    with pytest.raises(ConfigError, match=message):
        _matrix(tmp_path, _paper(cv=keys))


def test_cross_eval_targets_others_and_quick_substitutes_the_shifted_domain(tmp_path):
    paper = _paper(
        matrix={"datasets": ["jaffe", "kdef", "ferg"], "cross_eval": "others"},
        listed={"cross_eval": ["jaffe"]},
        none={},
    )
    full = {(r.experiment, r.dataset): r.cross_targets for r in _matrix(tmp_path, paper) if r.seed == 0}
    assert full == {
        ("matrix", "jaffe"): ("kdef", "ferg"),
        ("matrix", "kdef"): ("jaffe", "ferg"),
        ("matrix", "ferg"): ("jaffe", "kdef"),
        ("listed", "ckplus"): ("jaffe",),
        ("none", "ckplus"): (),
    }
    quick = {r.experiment: r.cross_targets for r in _matrix(tmp_path, paper, preset="quick")}
    assert quick == {"matrix": ("synthetic_shift",), "listed": ("synthetic_shift",), "none": ()}


def test_datasets_that_cannot_be_measured_get_no_runs(tmp_path):
    paper = _paper(
        local={"datasets": ["gilanie_local"]},
        utk={"datasets": ["utkface"]},
        real={"datasets": ["kdef"], "cross_eval": ["utkface", "senthil", "jaffe"]},
    )
    full = _matrix(tmp_path, paper)
    assert {r.experiment for r in full} == {"real"}
    assert {r.cross_targets for r in full} == {("jaffe",)}
    # The same experiments still check their configuration on synthetic data in the quick preset.
    assert {r.experiment for r in _matrix(tmp_path, paper, preset="quick")} == {"local", "utk", "real"}


def test_run_datasets_restricts_the_workspace(tmp_path):
    paper = _paper(a={"datasets": ["fer2013"], "cross_eval": ["ckplus"]}, b={"datasets": ["kdef"]})
    runs = _matrix(tmp_path, paper, run_datasets=["fer2013"])
    assert {(r.experiment, r.dataset, r.cross_targets) for r in runs} == {("a", "fer2013", ())}


def test_paper_preset_overrides_win_over_the_preset_and_stay_in_their_preset(tmp_path):
    paper = _paper(e={"model_kwargs": {"keep": 1}})
    paper["preset_overrides"] = {"quick": {"input": {"size": 64}, "max_epochs": 2, "model_kwargs": {"small": True}}}
    quick = _matrix(tmp_path, paper, preset="quick")[0].spec.to_dict()
    assert quick["input"] == {"size": 64, "channels": "gray", "normalize": "per_image"}
    assert quick["max_epochs"] == 2 and quick["model_kwargs"] == {"keep": 1, "small": True}
    full = _matrix(tmp_path, paper)[0].spec.to_dict()
    assert full["input"] == {"size": 48, "channels": "gray"} and full["max_epochs"] == 40


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"max_epochs": "3"}, "(?s)presets/full/overrides.*max_epochs.*integer"),  # what `--config` nesting yields
        ({"optimizer": {"name": "sgd", "lr": 0.01, "momentun": 0.9}}, "momentun"),
    ],
)
def test_preset_overrides_get_the_run_settings_checks(tmp_path, overrides, message):
    config = load_config(REPO / "config" / "config.yaml")
    presets = dict(config["presets"], full=dict(config["presets"]["full"], overrides=overrides))
    with pytest.raises(ConfigError, match=message):
        _matrix(tmp_path, _paper(e={}), presets=presets)


def test_matrix_keys_never_enter_a_spec(tmp_path):
    """Adding a cross-dataset target or a fold must not retrain the runs that already exist."""
    before = {r.run_dir: r.spec_json for r in _matrix(tmp_path, _paper(e={"datasets": ["kdef"]}))}
    after = {
        r.run_dir: r.spec_json for r in _matrix(tmp_path, _paper(e={"datasets": ["kdef"], "cross_eval": ["jaffe"]}))
    }
    assert before == after


def test_every_paper_is_in_the_default_run_with_every_runnable_experiment():
    config = load_config(REPO / "config" / "config.yaml")
    runs = load_run_matrix(config, REPO)
    for paper in config["papers"]:
        cfg = yaml.safe_load((REPO / "config" / "papers" / f"{paper}.yaml").read_text())
        runnable = {e for e, x in cfg["experiments"].items() if x.get("runnable", True)}
        assert runnable == {r.group for r in runs if r.paper == paper}, paper
    assert {"majeed2025", "afzaal2025", "nauman2025", "gilanie2025", "abdeldayem2025"} <= set(config["papers"])


def test_label_set_lists_and_names():
    from ferrepro.labels import label_set

    assert label_set(["sad", "happy"]) == ("happy", "sad")  # canonical order, whatever the config's
    assert label_set("basic6") == ("angry", "disgust", "fear", "happy", "sad", "surprise")
    with pytest.raises(ValueError, match="unknown"):
        label_set(["happy", "joy"])
    with pytest.raises(ValueError, match="unknown label set"):
        label_set("basic5")


def test_the_readme_sixth_paper_example_is_a_valid_config(tmp_path):
    readme = (REPO / "README.md").read_text()
    block = readme.split("# config/papers/smith2026.yaml\n", 1)[1].split("```", 1)[0]
    paper = yaml.safe_load(block)
    runs = _matrix(tmp_path, paper)
    assert [(r.experiment, r.dataset, r.seed) for r in runs] == [("proposed", "fer2013", s) for s in (0, 1, 2)]
    quick_epochs = load_config(REPO / "config" / "config.yaml")["presets"]["quick"]["overrides"]["max_epochs"]
    assert _matrix(tmp_path, paper, preset="quick")[0].spec.max_epochs == quick_epochs
