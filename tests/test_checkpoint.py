"""model.pt has one owner, ferrepro.models.checkpoint: the file it writes, and the only torch.load in src/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from ferrepro.config import load_config, load_run_matrix
from ferrepro.labels import BASIC7
from ferrepro.models import build_model
from ferrepro.models.checkpoint import (
    ModelFileError,
    StaleRunError,
    load_trained_model,
    read_model_file,
    save_model_file,
)

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "ferrepro"


def _arguments():
    """A LeNet-5 and the RunSpec the default config resolves for it (what training saves)."""
    runs = load_run_matrix(load_config(REPO / "config" / "config.yaml"), REPO)
    spec = next(r.spec for r in runs if r.spec.model == "majeed2025.lenet5")
    torch.manual_seed(0)
    model = build_model(spec.model, num_classes=len(BASIC7), in_channels=1, input_size=spec.input.size)
    return model, spec


def test_model_file_has_the_bytes_of_format_1_as_training_wrote_it(tmp_path):
    model, spec = _arguments()
    save_model_file(tmp_path / "model.pt", model.state_dict(), spec, "d" * 64, BASIC7, 1)
    # The layout train_run wrote before the format had its own module, key order included (same file name:
    # torch.save names the archive's folder after it).
    (tmp_path / "before").mkdir()
    torch.save(
        {
            "format": 1,
            "state_dict": model.state_dict(),
            "spec": spec.to_dict(),
            "spec_digest": "d" * 64,
            "classes": list(BASIC7),
            "in_channels": 1,
        },
        tmp_path / "before" / "model.pt",
    )
    assert (tmp_path / "model.pt").read_bytes() == (tmp_path / "before" / "model.pt").read_bytes()
    assert list(read_model_file(tmp_path / "model.pt")) == [
        "format",
        "state_dict",
        "spec",
        "spec_digest",
        "classes",
        "in_channels",
    ]


def test_a_model_file_is_rebuilt_and_refused_for_another_spec(tmp_path):
    model, spec = _arguments()
    path = tmp_path / "model.pt"
    save_model_file(path, model.state_dict(), spec, "d" * 64, BASIC7, 1)
    loaded, loaded_spec, classes = load_trained_model(path, "d" * 64)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    assert loaded_spec == spec and classes == list(BASIC7) and not loaded.training
    with pytest.raises(StaleRunError, match="retrain it") as err:
        load_trained_model(path, "e" * 64)
    assert isinstance(err.value, ModelFileError) and isinstance(err.value, ValueError)


def test_checkpoint_is_the_only_module_that_calls_torch_load():
    callers = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "load"
                and getattr(node.func.value, "id", None) == "torch"
            ):
                callers.append(path.relative_to(SRC).as_posix())
    assert set(callers) == {"models/checkpoint.py"}, callers
