import copy
from pathlib import Path

import pytest
import yaml

from ferrepro.config import ConfigError, load_config, load_paper_config, load_run_matrix, validate_against_schema

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def config():
    return load_config(REPO / "config" / "config.yaml")


def test_default_config_is_valid_and_expands_to_runs(config):
    runs = load_run_matrix(config, REPO)
    assert runs, "the default config must train something"
    assert {r.dataset for r in runs} == {"synthetic"}
    majeed = {r.experiment for r in runs if r.paper == "majeed2025"}
    assert {"proposed", "lenet5"} <= majeed
    for r in runs:
        assert r.run_dir == f"results/runs/{r.paper}/{r.experiment}/{r.dataset}/seed{r.seed}"
        # Synthetic data has no official split: whole identities are held out, by a hold-out or by folds.
        assert r.spec.split == "subject" or r.spec.split.startswith("subject_k"), r.spec.split


def test_unknown_key_is_named(config):
    bad = copy.deepcopy(config)
    bad["trainer"]["acclerator"] = "cpu"
    with pytest.raises(ConfigError, match=r"trainer.*acclerator"):
        validate_against_schema(bad, "config.schema.yaml", "config.yaml")


def test_wrong_type_is_named(config):
    bad = copy.deepcopy(config)
    bad["synthetic"]["n_subjects"] = "many"
    with pytest.raises(ConfigError, match=r"synthetic/n_subjects"):
        validate_against_schema(bad, "config.schema.yaml", "config.yaml")


def test_snakemake_validate_names_the_key(config):
    # The workflow (common.smk) validates with snakemake.utils.validate; make sure that path rejects typos too.
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    bad = copy.deepcopy(config)
    bad["profil"] = "quick"
    with pytest.raises(WorkflowError, match="profil"):
        validate(bad, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))


def test_the_old_profile_key_is_refused_naming_preset(config):
    old = copy.deepcopy(config)
    old["profile"] = "paper_cpu"  # what `--config profile=paper_cpu` adds
    with pytest.raises(
        ConfigError, match=r"config key 'profile' was renamed to 'preset': use --config preset=paper_cpu"
    ):
        load_run_matrix(old, REPO)


def test_an_old_main_config_file_is_refused_naming_the_file_and_both_keys(tmp_path, config):
    old = {("profile" if k == "preset" else "profiles" if k == "presets" else k): v for k, v in config.items()}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(old))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}: config key 'profile' was renamed to 'preset'")
    assert "`preset: quick`" in message and "rename `profiles:` to `presets:`" in message


def test_an_old_paper_config_key_is_refused_naming_the_file_and_the_new_key(tmp_path):
    data = yaml.safe_load((REPO / "config" / "papers" / "nauman2025.yaml").read_text())
    data["profile_overrides"] = data.pop("preset_overrides")
    path = tmp_path / "nauman2025.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(
        ConfigError,
        match=r"nauman2025\.yaml: config key 'profile_overrides' was renamed to 'preset_overrides': "
        r"rename `profile_overrides:` to `preset_overrides:`",
    ):
        load_paper_config(path)


@pytest.mark.integration
def test_the_workflow_refuses_config_profile_naming_preset(tmp_path, venv_env):
    from conftest import copy_workflow, run_checked

    copy_workflow(tmp_path)
    proc = run_checked(["snakemake", "-n", "--config", "profile=paper_cpu"], tmp_path, venv_env, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "config key 'profile' was renamed to 'preset': use --config preset=paper_cpu" in output, output[-2000:]


def test_paper_config_typo_is_named(tmp_path):
    data = yaml.safe_load((REPO / "config" / "papers" / "majeed2025.yaml").read_text())
    data["defaults"]["optimiser"] = data["defaults"].pop("optimizer")
    path = tmp_path / "majeed2025.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"(?s)majeed2025.yaml.*optimiser"):
        load_paper_config(path)


def test_paper_name_must_match_file(tmp_path):
    data = yaml.safe_load((REPO / "config" / "papers" / "majeed2025.yaml").read_text())
    path = tmp_path / "other2025.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="must match the file name"):
        load_paper_config(path)


def test_preset_layers_override_paper_defaults(config):
    quick = {r.experiment: r.spec for r in load_run_matrix(config, REPO) if r.paper == "majeed2025"}
    assert quick["proposed"].max_epochs == config["presets"]["quick"]["overrides"]["max_epochs"]
    assert quick["proposed"].batch_size == 64  # from the paper's defaults, untouched by the preset

    full = copy.deepcopy(config)
    full["preset"] = "full"
    runs = [r for r in load_run_matrix(full, REPO) if r.paper == "majeed2025"]
    assert {r.dataset for r in runs} == {"fer2013"}
    assert {r.seed for r in runs} == {0, 1, 2}
    literal = [r for r in runs if r.experiment != "proposed_keras_sgd"]
    sgd = {"name": "sgd", "lr": 0.01, "momentum": 0.0}
    assert literal and all(r.spec.to_dict()["optimizer"] == sgd for r in literal)
    assert all(r.spec.split == "official" for r in runs)


def test_changing_one_hyperparameter_changes_only_that_experiments_spec(config, tmp_path):
    papers = tmp_path / "papers"
    papers.mkdir()
    data = yaml.safe_load((REPO / "config" / "papers" / "majeed2025.yaml").read_text())
    (papers / "majeed2025.yaml").write_text(yaml.safe_dump(data))
    cfg = copy.deepcopy(config)
    cfg["paper_config_dir"] = str(papers)
    cfg["papers"] = ["majeed2025"]
    before = {r.run_dir: r.spec_json for r in load_run_matrix(cfg, "/")}
    data["experiments"]["lenet5"]["batch_size"] = 32
    (papers / "majeed2025.yaml").write_text(yaml.safe_dump(data))
    after = {r.run_dir: r.spec_json for r in load_run_matrix(cfg, "/")}
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"results/runs/majeed2025/lenet5/synthetic/seed0"}
