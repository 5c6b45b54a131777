"""The resolved settings of one run, typed: ``RunSpec``.

``ferrepro.config.resolve_spec`` builds one per run from the layered configs, and every reader (training,
evaluation, robustness, prediction, efficiency, reports) takes it and reads its attributes. A spec also
lives as JSON, in the run's spec file (``results/specs/...``) and in its ``model.pt``; ``RunSpec.from_dict``
reads it back, refusing an unknown or missing key with the file's name.

Defaults live here, once: a field's default is what a run gets when no config sets it. A setting that no
config sets stays out of the JSON, and so out of the digest (``RunSpec.digest``, the identity of a run's
settings that trained runs are keyed by): a spec read back from its file is written again byte for byte,
and a new setting with a default retrains nothing. The flip side: changing a default here changes no
digest, so the runs it affects must be retrained by hand.

Each field belongs to one of three groups (``RunSpec.MATRIX_FIELDS``, ``MODEL_FIELDS``, ``TRAINING_FIELDS``):

- matrix: which run this is (paper, experiment, dataset, seed, split, cross-validation group and fold);
- model: which network is built and what it receives (efficiency measures these, predict rebuilds them);
- training: how the network is trained (optimiser, schedule, epochs, stopping, balancing, augmentation...).

Standard library only: the Snakefile imports it through ``ferrepro.config``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, ClassVar

MATRIX, MODEL, TRAINING = "matrix", "model", "training"
GROUPS = (MATRIX, MODEL, TRAINING)

# Paper-config experiment keys that shape the run matrix (which runs exist), not how one run trains: they
# never enter a spec, so changing them adds or removes runs without retraining the others.
MATRIX_ONLY_KEYS = ("datasets", "claims", "description", "runnable", "folds", "cross_eval", "robustness")


class SpecError(ValueError):
    """A spec (a spec file, a model file's spec) does not fit RunSpec; the message names the file and the key."""


def _plain(value: Any, complete: bool = False) -> Any:
    """``value`` as JSON-ready plain containers (a copy). ``complete``: settings sections with every field."""
    if isinstance(value, _Settings):
        return value.to_dict(complete)
    if isinstance(value, (list, tuple)):
        return [_plain(v, complete) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v, complete) for k, v in value.items()}
    return value


def _default(f) -> Any:
    return f.default_factory() if f.default_factory is not MISSING else f.default


def _required(f) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


@dataclass(frozen=True, kw_only=True)
class _Settings:
    """A frozen group of settings, read from a JSON object and written back to the same object.

    ``_given`` lists the keys the object had, in its order: ``to_dict`` writes exactly those (in that order,
    so that even model.pt's pickled spec keeps its bytes), plus any field set to a non-default value since.
    """

    _given: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        # Lists from JSON/YAML become tuples: the settings are frozen all the way down to their sequences.
        for f in self._fields():
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))

    @classmethod
    def _fields(cls) -> list:
        return [f for f in fields(cls) if f.name != "_given"]

    @classmethod
    def from_dict(cls, data: Any, where: str, prefix: str = ""):
        """Read a JSON object; ``where`` (a file, a config entry) and ``prefix`` (the key path) name errors."""
        if not isinstance(data, dict):
            what = f"spec key `{prefix.rstrip('.')}`" if prefix else "a spec"
            raise SpecError(f"{where}: {what} must be a mapping, got {data!r}")
        known = {f.name: f for f in cls._fields()}
        unknown = [f"{prefix}{k}" for k in data if k not in known]
        if unknown:
            raise SpecError(
                f"{where}: unknown spec key(s) {unknown} (the keys{' of ' + prefix.rstrip('.') if prefix else ''} "
                f"are {sorted(known)}); "
                "a spec written by another ferrepro version needs that version, or retrain the run"
            )
        missing = [f"{prefix}{name}" for name, f in known.items() if _required(f) and name not in data]
        if missing:
            raise SpecError(f"{where}: the spec lacks {missing}; a spec file or model file holds every required key")
        values = {}
        for name, value in data.items():
            section = known[name].metadata.get("section")
            values[name] = (
                section.from_dict(value, where, f"{prefix}{name}.") if section is not None else copy.deepcopy(value)
            )
        try:
            return cls(**values, _given=tuple(data))
        except SpecError as err:  # a section's own check (e.g. missing_features), which cannot know the file
            raise SpecError(f"{where}: {err}") from None

    def to_dict(self, complete: bool = False) -> dict[str, Any]:
        """The JSON object: the keys it was read from, plus fields changed from their defaults since
        (``complete``: every field, defaults included)."""
        written = [
            f.name
            for f in self._fields()
            if f.name not in self._given and (complete or _required(f) or getattr(self, f.name) != _default(f))
        ]
        return {name: _plain(getattr(self, name), complete) for name in (*self._given, *written)}

    def with_settings(self, **changes: Any):
        """A copy with ``changes`` set, as a dict update sets keys: written to the JSON even when equal to the
        default, in place if the key was there, else after the others."""
        given = (*self._given, *(k for k in changes if k not in self._given))
        return replace(self, **changes, _given=given)

    def without(self, *names: str):
        """A copy with these settings unset: they take their defaults and leave the JSON."""
        unknown = set(names) - {f.name for f in self._fields()}
        if unknown:
            raise ValueError(f"{type(self).__name__} has no settings {sorted(unknown)}")
        defaults = {f.name: _default(f) for f in self._fields() if f.name in names}
        return replace(self, **defaults, _given=tuple(k for k in self._given if k not in names))

    @classmethod
    def default(cls, name: str) -> Any:
        """What a run gets for ``name`` when no config sets it."""
        (f,) = [f for f in cls._fields() if f.name == name]
        return _default(f)


# ----------------------------------------------------------------------------------------- sections


@dataclass(frozen=True, kw_only=True)
class InputSettings(_Settings):
    """What the model receives: ``size`` x ``size`` images with these channels, normalised so."""

    size: int
    channels: str  # gray, rgb, keep
    normalize: str = "unit"  # unit [0, 1]; per_image; imagenet (ImageNet mean/std per RGB channel)


@dataclass(frozen=True, kw_only=True)
class OptimizerSettings(_Settings):
    name: str  # sgd, adam, adamw
    lr: float
    momentum: float = 0.0
    nesterov: bool = False
    # None: no explicit decay (a model may carry its paper's own L2, see training.module._parameter_groups).
    weight_decay: float | None = None
    decay_biases: bool = True  # false: weight_decay skips convolution and dense biases (MATLAB's BiasL2Factor 0)


# The schedule's factor when unset: plateau halves the rate (Keras' ReduceLROnPlateau), step divides it by 10.
DEFAULT_LR_FACTOR = {"plateau": 0.5, "step": 0.1}


@dataclass(frozen=True, kw_only=True)
class LrSchedule(_Settings):
    name: str = "none"  # none, inverse_time, plateau, step
    decay: float = 0.0  # inverse_time: lr / (1 + decay * iteration)
    factor: float | None = None  # plateau, step: None takes DEFAULT_LR_FACTOR
    patience: int = 3  # plateau
    step_size: int | None = None  # step: required there
    monitor: str = "val_loss"  # plateau: val_loss (mode min) or val_acc (mode max)

    @property
    def lr_factor(self) -> float:
        return self.factor if self.factor is not None else DEFAULT_LR_FACTOR[self.name]


@dataclass(frozen=True, kw_only=True)
class EarlyStopping(_Settings):
    monitor: str = "val_loss"
    patience: int | None = None  # None: no early stopping


@dataclass(frozen=True, kw_only=True)
class Balance(_Settings):
    method: str = "none"  # none, oversample, smote, augment
    copies: int = 1  # augment: augmented copies per image
    order: str = "proper"  # proper (the training split only) or leaky (the whole pool, then split)
    fractions: tuple[float, ...] = (0.8, 0.1, 0.1)  # train/val/test fractions of the leaky re-split


# What a fused-feature run does with a sample whose feature row has a NaN (e.g. dlib found no face), per
# split: training rows are left out (counted), validation and test rows are kept with the missing values
# filled from the TRAINING split (per-column mean of its complete rows) and flagged, so that an evaluation
# set never loses its hardest faces and runs with and without features score the same test images. A
# paper's `missing_features` overrides either key; ferrepro.config.resolve_spec writes both keys into the spec
# of a fused-feature run (so the policy is in its digest), and none into the spec of an image-only run.
# Per key: the choices, the default first.
MISSING_FEATURE_CHOICES = {"train": ("exclude", "impute"), "evaluate": ("impute", "exclude")}


@dataclass(frozen=True, kw_only=True)
class MissingFeatures(_Settings):
    train: str = MISSING_FEATURE_CHOICES["train"][0]
    evaluate: str = MISSING_FEATURE_CHOICES["evaluate"][0]

    def __post_init__(self) -> None:
        super().__post_init__()
        for key, allowed in MISSING_FEATURE_CHOICES.items():
            if getattr(self, key) not in allowed:
                raise SpecError(f"missing_features.{key} {getattr(self, key)!r}: expected one of {list(allowed)}")

    def policy(self) -> dict[str, str]:
        """Both keys, as the run reports record the policy."""
        return {"train": self.train, "evaluate": self.evaluate}


@dataclass(frozen=True, kw_only=True)
class TrainerSettings(_Settings):
    """Lightning Trainer settings, plus the training process's torch threads and channels-last layout."""

    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    precision: str = "32-true"
    num_workers: int = 0  # DataLoader worker processes
    deterministic: bool = True
    threads: int | None = None  # None: torch's own default
    channels_last: bool = False


# ----------------------------------------------------------------------------------------- the run spec


def _setting(group: str, default: Any = MISSING, *, factory: Any = MISSING, section: type | None = None):
    return field(default=default, default_factory=factory, metadata={"group": group, "section": section})


@dataclass(frozen=True, kw_only=True)
class RunSpec(_Settings):
    """Every setting of one run (see the module docstring). Build it with ``ferrepro.config.resolve_spec``
    or ``RunSpec.from_dict``; ``with_settings`` and ``without`` make changed copies."""

    # matrix: which run this is
    paper: str = _setting(MATRIX)
    experiment: str = _setting(MATRIX)
    dataset: str = _setting(MATRIX)
    seed: int = _setting(MATRIX)
    split: str = _setting(MATRIX)
    # The paper-config experiment a cross-validation fold was expanded from (experiment `<group>-fold<k>`).
    group: str | None = _setting(MATRIX, None)
    fold: int | None = _setting(MATRIX, None)
    # model: which network, and what it receives
    model: str = _setting(MODEL)
    model_kwargs: dict[str, Any] = _setting(MODEL, factory=dict)
    input: InputSettings = _setting(MODEL, section=InputSettings)
    label_set: str | tuple[str, ...] = _setting(MODEL, "basic7")
    preprocess: tuple[dict[str, Any], ...] = _setting(MODEL, ())
    features: tuple[str, ...] = _setting(MODEL, ())
    # training: how it is trained
    init: str = _setting(TRAINING, "torch_default")
    optimizer: OptimizerSettings = _setting(TRAINING, section=OptimizerSettings)
    lr_schedule: LrSchedule = _setting(TRAINING, factory=LrSchedule, section=LrSchedule)
    batch_size: int = _setting(TRAINING)
    max_epochs: int = _setting(TRAINING)
    early_stopping: EarlyStopping = _setting(TRAINING, factory=EarlyStopping, section=EarlyStopping)
    checkpoint_monitor: str = _setting(TRAINING, "val_acc")
    augmentation: str | dict[str, Any] = _setting(TRAINING, "none")
    class_weights: bool = _setting(TRAINING, False)
    train_per_class: int | None = _setting(TRAINING, None)
    balance: Balance = _setting(TRAINING, factory=Balance, section=Balance)
    missing_features: MissingFeatures = _setting(TRAINING, factory=MissingFeatures, section=MissingFeatures)
    trainer: TrainerSettings = _setting(TRAINING, factory=TrainerSettings, section=TrainerSettings)

    MATRIX_FIELDS: ClassVar[tuple[str, ...]]
    MODEL_FIELDS: ClassVar[tuple[str, ...]]
    TRAINING_FIELDS: ClassVar[tuple[str, ...]]

    @classmethod
    def fields_of(cls, group: str) -> tuple[str, ...]:
        return tuple(f.name for f in cls._fields() if f.metadata.get("group") == group)

    def to_json(self) -> str:
        """The one canonical text of the spec: sorted keys, no whitespace."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def digest(self) -> str:
        """sha256 of the canonical text: the identity of a run's settings in every file that reports on it."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def model_settings(self) -> dict[str, Any]:
        """The model fields as JSON values, defaults included: what decides which network is built."""
        return {name: _plain(getattr(self, name), complete=True) for name in self.MODEL_FIELDS}

    @property
    def run_name(self) -> str:
        return f"{self.paper}/{self.experiment}/{self.dataset}/seed{self.seed}"

    @property
    def claim_group(self) -> str:
        """The paper-config experiment whose claims this run answers: a fold's group, else the experiment."""
        return self.group or self.experiment


RunSpec.MATRIX_FIELDS = RunSpec.fields_of(MATRIX)
RunSpec.MODEL_FIELDS = RunSpec.fields_of(MODEL)
RunSpec.TRAINING_FIELDS = RunSpec.fields_of(TRAINING)
