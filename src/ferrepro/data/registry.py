"""The dataset registry (``config/datasets.yaml``): load, validate, and answer questions about it.

The registry is the single place that knows, per dataset, the accepted native layouts, the map from
native labels to the canonical label set (``ferrepro.labels``), how to read a subject id, the
official counts and known checksums, and where a user gets the data. Decoders never hard-code any
of this, so fixing a label map or a count is a one-line config change that every rule sees.

Validation is strict and happens at load time: a typo in a label map (``happpy``) or a layout that
names a decoder that does not exist fails here, naming the dataset and key, instead of surfacing
as a silently mislabelled class later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ferrepro.labels import ALL_LABELS

OFFICIAL_SPLITS = ("train", "val", "test")
COUNT_KEYS = OFFICIAL_SPLITS + ("all",)
SUBJECT_SOURCES = ("none", "filename", "folder")
COLORS = {"gray": 1, "rgb": 3}
DEFAULT_REGISTRY = Path("config/datasets.yaml")
DATASET_KEYS = frozenset(
    "title licence obtain expression_labels no_labels_reason color size resize archives checksums "
    "downloads splits subject forms layouts".split()
)
LAYOUT_KEYS = frozenset("name decoder description markers label_map drop official_counts count_unit options".split())


class RegistryError(ValueError):
    """The registry file is malformed; the message names the dataset and key."""


@dataclass(frozen=True)
class SubjectRule:
    """How to read a subject id: from a file-name regex (group 1), a folder, or not at all."""

    source: str  # none | filename | folder
    pattern: str | None = None
    note: str = ""

    def from_filename(self, name: str) -> str | None:
        """Subject id from a file name, or None when the name does not match the rule."""
        if self.source != "filename":
            raise RegistryError(f"subject ids of this dataset come from {self.source!r}, not file names")
        match = re.match(self.pattern or "", name)
        return match.group(1) if match else None


@dataclass(frozen=True)
class LayoutSpec:
    name: str
    decoder: str
    description: str
    markers: tuple[str, ...]
    label_map: Mapping[str, str]  # native label (as text) -> canonical label
    drop: Mapping[str, str]  # native label -> reason it is not an expression
    official_counts: Mapping[str, Any]  # split|all -> {label: n} | n
    count_unit: str = "image"
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    licence: str
    obtain_url: str
    obtain_how: str
    expression_labels: bool
    color: str
    size: tuple[int, int]
    resize: bool
    archives: Mapping[str, str | None]
    checksums: Mapping[str, str]
    downloads: Mapping[str, Mapping[str, str]]
    splits: Mapping[str, str]
    subject: SubjectRule
    layouts: tuple[LayoutSpec, ...]
    no_labels_reason: str = ""
    forms: tuple[str, ...] = ()  # the accepted forms of the data, in words (README "Datasets")

    @property
    def channels(self) -> int:
        return COLORS[self.color]

    def layout(self, name: str) -> LayoutSpec:
        for layout in self.layouts:
            if layout.name == name:
                return layout
        raise RegistryError(
            f"dataset {self.name!r} has no layout {name!r}; known: {[layout.name for layout in self.layouts]}"
        )


@dataclass(frozen=True)
class Registry:
    path: str
    datasets: Mapping[str, DatasetSpec]

    def __getitem__(self, name: str) -> DatasetSpec:
        try:
            return self.datasets[name]
        except KeyError:
            raise RegistryError(
                f"dataset {name!r} is not in the registry {self.path}; known datasets: {sorted(self.datasets)}"
            ) from None

    def __contains__(self, name: str) -> bool:
        return name in self.datasets

    @property
    def names(self) -> list[str]:
        return sorted(self.datasets)


def default_registry_path() -> Path:
    """``config/datasets.yaml`` of the working directory, else of the source checkout."""
    return config_file(DEFAULT_REGISTRY)


def config_file(relative: Path) -> Path:
    """A file of the project's ``config/`` (e.g. ``config/datasets.yaml``): the working directory's, else
    the source checkout's, so that the commands also work from another folder of a checkout."""
    if relative.exists():
        return relative
    checkout = Path(__file__).resolve().parents[3] / relative
    return checkout if checkout.exists() else relative


def load_registry(path: str | Path | None = None) -> Registry:
    """Read and validate the registry YAML (default: ``config/datasets.yaml``)."""
    path = Path(path) if path is not None else default_registry_path()
    if not path.exists():
        raise FileNotFoundError(f"dataset registry {path} not found; pass --registry config/datasets.yaml")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise RegistryError(f"{path}: not valid YAML: {exc}") from None
    return registry_from_dict(raw, where=str(path))


def registry_from_dict(raw: Mapping[str, Any], where: str = "registry") -> Registry:
    """Validate an already-parsed registry mapping (tests build small ones this way)."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("datasets"), Mapping):
        raise RegistryError(f"{where}: expected a mapping with a 'datasets' key")
    if "raw_root" in raw:
        # Where raw data lives is said once, by the main config; a second setting here could disagree with it.
        raise RegistryError(
            f"{where}: key `raw_root` is no longer read: raw data lives where `raw_dir` in config/config.yaml "
            f"says. Delete `raw_root` from {where} and set `raw_dir: {raw['raw_root']}` in config/config.yaml "
            "(or pass --raw-dir)"
        )
    datasets = {name: _dataset(name, body or {}, where) for name, body in raw["datasets"].items()}
    return Registry(path=where, datasets=datasets)


def _dataset(name: str, body: Mapping[str, Any], where: str) -> DatasetSpec:
    ctx = f"{where}: dataset {name!r}"
    _require(body, ("title", "licence", "obtain", "color", "size", "subject"), ctx)
    _no_unknown_keys(body, DATASET_KEYS, ctx)
    obtain = body["obtain"] or {}
    _require(obtain, ("url", "how"), f"{ctx} key 'obtain'")
    if body["color"] not in COLORS:
        raise RegistryError(f"{ctx}: color must be one of {sorted(COLORS)}, got {body['color']!r}")
    size = tuple(int(x) for x in body["size"])
    if len(size) != 2 or min(size) <= 0:
        raise RegistryError(f"{ctx}: size must be [height, width], got {body['size']!r}")
    splits = {str(k): str(v) for k, v in (body.get("splits") or {}).items()}
    bad_splits = sorted(set(splits.values()) - set(OFFICIAL_SPLITS))
    if bad_splits:
        raise RegistryError(f"{ctx}: splits map onto {bad_splits}; allowed: {list(OFFICIAL_SPLITS)}")
    expression_labels = bool(body.get("expression_labels", True))
    layouts = tuple(_layout(name, i, lay, ctx) for i, lay in enumerate(body.get("layouts") or []))
    if expression_labels and not layouts:
        raise RegistryError(f"{ctx}: has expression labels but no layouts")
    if not expression_labels and not body.get("no_labels_reason"):
        raise RegistryError(f"{ctx}: expression_labels is false, so no_labels_reason must say why")
    return DatasetSpec(
        name=name,
        title=str(body["title"]),
        licence=str(body["licence"]),
        obtain_url=str(obtain["url"]),
        obtain_how=str(obtain["how"]),
        expression_labels=expression_labels,
        color=body["color"],
        size=size,  # type: ignore[arg-type]
        resize=bool(body.get("resize", False)),
        archives={str(k): (str(v) if v else None) for k, v in (body.get("archives") or {}).items()},
        checksums=_checksums(body.get("checksums") or {}, ctx),
        downloads=_downloads(body.get("downloads") or {}, ctx),
        splits=splits,
        subject=_subject(body["subject"] or {}, ctx),
        layouts=layouts,
        no_labels_reason=str(body.get("no_labels_reason", "")),
        forms=tuple(str(f) for f in body.get("forms") or ()),
    )


def _layout(dataset: str, index: int, body: Mapping[str, Any], ctx: str) -> LayoutSpec:
    from ferrepro.data.decoders import available_decoders  # imported here: decoders import this module

    lctx = f"{ctx} layout #{index} ({body.get('name', '?')})"
    _require(body, ("name", "decoder", "label_map"), lctx)
    _no_unknown_keys(body, LAYOUT_KEYS, lctx)
    decoders = available_decoders()
    if body["decoder"] not in decoders:
        raise RegistryError(f"{lctx}: unknown decoder {body['decoder']!r}; available: {decoders}")
    label_map = {str(k): str(v) for k, v in (body["label_map"] or {}).items()}
    unknown = sorted(set(label_map.values()) - ALL_LABELS)
    if unknown:
        raise RegistryError(f"{lctx}: label_map targets {unknown} are not canonical labels {sorted(ALL_LABELS)}")
    drop = {str(k): str(v) for k, v in (body.get("drop") or {}).items()}
    both = sorted(set(drop) & set(label_map))
    if both:
        raise RegistryError(f"{lctx}: native labels {both} are both mapped and dropped")
    counts = body.get("official_counts") or {}
    _check_counts(counts, lctx)
    return LayoutSpec(
        name=str(body["name"]),
        decoder=str(body["decoder"]),
        description=str(body.get("description", "")),
        markers=tuple(str(m) for m in body.get("markers") or ()),
        label_map=label_map,
        drop=drop,
        official_counts=counts,
        count_unit=str(body.get("count_unit", "image")),
        options=dict(body.get("options") or {}),
    )


def _check_counts(counts: Mapping[str, Any], ctx: str) -> None:
    for key, value in counts.items():
        if key not in COUNT_KEYS:
            raise RegistryError(f"{ctx}: official_counts key {key!r} must be one of {list(COUNT_KEYS)}")
        if isinstance(value, Mapping):
            bad = sorted(set(map(str, value)) - ALL_LABELS)
            if bad:
                raise RegistryError(f"{ctx}: official_counts[{key}] has non-canonical labels {bad}")
            if any(not isinstance(n, int) or n < 0 for n in value.values()):
                raise RegistryError(f"{ctx}: official_counts[{key}] values must be non-negative integers")
        elif not isinstance(value, int) or value < 0:
            raise RegistryError(f"{ctx}: official_counts[{key}] must be a count or a {{label: count}} mapping")


def _checksums(body: Mapping[str, Any], ctx: str) -> dict[str, str]:
    out = {str(k): str(v).lower() for k, v in body.items()}
    for fname, digest in out.items():
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise RegistryError(f"{ctx}: checksum of {fname!r} is not a sha256 hex digest: {digest!r}")
    return out


def _downloads(body: Mapping[str, Any], ctx: str) -> dict[str, dict[str, str]]:
    out = {}
    for fname, entry in body.items():
        _require(entry or {}, ("url", "sha256"), f"{ctx} download {fname!r}")
        out[str(fname)] = {"url": str(entry["url"]), "sha256": _checksums({fname: entry["sha256"]}, ctx)[str(fname)]}
    return out


def _subject(body: Mapping[str, Any], ctx: str) -> SubjectRule:
    source = str(body.get("from", "none"))
    if source not in SUBJECT_SOURCES:
        raise RegistryError(f"{ctx}: subject.from must be one of {SUBJECT_SOURCES}, got {source!r}")
    pattern = body.get("pattern")
    if source == "filename":
        if not pattern:
            raise RegistryError(f"{ctx}: subject.from is 'filename' but no subject.pattern is given")
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise RegistryError(f"{ctx}: subject.pattern {pattern!r} is not a valid regex: {exc}") from None
        if compiled.groups < 1:
            raise RegistryError(f"{ctx}: subject.pattern {pattern!r} needs a capturing group for the subject id")
    return SubjectRule(source=source, pattern=pattern, note=str(body.get("note", "")))


def _no_unknown_keys(body: Mapping[str, Any], allowed: frozenset[str], ctx: str) -> None:
    """Typos (``lable_map``) fail loudly; ``x-`` keys are free for YAML anchors."""
    unknown = sorted(k for k in body if k not in allowed and not str(k).startswith("x-"))
    if unknown:
        raise RegistryError(f"{ctx}: unknown keys {unknown}; allowed: {sorted(allowed)}")


def _require(body: Mapping[str, Any], keys: tuple[str, ...], ctx: str) -> None:
    if not isinstance(body, Mapping):
        raise RegistryError(f"{ctx}: expected a mapping, got {type(body).__name__}")
    missing = [k for k in keys if k not in body]
    if missing:
        raise RegistryError(f"{ctx}: missing keys {missing}")


def official_count_table(layout: LayoutSpec) -> dict[str, Any]:
    """The layout's official counts as {split|all: {label: n} | n} (empty when none are known)."""
    return {k: (dict(v) if isinstance(v, Mapping) else int(v)) for k, v in layout.official_counts.items()}


def datasets_markdown(registry: Registry, raw_root: str | Path) -> str:
    """The README's "Datasets" section, generated from the registry (and ``raw_root``, the main config's
    ``raw_dir``) so the two never disagree."""
    raw_root = Path(raw_root).as_posix()
    lines = [
        "## Datasets",
        "",
        f"No dataset can be redistributed: obtain each under its licence and put it under "
        f"`{raw_root}/<dataset>/` (or pass `--raw-dir`). Archives may be dropped in as downloaded; "
        "they are extracted safely (members with absolute paths, `..`, links or devices are refused). "
        "Before decoding, `ferrepro decode` checks that the folder exists and holds an accepted layout, verifies "
        "every known sha256, and after decoding compares the counts with the official table below; a mismatch, "
        "a malformed row, an unknown label, a corrupt image or an unexpected name stops the run naming the file "
        "(and line), unless `--quarantine` is given (then they are left out, counted and listed in "
        "`quarantine.csv`). Check a folder without decoding: `python -m ferrepro.data.acquire check --dataset NAME`; "
        "see every dataset's state (missing, present, decoded), counts and next step: `ferrepro data status`.",
        "",
        "Decoding keeps every label a dataset has (CK+'s and AffectNet's contempt included); each run's `label_set` "
        "then selects its classes and counts the samples it leaves out. Decode options per dataset go under "
        "`decode:` in `config/config.yaml` and reach the decode rule: `size: [H, W]` and `resize: true|false` "
        "(default: the registry's size below; fixed-size datasets refuse other sizes unless `resize: true`, and a "
        "size mismatch names this option), `label_set` (default `basic7+contempt`, every label) and "
        "`quarantine: true|false`; `ferrepro decode` takes the same as `--size H W`, `--resize`/`--no-resize`, "
        "`--label-set NAME|a,b,c` and `--quarantine`. Everywhere, archives (zip, tar) may be dropped in as "
        "downloaded and single wrapper folders are descended; images may be in any common format (png, jpg, "
        "tiff, bmp, webp, pgm/ppm), also converted with the original suffix kept (`KA.AN1.39.tiff.png`). "
        "The decode rule depends on a manifest of the raw folder (`results/raw_manifests/<dataset>.json`: file "
        "names and sizes, archive sha256), so replacing raw data re-decodes.",
        "",
    ]
    for name in registry.names:
        spec = registry[name]
        lines += [
            f"### {spec.title} (`{name}`)",
            "",
            f"- Where to get it: {spec.obtain_url}",
            f"- Licence: {spec.licence}",
            f"- Where to put it: `{raw_root}/{name}/`. {spec.obtain_how}",
        ]
        if not spec.expression_labels:
            lines += [f"- Not decodable for expression recognition: {spec.no_labels_reason}", ""]
            continue
        fit = " (every image resized to it)" if spec.resize else " (other sizes refused unless `resize: true`)"
        lines.append(f"- Decode size: {spec.size[0]}x{spec.size[1]} {spec.color}{fit}")
        lines += [f"- Accepted: {form}" for form in spec.forms]
        for layout in spec.layouts:
            counts = official_count_table(layout)
            total = {k: (sum(v.values()) if isinstance(v, dict) else v) for k, v in counts.items()}
            checked = f"official {layout.count_unit} counts {total}" if counts else "no official counts"
            lines.append(f"- Layout `{layout.name}`: {layout.description}; checked: {checked}")
        known = {**{a: d for a, d in spec.archives.items() if d}, **spec.checksums}
        if known:
            lines.append("- Known sha256: " + ", ".join(f"`{f}` {d[:12]}..." for f, d in known.items()))
        if spec.subject.source != "none":
            lines.append(f"- Subject id: {spec.subject.note or spec.subject.source}")
        lines.append("")
    return "\n".join(lines)
