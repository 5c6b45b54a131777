"""The trained-model file ``model.pt``: written by ``ferrepro train``, read by evaluate, robustness and predict.

Format 1 is a dict of plain types only, so that it loads with ``torch.load(weights_only=True)``, which
refuses any pickled object other than tensors and plain containers: a crafted ``.pt`` file cannot run code.

- ``format``: 1;
- ``state_dict``: the network's weights (the selected epoch's);
- ``spec``: the run's resolved spec, which says how to rebuild the network and its input;
- ``spec_digest``: the digest of that spec (``RunSpec.digest()``); a run whose current spec has
  another digest is stale (``StaleRunError``). Files written by hand may lack it;
- ``classes``: the class names, in output order;
- ``in_channels``: the channels the network takes.

This module is the only place that calls ``torch.load``: also for the other files torch writes that ferrepro
reads (a pretrained backbone's weights, the Lightning checkpoints of a training in progress).
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ferrepro.runspec import RunSpec

MODEL_FILE = "model.pt"
FORMAT = 1
PAYLOAD_KEYS = ("format", "state_dict", "spec", "classes", "in_channels")
WRITTEN_BY = "pass a model.pt written by `ferrepro train`"


class ModelFileError(ValueError):
    """A model file cannot be used; the message names the file, what is wrong and how to fix it."""


class StaleRunError(ModelFileError):
    """A run's outputs were made for another spec than the current one."""


# ----------------------------------------------------------------------------- torch files


def read_weights_file(path: str | Path) -> Any:
    """``torch.load`` in weights-only mode: tensors and plain containers only, so a crafted file cannot run code."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def read_training_checkpoint(path: str | Path) -> dict:
    """A Lightning checkpoint that this training wrote itself (its working folder): trusted, so loaded with
    weights_only=False, since it holds the spec and the random generators' states, which the safe loader refuses.
    model.pt, which users share, stays plain."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)


# ----------------------------------------------------------------------------- model.pt


def save_model_file(
    path: str | Path, state_dict: dict, spec: RunSpec, spec_digest: str, classes: Sequence[str], in_channels: int
) -> None:
    import torch

    torch.save(
        {
            "format": FORMAT,
            "state_dict": state_dict,
            "spec": spec.to_dict(),
            "spec_digest": spec_digest,
            "classes": list(classes),
            "in_channels": in_channels,
        },
        path,
    )


def read_model_file(path: str | Path) -> dict:
    """model.pt's payload, loaded safely and checked against format 1 (``ModelFileError`` says what is wrong)."""
    try:
        payload = read_weights_file(path)
    except OSError:
        raise  # missing or unreadable: the error names the file
    except Exception as exc:  # weights_only: no code ran, so any failure means "not loadable"
        if isinstance(exc, pickle.UnpicklingError) and "weights only load failed" in str(exc).lower():
            raise ModelFileError(
                f"{path} is not a plain ferrepro model file: refused to load it, because it holds pickled Python "
                f"objects besides tensors and plain values ({_refused_object(str(exc))}), which could run code when "
                "loaded; retrain the run with `ferrepro train` or the workflow to get a safe model.pt"
            ) from None
        raise ModelFileError(
            f"{path}: not a readable PyTorch model file ({type(exc).__name__}: {first_line(str(exc))}); {WRITTEN_BY}"
        ) from None
    check_layout(payload, Path(path))
    return payload


def _refused_object(message: str) -> str:
    """The line of torch's long message that names what was refused (e.g. GLOBAL posix.system)."""
    for line in message.splitlines():
        if "unsupported" in line.lower():
            return line.strip().rstrip(".")
    return "weights_only=True refused it"


def first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "no details"


def check_layout(payload: Any, path: Path) -> None:
    """The layout ``save_model_file`` writes, with a network this ferrepro can build; else the reason."""
    from ferrepro.models import available_models

    if not isinstance(payload, dict):
        raise ModelFileError(
            f"{path}: expected a ferrepro model file (a dict with keys {list(PAYLOAD_KEYS)}), "
            f"got a {type(payload).__name__}; {WRITTEN_BY}"
        )
    missing = [k for k in PAYLOAD_KEYS if k not in payload]
    if missing:
        raise ModelFileError(f"{path}: model file lacks {missing} (has {sorted(map(str, payload))}); {WRITTEN_BY}")
    if payload["format"] != FORMAT:
        raise ModelFileError(
            f"{path}: model file format {payload['format']!r} is not supported (this ferrepro "
            f"reads format {FORMAT}); retrain the run or use the ferrepro version that wrote it"
        )
    spec, classes = payload["spec"], payload["classes"]
    if not isinstance(spec, dict) or not isinstance(spec.get("input"), dict) or "model" not in spec:
        raise ModelFileError(f"{path}: the model file's spec must be a dict with `model` and `input` keys")
    if not (
        isinstance(classes, list)
        and classes
        and all(isinstance(c, str) for c in classes)
        and len(set(classes)) == len(classes)
    ):
        raise ModelFileError(f"{path}: `classes` must be a non-empty list of distinct class names, got {classes!r}")
    if spec["model"] not in available_models():
        raise ModelFileError(
            f"{path}: model {spec['model']!r} is not registered in this ferrepro "
            f"(registered: {available_models()}); use the ferrepro version that trained it"
        )


def check_current(payload: dict, path: str | Path, expected_digest: str) -> None:
    """Refuse a model trained for another spec than the run's current one (``StaleRunError``)."""
    if payload.get("spec_digest") != expected_digest:
        raise StaleRunError(
            f"{path} was trained for spec {payload.get('spec_digest') or '(no digest)'}, "
            f"but the run's current spec is {expected_digest}: retrain it "
            f"(snakemake {Path(path).as_posix()})"
        )


def trained_spec(payload: dict, path: str | Path) -> RunSpec:
    """The RunSpec a checked payload was trained for (an unknown or malformed key names the file)."""
    return RunSpec.from_dict(payload["spec"], str(path))


def build_trained_model(payload: dict, path: str | Path):
    """The network of a checked payload, with its weights, in eval mode."""
    from ferrepro.models import build_model

    spec = trained_spec(payload, path)
    kwargs = dict(spec.model_kwargs)
    if kwargs.get("pretrained_weights") is not None:
        # The state dict below replaces every backbone weight (strict load): evaluation, robustness and
        # prediction never need the pretrained file the training started from (ferrepro.models.weights).
        kwargs["pretrained_weights"] = None
    try:
        model = build_model(
            spec.model,
            num_classes=len(payload["classes"]),
            in_channels=payload["in_channels"],
            input_size=spec.input.size,
            **kwargs,
        )
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        # load_state_dict reports missing/unexpected keys and shape mismatches as RuntimeError.
        raise ModelFileError(
            f"{path}: cannot rebuild model {spec.model!r} from this file "
            f"({type(exc).__name__}: {first_line(str(exc))}); if the weights do not fit the "
            "model its spec describes, the file is inconsistent: retrain the run"
        ) from None
    return model.eval()


def load_trained_model(path: str | Path, expected_digest: str | None = None):
    """(model, RunSpec, classes) of model.pt; with ``expected_digest``, refuse a model of another spec."""
    payload = read_model_file(path)
    if expected_digest is not None:
        check_current(payload, path, expected_digest)
    return build_trained_model(payload, path), trained_spec(payload, path), payload["classes"]
