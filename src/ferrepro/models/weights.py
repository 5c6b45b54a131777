"""Pretrained weights: which file a run needs, where torch looks for it, and whether the file there is right.

One file today: torchvision's ImageNet DenseNet121 checkpoint (``DenseNet121_Weights.IMAGENET1K_V1``),
the backbone of abdeldayem2025's DCRNet when the run's ``model_kwargs`` say ``pretrained_weights: imagenet``.
Nothing is ever downloaded: a user fetches the file once (README, "Pretrained weights").

- **Which file.** Name and URL come from torchvision (``DenseNet121_Weights.IMAGENET1K_V1.url``:
  ``https://download.pytorch.org/models/densenet121-a639ec97.pth``). ``DENSENET121_IMAGENET_URL`` is the same
  URL for an environment without torchvision (Snakemake parses the workflow with PyYAML and jsonschema
  only); ``tests/test_weights.py`` keeps the two equal.
- **Where.** torch hub's checkpoint folder, ``torch.hub.get_dir()/checkpoints/<file>``
  (``$TORCH_HOME/hub/checkpoints/``, by default ``~/.cache/torch/hub/checkpoints/``), where torchvision
  itself would cache it.
- **What is verified.** torchvision names each file after the first hex digits of its sha256
  (``densenet121-a639ec97.pth``), and torch.hub's ``check_hash`` accepts a download only when the file's
  sha256 starts with those digits (``torch.hub.HASH_REGEX``, ``-([a-f0-9]*)\\.``). We apply the same rule to
  the file on disk: its sha256 must start with the hex in its name. **The full sha256 is not recorded**:
  it can only be derived from the file, which could not be downloaded where this check was written, and a
  digest copied from nowhere would be worse than none. ``ferrepro weights check`` prints the full sha256 of
  the file it finds, so a user can compare it with another copy's.

``check_pretrained(runs)`` is the workflow's start-up check (``workflow/rules/common.smk``): when a run of
the matrix would train from such a file and the file is missing or fails the check, the workflow stops
before any job runs, with one message naming every such run, the file, its URL and its destination.
A run whose outputs were already trained for its current spec (its ``train_summary.json`` records the
spec digest) is not counted: evaluation, robustness and prediction rebuild the network from ``model.pt``,
which holds every backbone weight, so they never read the file.

This module imports torch and torchvision only when asked where the file goes, so parsing a workflow whose
runs need no pretrained weights (the default quick preset) costs nothing.

``ferrepro weights check`` verifies the file (exit status 0 when it is in place and passes, 1 otherwise,
printing what to fetch and where to put it); ``ferrepro weights where`` prints the destination path.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

# torchvision's DenseNet121_Weights.IMAGENET1K_V1.url, for environments without torchvision.
DENSENET121_IMAGENET_URL = "https://download.pytorch.org/models/densenet121-a639ec97.pth"
# torch.hub.HASH_REGEX: the hex between a '-' and the next '.' of a file name is a prefix of its sha256.
HASH_IN_NAME = re.compile(r"-([a-f0-9]*)\.")
CHECK_COMMAND = "ferrepro weights check"


class PretrainedWeightsError(ValueError):
    """A run needs a pretrained-weights file that is missing or fails its check (the message says what to do)."""


@dataclass(frozen=True)
class WeightsFile:
    """A published checkpoint, identified by its URL; it lives in torch hub's checkpoint folder."""

    description: str
    url: str

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def hash_prefix(self) -> str | None:
        """The hex digits the file's sha256 starts with (torch.hub's convention), from its name."""
        match = HASH_IN_NAME.search(self.file_name)
        return match.group(1) if match and match.group(1) else None

    def path(self) -> Path:
        """Where torch looks for it: ``torch.hub.get_dir()/checkpoints/<file name>``."""
        return Path(hub_dir()) / "checkpoints" / self.file_name


def densenet121_imagenet() -> WeightsFile:
    """torchvision's ImageNet-1k DenseNet121 checkpoint (abdeldayem2025's backbone)."""
    try:
        import torchvision

        url = torchvision.models.DenseNet121_Weights.IMAGENET1K_V1.url
    except ImportError:
        url = DENSENET121_IMAGENET_URL
    return WeightsFile("torchvision DenseNet121 ImageNet-1k weights, DenseNet121_Weights.IMAGENET1K_V1", url)


def hub_dir() -> str:
    """``torch.hub.get_dir()``; without torch, the same rule ($TORCH_HOME, else $XDG_CACHE_HOME/torch, + hub)."""
    try:
        import torch.hub
    except ImportError:
        home = os.getenv("TORCH_HOME") or os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch")
        return os.path.join(os.path.expanduser(home), "hub")
    return torch.hub.get_dir()


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class WeightsCheck:
    weights: WeightsFile
    path: Path
    sha256: str | None  # of the file found (None: no file)
    problem: str | None  # None: in place and its sha256 starts with the prefix in its name

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_file(weights: WeightsFile, path: str | Path | None = None) -> WeightsCheck:
    """Is ``weights`` at ``path`` (default: its torch hub path), with a sha256 that starts with its hash prefix?"""
    path = Path(path) if path is not None else weights.path()
    if not path.exists():
        return WeightsCheck(weights, path, None, f"{path} does not exist")
    if not path.is_file():
        return WeightsCheck(weights, path, None, f"{path} is not a file")
    digest = sha256_of(path)
    prefix = weights.hash_prefix
    if prefix and not digest.startswith(prefix):
        return WeightsCheck(
            weights,
            path,
            digest,
            f"{path} has sha256 {digest}, which does not start with {prefix} (the hex in its name): "
            "a different or truncated file; replace it",
        )
    return WeightsCheck(weights, path, digest, None)


def instructions(weights: WeightsFile, path: str | Path | None = None) -> str:
    """What to fetch, how to know it is right, and where to put it (indented lines)."""
    path = Path(path) if path is not None else weights.path()
    prefix = weights.hash_prefix
    sha = (
        f"must start with {prefix} (the hex in the file name, torch.hub's check_hash convention; "
        "the full sha256 is not recorded)"
        if prefix
        else "not recorded (no hash in the file name)"
    )
    return "\n".join(
        [
            f"  file:        {weights.file_name} ({weights.description})",
            f"  URL:         {weights.url}",
            f"  sha256:      {sha}",
            f"  destination: {path}  (torch.hub.get_dir()/checkpoints/; set TORCH_HOME to move it)",
            f"  get it:      mkdir -p {path.parent} && curl -L -o {path} {weights.url}",
            f"  then check:  {CHECK_COMMAND}",
        ]
    )


# --- which runs need a file -----------------------------------------------------------------------------


def required_weights(model_kwargs: dict) -> WeightsFile | None:
    """The pretrained file a run's model (its spec's ``model_kwargs``) reads at construction, or None.

    ``model_kwargs.pretrained_weights: imagenet`` needs torchvision's DenseNet121 file in the torch hub
    cache (the only model that takes the option is abdeldayem2025's DCRNet). ``null`` (random init, e.g.
    the quick preset and the random-init control) and ``allow_random_fallback: true`` (the run warns and
    starts from random weights) need nothing; a file path is the user's own file, checked by the model.
    """
    if model_kwargs.get("pretrained_weights") != "imagenet" or model_kwargs.get("allow_random_fallback"):
        return None
    return densenet121_imagenet()


def _already_trained(run, basedir: Path) -> bool:
    from ferrepro.models.checkpoint import MODEL_FILE

    summary = basedir / run.run_dir / "train_summary.json"
    if not (summary.is_file() and (basedir / run.run_dir / MODEL_FILE).is_file()):
        return False
    try:
        return json.loads(summary.read_text()).get("spec_digest") == run.spec_digest
    except (OSError, ValueError):
        return False


def runs_needing_weights(runs, basedir: str | Path | None = None) -> dict[WeightsFile, list]:
    """Runs that would train from a pretrained file, by file. With ``basedir``, runs already trained for
    their current spec are left out (nothing of theirs reads the file again)."""
    needing: dict[WeightsFile, list] = {}
    for run in runs:
        weights = required_weights(run.spec.model_kwargs)
        if weights is not None and not (basedir is not None and _already_trained(run, Path(basedir))):
            needing.setdefault(weights, []).append(run)
    return needing


def _run_lines(runs) -> list[str]:
    """``results/runs/<paper>/<experiment>/<dataset>/seed{0,1,2}``: every run, its seeds on one line."""
    seeds: dict[str, list[int]] = {}
    for run in runs:
        seeds.setdefault(f"results/runs/{run.paper}/{run.experiment}/{run.dataset}", []).append(run.seed)
    lines = []
    for folder, values in seeds.items():
        values = sorted(set(values))
        lines.append(
            f"    {folder}/seed{values[0]}"
            if len(values) == 1
            else f"    {folder}/seed{{{','.join(map(str, values))}}}"
        )
    return lines


def check_pretrained(runs, basedir: str | Path | None = None) -> None:
    """The workflow's start-up check: raise ``PretrainedWeightsError`` (one message for every file and
    run) when a run would train from a pretrained file that is missing or fails ``check_file``."""
    failures = []
    for weights, needing in runs_needing_weights(runs, basedir).items():
        result = check_file(weights)
        if not result.ok:
            failures.append((result, needing))
    if not failures:
        return
    total = sum(len(needing) for _, needing in failures)
    parts = [
        f"{total} run(s) of the run matrix start from pretrained weights that are not in place, so the "
        "workflow stops before any job runs (nothing is downloaded):"
    ]
    for result, needing in failures:
        parts += [
            "",
            f"{result.weights.file_name}: {result.problem}",
            f"  needed by {len(needing)} run(s) (model_kwargs pretrained_weights: imagenet):",
            *_run_lines(needing),
            instructions(result.weights, result.path),
        ]
    parts += [
        "",
        "Or leave those runs out of this workspace (`run_datasets`, `papers` in config/config.yaml); "
        "the quick preset needs no pretrained weights.",
    ]
    raise PretrainedWeightsError("\n".join(parts))


# --- ferrepro weights -----------------------------------------------------------------------------------


KNOWN = {"densenet121": densenet121_imagenet}


def cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="ferrepro weights",
        description="Pretrained weights the runs read from torch hub's cache (nothing is downloaded): "
        "`check` verifies the file (exit 0 when in place and its sha256 starts with the hex in its "
        "name, else 1 with what to fetch and where to put it); `where` prints its destination.",
    )
    sub = p.add_subparsers(dest="action", required=True)
    for action, help_ in (
        ("check", "verify the file: in place, and its sha256 starts with the hex in its name"),
        ("where", "print the path where the file must be (torch.hub.get_dir()/checkpoints/<file>)"),
    ):
        s = sub.add_parser(action, help=help_, description=help_)
        s.add_argument(
            "--weights",
            choices=sorted(KNOWN),
            default="densenet121",
            help="which file (default densenet121: abdeldayem2025's ImageNet DenseNet121 backbone)",
        )
    a = p.parse_args(argv)
    weights = KNOWN[a.weights]()
    if a.action == "where":
        print(weights.path())
        return 0
    result = check_file(weights)
    if result.ok:
        said = f"starts with {weights.hash_prefix}, as its name says" if weights.hash_prefix else "no hash in its name"
        print(f"ok: {result.path}\n  sha256 {result.sha256} ({said})\n  {weights.description}, {weights.url}")
        return 0
    print(f"ferrepro weights check: {result.problem}\n{instructions(weights, result.path)}", file=sys.stderr)
    return 1
