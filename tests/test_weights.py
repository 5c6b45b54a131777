"""Pretrained weights a user can get (issue 16): `ferrepro weights check`, the workflow's start-up check,
ImageNet normalisation for the pretrained backbone, and abdeldayem2025's random-init control.

No test downloads anything: the real DenseNet121 file is never here, so a passing check is shown on a
fixture file named, as torchvision names its files, after the first hex digits of its own sha256.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ferrepro.cli import main
from ferrepro.config import ConfigError, load_config, load_run_matrix
from ferrepro.models import weights
from ferrepro.training.inputs import IMAGENET_MEAN, IMAGENET_STD, normalize_batch, to_model_input

REPO = Path(__file__).resolve().parents[1]
DENSENET = "densenet121-a639ec97.pth"
URL = f"https://download.pytorch.org/models/{DENSENET}"


@pytest.fixture
def torch_home(tmp_path, monkeypatch) -> Path:
    """An empty torch home: torch.hub.get_dir() is <it>/hub, as for a user with TORCH_HOME set."""
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    assert Path(torch.hub.get_dir()) == home / "hub"
    return home


def _fixture_weights(content: bytes = b"not really a DenseNet121\n") -> weights.WeightsFile:
    prefix = hashlib.sha256(content).hexdigest()[:8]
    return weights.WeightsFile("fixture checkpoint", f"https://example.invalid/models/fixture-{prefix}.pth")


def _put(weights_file: weights.WeightsFile, content: bytes) -> Path:
    path = weights_file.path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


# --- which file, where -----------------------------------------------------------------------------------


def test_the_file_and_url_are_torchvisions_and_the_name_carries_the_hash_prefix(torch_home):
    import torchvision

    assert weights.DENSENET121_IMAGENET_URL == torchvision.models.DenseNet121_Weights.IMAGENET1K_V1.url == URL
    expected = weights.densenet121_imagenet()
    assert expected.url == URL and expected.file_name == DENSENET and expected.hash_prefix == "a639ec97"
    # torch hub's checkpoint folder, where torchvision itself caches it
    assert expected.path() == torch_home / "hub" / "checkpoints" / DENSENET
    # the same hash-in-name rule as torch.hub (its HASH_REGEX)
    assert weights.HASH_IN_NAME.pattern == torch.hub.HASH_REGEX.pattern


def test_without_torch_and_torchvision_the_same_file_and_folder_are_named(torch_home, monkeypatch):
    """Snakemake parses the workflow with PyYAML and jsonschema only: no torch needed to name the file."""
    monkeypatch.setitem(sys.modules, "torch.hub", None)  # `import torch.hub` now raises ImportError
    monkeypatch.setitem(sys.modules, "torchvision", None)
    assert weights.hub_dir() == str(torch_home / "hub")
    assert weights.densenet121_imagenet().url == URL


# --- ferrepro weights check / where ---------------------------------------------------------------------


def test_check_passes_on_a_file_whose_sha256_starts_with_the_prefix_in_its_name(torch_home, monkeypatch, capsys):
    content = b"not really a DenseNet121\n"
    fixture = _fixture_weights(content)
    path = _put(fixture, content)
    assert path.parent == torch_home / "hub" / "checkpoints"
    result = weights.check_file(fixture)
    assert result.ok and result.sha256 == hashlib.sha256(content).hexdigest()

    monkeypatch.setitem(weights.KNOWN, "densenet121", lambda: fixture)
    assert main(["weights", "check"]) == 0
    out = capsys.readouterr().out
    assert str(path) in out and result.sha256 in out  # the full digest of the file found, to compare copies
    assert main(["weights", "where"]) == 0
    assert capsys.readouterr().out.strip() == str(path)


def test_check_fails_naming_file_url_and_destination_when_the_file_is_missing(torch_home, capsys):
    assert main(["weights", "check"]) == 1
    err = capsys.readouterr().err
    destination = torch_home / "hub" / "checkpoints" / DENSENET
    assert f"{destination} does not exist" in err
    for expected in (
        f"file:        {DENSENET}",
        f"URL:         {URL}",
        "must start with a639ec97",
        f"destination: {destination}",
        f"curl -L -o {destination} {URL}",
        "ferrepro weights check",
    ):
        assert expected in err, err
    assert main(["weights", "where"]) == 0
    assert capsys.readouterr().out.strip() == str(destination)


def test_check_fails_when_the_sha256_does_not_start_with_the_prefix_in_the_name(torch_home, capsys):
    destination = _put(weights.densenet121_imagenet(), b"a truncated download")
    digest = hashlib.sha256(b"a truncated download").hexdigest()
    result = weights.check_file(weights.densenet121_imagenet())
    assert not result.ok and result.sha256 == digest
    assert main(["weights", "check"]) == 1
    err = capsys.readouterr().err
    assert f"{destination} has sha256 {digest}, which does not start with a639ec97" in err
    assert f"URL:         {URL}" in err and f"destination: {destination}" in err


def test_check_refuses_a_folder_in_place_of_the_file(torch_home):
    weights.densenet121_imagenet().path().mkdir(parents=True)
    assert "is not a file" in weights.check_file(weights.densenet121_imagenet()).problem


# --- the workflow's start-up check --------------------------------------------------------------------


def _abdeldayem_runs(preset: str = "full"):
    config = load_config(REPO / "config" / "config.yaml")
    config.update(papers=["abdeldayem2025"], preset=preset, run_datasets=None)
    return load_run_matrix(config, REPO)


def test_start_up_check_names_every_run_that_needs_the_file(torch_home):
    runs = _abdeldayem_runs()
    needing = [r for r in runs if r.spec.model_kwargs.get("pretrained_weights") == "imagenet"]
    assert needing and len(needing) < len(runs)  # the random-init control needs nothing
    with pytest.raises(weights.PretrainedWeightsError) as err:
        weights.check_pretrained(runs)
    message = str(err.value)
    assert message.startswith(f"{len(needing)} run(s) of the run matrix start from pretrained weights")
    seeds = ",".join(str(s) for s in load_config(REPO / "config" / "config.yaml")["presets"]["full"]["seeds"])
    listed = {line.strip() for line in message.splitlines() if line.startswith("    results/runs/")}
    assert listed == {f"results/runs/{r.paper}/{r.experiment}/{r.dataset}/seed{{{seeds}}}" for r in needing}
    assert "full_random_init" not in message
    destination = torch_home / "hub" / "checkpoints" / DENSENET
    for expected in (
        f"{destination} does not exist",
        DENSENET,
        URL,
        f"destination: {destination}",
        "ferrepro weights check",
    ):
        assert expected in message
    assert message.count(URL) == 2  # one block for the one file (its URL line and its curl line)


def test_start_up_check_passes_when_the_file_is_in_place_and_skips_trained_runs(torch_home, tmp_path, monkeypatch):
    runs = _abdeldayem_runs()
    content = b"stand-in for densenet121\n"
    fixture = _fixture_weights(content)
    monkeypatch.setattr(weights, "densenet121_imagenet", lambda: fixture)
    _put(fixture, content)
    weights.check_pretrained(runs)  # in place and its hash prefix matches: no error

    fixture.path().unlink()
    needing = [r for r in runs if weights.required_weights(r.spec.model_kwargs)]
    # A run already trained for its current spec never reads the file again (evaluation rebuilds from model.pt).
    trained, stale = needing[0], needing[1]
    for run, digest in ((trained, trained.spec_digest), (stale, "another spec")):
        folder = tmp_path / run.run_dir
        folder.mkdir(parents=True)
        (folder / "model.pt").write_bytes(b"")
        (folder / "train_summary.json").write_text(json.dumps({"spec_digest": digest}))
    assert weights.runs_needing_weights(runs, tmp_path)[fixture] == needing[1:]
    with pytest.raises(weights.PretrainedWeightsError, match=f"{len(needing) - 1} run"):
        weights.check_pretrained(runs, tmp_path)


def test_the_default_quick_run_needs_no_pretrained_weights(torch_home):
    config = load_config(REPO / "config" / "config.yaml")
    assert config["preset"] == "quick"
    runs = load_run_matrix(config, REPO)
    dcrnet = [r for r in runs if r.paper == "abdeldayem2025"]
    assert dcrnet and all(r.spec.model_kwargs["pretrained_weights"] is None for r in dcrnet)
    assert all(r.spec.input.normalize == "per_image" for r in dcrnet)  # the quick synthetic setting, as before
    assert weights.runs_needing_weights(runs) == {}
    weights.check_pretrained(runs)  # no file anywhere, and nothing to complain about


def test_a_run_that_may_fall_back_to_random_weights_needs_no_file():
    kwargs = {"pretrained_weights": "imagenet", "allow_random_fallback": True}
    assert weights.required_weights(kwargs) is None
    assert weights.required_weights({"pretrained_weights": None}) is None
    assert weights.required_weights({"pretrained_weights": "imagenet"}).file_name == DENSENET


def test_evaluation_rebuilds_a_trained_dcrnet_without_the_pretrained_file(torch_home, tmp_path):
    from ferrepro.models import build_model
    from ferrepro.models.checkpoint import load_trained_model

    torch.manual_seed(0)
    model = build_model("abdeldayem2025.dcrnet", num_classes=7, in_channels=3, input_size=64)
    spec = {
        "paper": "abdeldayem2025",
        "experiment": "full",
        "dataset": "fer2013",
        "seed": 0,
        "split": "official",
        "model": "abdeldayem2025.dcrnet",
        "input": {"size": 64, "channels": "rgb", "normalize": "imagenet"},
        "model_kwargs": {"pretrained_weights": "imagenet", "allow_random_fallback": False},
        "optimizer": {"name": "adam", "lr": 0.001},
        "batch_size": 32,
        "max_epochs": 1,
    }
    path = tmp_path / "model.pt"
    torch.save(
        {"format": 1, "state_dict": model.state_dict(), "spec": spec, "classes": list("abcdefg"), "in_channels": 3},
        path,
    )
    loaded, _, _ = load_trained_model(path)  # no densenet121 file under torch_home
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))


# --- ImageNet normalisation ---------------------------------------------------------------------------


def test_imagenet_normalisation_uses_the_imagenet_mean_and_std_per_channel():
    assert IMAGENET_MEAN == (0.485, 0.456, 0.406) and IMAGENET_STD == (0.229, 0.224, 0.225)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1).expand(2, 3, 4, 4)
    assert torch.allclose(normalize_batch(mean.clone(), "imagenet"), torch.zeros(2, 3, 4, 4), atol=1e-6)
    x = torch.rand(2, 3, 5, 5)
    z = normalize_batch(x, "imagenet")
    for c in range(3):
        assert torch.allclose(z[:, c], (x[:, c] - IMAGENET_MEAN[c]) / IMAGENET_STD[c])
    assert torch.allclose(
        normalize_batch(torch.ones(1, 3, 1, 1), "imagenet").flatten(),
        torch.tensor([(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225]),
    )


def test_grey_images_are_replicated_to_rgb_before_imagenet_normalisation():
    grey = np.full((1, 48, 48), 128, np.uint8)  # a CK+-like 48x48 grey image
    x = torch.from_numpy(to_model_input(grey, 64, "rgb"))
    assert x.shape == (1, 3, 64, 64) and torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])
    z = normalize_batch(x, "imagenet")
    for c in range(3):
        assert torch.allclose(z[0, c], torch.full((64, 64), (128 / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]))
    with pytest.raises(ValueError, match="needs 3-channel"):
        normalize_batch(torch.rand(1, 1, 8, 8), "imagenet")


def test_evaluation_normalises_as_training_does():
    from ferrepro.evaluation.evaluate import predict_probabilities

    seen = []

    class Spy(torch.nn.Module):
        def forward(self, x):
            seen.append(x.clone())
            return torch.zeros(len(x), 7)

    x = np.random.default_rng(0).random((3, 3, 8, 8), dtype=np.float32)
    predict_probabilities(Spy(), x, "imagenet")
    assert torch.allclose(seen[0], normalize_batch(torch.from_numpy(x), "imagenet"))


def test_imagenet_normalisation_on_grey_input_is_refused_at_start_up(tmp_path):
    from test_run_matrix import _matrix, _paper

    paper = _paper(proposed={"input": {"size": 48, "channels": "gray", "normalize": "imagenet"}})
    with pytest.raises(ConfigError, match="normalize imagenet .* set channels: rgb"):
        _matrix(tmp_path, paper)


# --- abdeldayem2025's config ------------------------------------------------------------------------------


def test_abdeldayem_pretrained_runs_are_imagenet_normalised_and_the_control_differs_only_in_init():
    runs = {(r.experiment, r.seed): r for r in _abdeldayem_runs()}
    full, control = runs[("full", 0)], runs[("full_random_init", 0)]
    assert full.spec.model_kwargs["pretrained_weights"] == "imagenet"
    assert full.spec.input.normalize == "imagenet" and full.spec.input.channels == "rgb"
    assert all(
        r.spec.input.normalize == "imagenet"
        for r in runs.values()
        if r.spec.model_kwargs["pretrained_weights"] == "imagenet"
    )
    assert control.spec.model_kwargs["pretrained_weights"] is None
    ignore = ("experiment", "group", "model_kwargs")
    assert {k: v for k, v in control.spec.to_dict().items() if k not in ignore} == {
        k: v for k, v in full.spec.to_dict().items() if k not in ignore
    }
    assert {**control.spec.model_kwargs, "pretrained_weights": "imagenet"} == full.spec.model_kwargs
    assert control.dataset == full.dataset and not control.robustness


def test_the_random_init_control_has_no_claims_and_is_compared_with_full():
    import yaml

    cfg = yaml.safe_load((REPO / "config" / "papers" / "abdeldayem2025.yaml").read_text())
    control = cfg["experiments"]["full_random_init"]
    assert not control.get("claims") and "Control" in control["description"]
    assert {"a": "full", "b": "full_random_init"}.items() <= next(
        c for c in cfg["comparisons"] if c["b"] == "full_random_init"
    ).items()
    assert "imagenet" in cfg["choices"]["normalize"] and "0.485" in cfg["choices"]["normalize"]


@pytest.mark.integration
def test_the_workflow_stops_at_start_up_naming_the_runs_and_the_file(tmp_path, venv_env):
    """`snakemake -n` on abdeldayem2025's full preset with an empty torch home: one message, no job, no output."""
    from conftest import copy_workflow, run_checked

    (tmp_path / "ws").mkdir()
    work = copy_workflow(tmp_path / "ws")
    env = dict(venv_env, TORCH_HOME=str(tmp_path / "torch_home"))
    proc = run_checked(
        ["snakemake", "-n", "--config", "preset=full", "papers=[abdeldayem2025]"], work, env, timeout=300, check=False
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "PretrainedWeightsError" in out and "stops before any job runs" in out
    assert "results/runs/abdeldayem2025/full/affectnet/seed{0,1,2}" in out and "full_random_init" not in out
    assert str(tmp_path / "torch_home" / "hub" / "checkpoints" / DENSENET) in out and URL in out
    assert "ferrepro weights check" in out and "Building DAG" not in out
    assert not (work / "results").exists()
