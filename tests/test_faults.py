"""Fault injection (issue 13): a killed training, a changed spec, odd config values, broken files.

Each test reproduces a way the pipeline used to print a number that was not what it claimed to be,
or to run a command nobody asked for.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import yaml
from test_training import _spec as training_spec

from ferrepro.evaluation.evaluate import evaluate_run
from ferrepro.training.run import WORK_DIR, train_run

REPO = Path(__file__).resolve().parents[1]


def _spec(**overrides):
    """test_training's tiny LeNet-5 spec, with random draws a resume must restore: the shuffle order, and
    the majeed2025 policy's augmentation of every batch."""
    settings = {"init": "keras_glorot", "batch_size": 16, "max_epochs": 4, "augmentation": "majeed2025"}
    return training_spec(**(settings | overrides))


class Killed(RuntimeError):
    """Stands in for SIGKILL: the process dies after an epoch's checkpoint is on disk."""


class KillDuringEpoch(L.Callback):
    """Dies at the end of 0-based epoch ``epoch``, before its checkpoint: the last one on disk is epoch-1's."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            raise Killed(f"killed during epoch {self.epoch + 1}")


def test_a_killed_training_resumes_and_ends_with_the_same_metrics_byte_for_byte(tiny_synthetic, split_csv, tmp_path):
    # Dropout, augmentation and shuffling all draw random numbers: a resume restores every generator.
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    train_run(_spec(), tiny_synthetic, split_csv, whole)
    evaluate_run(whole, tiny_synthetic, split_csv)

    with pytest.raises(Killed):
        train_run(_spec(), tiny_synthetic, split_csv, resumed, extra_callbacks=[KillDuringEpoch(2)])
    assert (resumed / WORK_DIR / "checkpoints" / "last.ckpt").exists(), "the interrupted run kept its checkpoint"
    summary = train_run(_spec(), tiny_synthetic, split_csv, resumed)
    evaluate_run(resumed, tiny_synthetic, split_csv)

    assert summary["resumed_from_epoch"] == 2
    assert (resumed / "metrics.json").read_bytes() == (whole / "metrics.json").read_bytes()
    assert (resumed / "history.csv").read_bytes() == (whole / "history.csv").read_bytes()
    assert json.loads((whole / "train_summary.json").read_text())["resumed_from_epoch"] is None


def test_an_interrupted_training_with_another_spec_starts_afresh_and_says_so(
    tiny_synthetic, split_csv, tmp_path, capsys
):
    with pytest.raises(Killed):
        train_run(_spec(), tiny_synthetic, split_csv, tmp_path, extra_callbacks=[KillDuringEpoch(1)])
    summary = train_run(_spec(batch_size=8), tiny_synthetic, split_csv, tmp_path)
    assert summary["resumed_from_epoch"] is None and summary["epochs_run"] == 4
    assert "starting afresh" in capsys.readouterr().out


# --- stale numbers: aggregators refuse files that do not carry the current spec digest -------------------


def _evaluated_workspace(tiny_synthetic, split_csv, root):
    """A trained and evaluated run laid out as the workflow does, with its current spec file."""
    from ferrepro.config import write_spec_file

    spec = _spec(max_epochs=1, augmentation="none")
    run = root / "results" / "runs" / "majeed2025" / "lenet5" / "synthetic" / "seed0"
    train_run(spec, tiny_synthetic, split_csv, run)
    evaluate_run(run, tiny_synthetic, split_csv)
    write_spec_file(root / "results" / "specs" / "majeed2025" / "lenet5" / "synthetic" / "seed0.json", spec)
    return spec, run


def test_aggregators_refuse_a_metrics_file_of_an_old_spec_naming_the_run_and_the_rebuild(
    tiny_synthetic, split_csv, tmp_path
):
    from ferrepro.config import write_spec_file
    from ferrepro.reporting.experiments import aggregate
    from ferrepro.reporting.runs import RunFileError, load_runs

    spec, run = _evaluated_workspace(tiny_synthetic, split_csv, tmp_path)
    specs = tmp_path / "results" / "specs"
    metrics = [run / "metrics.json"]
    assert load_runs(metrics, specs)  # current: accepted
    # The config changed (the retrain was killed, so the old files stayed): every table must refuse them.
    write_spec_file(specs / "majeed2025" / "lenet5" / "synthetic" / "seed0.json", replace(spec, batch_size=8))
    with pytest.raises(RunFileError, match=r"stale.*majeed2025/lenet5/synthetic/seed0.*snakemake .*metrics\.json"):
        aggregate(metrics, None, specs)


def test_every_metrics_file_carries_its_provenance(tiny_synthetic, split_csv, tmp_path):
    spec, run = _evaluated_workspace(tiny_synthetic, split_csv, tmp_path)
    provenance = json.loads((run / "metrics.json").read_text())["provenance"]
    assert provenance["spec_digest"] == spec.digest()
    training = provenance["training"]
    assert set(training["code"]) == {"commit", "dirty"} and training["seed"] == 0
    assert training["software"]["torch"] and training["software"]["lightning"]
    decoded = json.loads((tiny_synthetic / "decode_report.json").read_text())["sha256"]
    assert provenance["data"]["synthetic"] == decoded and len(decoded["images.npy"]) == 64
    assert provenance["device"] == "cpu"


def test_evaluate_refuses_a_model_trained_for_another_spec(tiny_synthetic, split_csv, tmp_path):
    from ferrepro.models.checkpoint import StaleRunError

    _, run = _evaluated_workspace(tiny_synthetic, split_csv, tmp_path)
    with pytest.raises(StaleRunError, match="retrain it"):
        evaluate_run(run, tiny_synthetic, split_csv, expected_digest="0" * 64)


def test_evaluate_refuses_a_pickled_model_file_with_a_clear_message(tmp_path, capsys):
    import torch

    from ferrepro.evaluation.evaluate import cli

    torch.save({"format": 1, "spec": Path("a pickled object")}, tmp_path / "model.pt")
    with pytest.raises(ValueError, match=r"model\.pt is not a plain ferrepro model file.*retrain") as err:
        cli(["--run", str(tmp_path), "--decoded", str(tmp_path), "--split", "x.csv"])
    assert "weights_only=False" not in str(err.value)  # torch's advice to load unsafely is not repeated


# --- silent typos and names --------------------------------------------------------------------------------


def _config():
    from ferrepro.config import load_config

    return load_config(Path(__file__).resolve().parents[1] / "config" / "config.yaml")


def test_a_misspelt_preset_override_is_refused_with_the_closest_key():
    from ferrepro.config import ConfigError, load_run_matrix

    config = _config()
    config["presets"]["quick"]["overrides"]["max_epoch"] = 3
    with pytest.raises(
        ConfigError,
        match=r"presets/quick/overrides: unknown run setting `max_epoch` "
        r"\(did you mean `max_epochs`\?\)",
    ):
        load_run_matrix(config, REPO)


def test_a_misspelt_paper_preset_override_is_refused_naming_the_file(tmp_path):
    from ferrepro.config import ConfigError, load_paper_config

    paper = yaml.safe_load((REPO / "config" / "papers" / "majeed2025.yaml").read_text())
    paper["preset_overrides"] = {"quick": {"batchsize": 8}}
    path = tmp_path / "majeed2025.yaml"
    path.write_text(yaml.safe_dump(paper))
    with pytest.raises(
        ConfigError,
        match=r"majeed2025\.yaml preset_overrides/quick: unknown run setting `batchsize` "
        r"\(did you mean `batch_size`\?\)",
    ):
        load_paper_config(path)


def test_a_wrong_type_prints_its_one_real_cause_not_the_unevaluated_cascade(tmp_path):
    from ferrepro.config import ConfigError, load_paper_config

    paper = yaml.safe_load((REPO / "config" / "papers" / "majeed2025.yaml").read_text())
    paper["experiments"]["lenet5"]["batch_size"] = "sixty-four"
    path = tmp_path / "majeed2025.yaml"
    path.write_text(yaml.safe_dump(paper))
    with pytest.raises(ConfigError) as err:
        load_paper_config(path)
    assert "experiments/lenet5/batch_size: 'sixty-four' is not of type 'integer'" in str(err.value)
    assert "Unevaluated properties" not in str(err.value) and "unexpected" not in str(err.value)


@pytest.mark.parametrize("name", ["bad name", "q$(touch pwned)", "with/slash"])
def test_an_experiment_name_that_cannot_be_a_path_is_refused_at_start_up(tmp_path, name):
    from ferrepro.config import ConfigError, load_paper_config

    paper = yaml.safe_load((REPO / "config" / "papers" / "majeed2025.yaml").read_text())
    paper["experiments"][name] = paper["experiments"].pop("lenet5")
    path = tmp_path / "majeed2025.yaml"
    path.write_text(yaml.safe_dump(paper))
    with pytest.raises(ConfigError, match="does not match"):
        load_paper_config(path)


# --- shell injection through config values ------------------------------------------------------------------


@pytest.mark.integration
def test_config_values_never_reach_a_shell_unquoted(tmp_path, venv_env):
    """A raw_dir holding a command substitution must be passed as one argument, never run; a preset name
    that could be one is refused at start-up, naming it."""
    from conftest import copy_workflow, run_checked

    work = tmp_path / "ws"
    work.mkdir()
    copy_workflow(work)
    proc = run_checked(
        [
            "snakemake",
            "--cores",
            "1",
            "results/decoded/fer2013/images.npy",
            "--config",
            "raw_dir=resources/raw$(touch pwned)",
        ],
        work,
        venv_env,
        timeout=300,
        check=False,
    )
    assert proc.returncode != 0  # no FER2013 here: the decode fails, by design
    assert not (work / "pwned").exists(), "a config value was executed by the shell"
    log = (work / "results" / "logs" / "data" / "decode_fer2013.log").read_text()
    assert "resources/raw$(touch pwned)/fer2013" in log, log[-2000:]

    proc = run_checked(
        ["snakemake", "-n", "--config", "preset=q$(touch pwned2)"], work, venv_env, timeout=300, check=False
    )
    assert proc.returncode != 0 and "q$(touch pwned2)" in proc.stdout + proc.stderr
    assert "does not match" in proc.stdout + proc.stderr
    assert not (work / "pwned2").exists()


# --- clear messages for broken inputs -----------------------------------------------------------------------


def test_a_truncated_archive_is_named_with_the_fix(tmp_path):
    import io
    import tarfile

    from ferrepro.data.acquire import UnsafeArchiveError, safe_extract

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for i in range(50):
            data = np.random.default_rng(i).bytes(20_000)
            info = tarfile.TarInfo(f"train/happy/{i}.jpg")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    archive = tmp_path / "fer2013.tar.gz"
    archive.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(
        UnsafeArchiveError, match=r"fer2013\.tar\.gz: the archive is truncated or corrupt.*Download it again"
    ):
        safe_extract(archive, tmp_path / "out")


def test_acquire_check_of_missing_data_prints_the_message_not_a_traceback(tmp_path, capsys):
    from ferrepro.data.acquire import cli

    assert cli(["check", "--dataset", "ckplus", "--raw-dir", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "ferrepro check ckplus:" in err and "Traceback" not in err


def test_robustness_table_refuses_a_report_of_an_old_spec_naming_the_run(tmp_path, capsys):
    from ferrepro.reporting.robustness_table import cli as robustness_table_cli

    specs = tmp_path / "specs" / "p" / "e" / "synthetic"
    specs.mkdir(parents=True)
    (specs / "seed0.json").write_text(json.dumps({"spec": {}, "spec_digest": "new"}))
    report = tmp_path / "robustness.json"
    report.write_text(
        json.dumps(
            {
                "paper": "p",
                "experiment": "e",
                "group": "e",
                "dataset": "synthetic",
                "seed": 0,
                "spec_digest": "old",
                "clean_accuracy": 0.5,
                "conditions": [],
                "severities": {},
            }
        )
    )
    out = tmp_path / "out"
    code = robustness_table_cli(
        [
            "--reports",
            str(report),
            "--current-specs",
            str(tmp_path / "specs"),
            "--out-csv",
            f"{out}.csv",
            "--out-md",
            f"{out}.md",
        ]
    )
    message = capsys.readouterr().err
    assert code == 1 and not Path(f"{out}.csv").exists()
    assert "p/e/synthetic/seed0" in message and "old" in message and "new" in message
    assert f"snakemake {report}" in message
    # The current digest passes.
    report.write_text(report.read_text().replace('"old"', '"new"'))
    assert (
        robustness_table_cli(
            [
                "--reports",
                str(report),
                "--current-specs",
                str(tmp_path / "specs"),
                "--out-csv",
                f"{out}.csv",
                "--out-md",
                f"{out}.md",
            ]
        )
        == 0
    )
