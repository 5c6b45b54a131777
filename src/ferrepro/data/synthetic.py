"""The embedded default dataset ``synthetic``: procedurally rendered RGB faces, 7 basic expressions.

It exists so that the whole pipeline runs on a fresh machine with no download. It is *always* called
``synthetic`` and is never compared with a paper's claims (its verdict is ``synthetic only``).

How a face is made:

- Each **identity** (subject) draws a fixed face shape (width, height), skin and hair tone, eye
  spacing and size, brow thickness, mouth width, nose length, background colour, and a small
  idiosyncratic offset of every expression parameter (people express differently).
- Each **expression** is a prototype vector over seven facial parameters (brow height, brow tilt,
  eye opening, mouth curvature, mouth opening, mouth width, nose wrinkle), loosely following FACS
  descriptions (e.g. surprise: brows up, eyes wide, jaw drop; anger: brows down and drawn together).
- Each **image** blends neutral and the prototype with a random intensity in [0.3, 1] and adds
  per-image noise on the parameters, so weak expressions drift towards neutral and the classes
  overlap (fear/surprise, anger/disgust, sad/neutral), which keeps the task non-trivial.
- **Nuisance**: rotation, scale and shift jitter, a directional lighting gradient, brightness,
  sensor noise, and an occasional occluder (sunglasses band, hand over the mouth, or a random patch).

Every image is drawn from its own RNG seeded by (seed, subject, class, index), so the data is
deterministic for a seed and an image does not change when the dataset is made larger.

``class_proportions`` makes the classes imbalanced (as real FER data is), so that the balancing
experiments have something to balance on the default run.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from ferrepro.data.standard import write_decoded
from ferrepro.labels import BASIC7

PARAMS = ("brow_y", "brow_tilt", "eye_open", "mouth_curve", "mouth_open", "mouth_width", "nose_wrinkle")
# brow_y: + raised; brow_tilt: + inner ends down (frown); eye_open: 0 closed .. 1 wide;
# mouth_curve: + corners up; mouth_open: 0 .. 1; mouth_width: relative; nose_wrinkle: 0 .. 1
PROTOTYPES: dict[str, tuple[float, ...]] = {
    "neutral": (0.0, 0.0, 0.6, 0.0, 0.0, 1.0, 0.0),
    "angry": (-0.6, 0.9, 0.45, -0.25, 0.05, 0.9, 0.3),
    "disgust": (-0.35, 0.45, 0.35, -0.55, 0.2, 0.95, 1.0),
    "fear": (0.65, -0.55, 0.95, -0.35, 0.45, 1.1, 0.0),
    "happy": (0.1, 0.0, 0.5, 0.95, 0.3, 1.2, 0.1),
    "sad": (0.15, -0.85, 0.45, -0.75, 0.0, 0.9, 0.0),
    "surprise": (0.95, 0.0, 1.0, 0.0, 0.95, 0.8, 0.0),
}


@dataclass(frozen=True)
class SyntheticSpec:
    n_subjects: int = 36
    images_per_subject_per_class: int = 6
    size: int = 96
    seed: int = 1234
    intensity_range: tuple[float, float] = (0.3, 1.0)
    parameter_noise: float = 0.12
    occlusion_probability: float = 0.1
    # Fraction of `images_per_subject_per_class` kept per label (missing labels keep all). Real FER data
    # is imbalanced (FER2013: 16 happy per disgust); a balanced default would make every balancing
    # experiment (oversampling, SMOTE, weighted loss, the leaky orders) a no-op on the default run.
    class_proportions: dict | None = None

    def __post_init__(self):
        if self.n_subjects < 3:
            raise ValueError("synthetic: n_subjects must be >= 3 so subject-independent splits exist")
        if self.images_per_subject_per_class < 1:
            raise ValueError("synthetic: images_per_subject_per_class must be >= 1")
        if self.size < 32:
            raise ValueError("synthetic: size must be >= 32 pixels")
        unknown = sorted(set(self.class_proportions or {}) - set(BASIC7))
        if unknown:
            raise ValueError(
                f"synthetic: class_proportions has unknown labels {unknown}; expected some of {list(BASIC7)}"
            )
        bad = {k: v for k, v in (self.class_proportions or {}).items() if not 0 < v <= 1}
        if bad:
            raise ValueError(f"synthetic: class_proportions must lie in (0, 1]; got {bad}")

    def images_for(self, label: str) -> int:
        """Images per subject of `label`: at least one, so every subject shows every expression."""
        fraction = (self.class_proportions or {}).get(label, 1.0)
        return max(1, round(self.images_per_subject_per_class * fraction))


@dataclass(frozen=True)
class Identity:
    face_w: float
    face_h: float
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    background: tuple[float, float, float]
    eye_gap: float
    eye_size: float
    brow_thick: int
    mouth_w: float
    nose_len: float
    idiosyncrasy: np.ndarray


def make_identity(seed: int, subject: int) -> Identity:
    rng = np.random.default_rng([seed, subject, 7919])
    skin_base = rng.uniform(0.35, 0.95)
    skin = (skin_base * rng.uniform(0.55, 0.75), skin_base * rng.uniform(0.7, 0.85), skin_base)  # BGR-ish warm tone
    return Identity(
        face_w=rng.uniform(0.33, 0.38),
        face_h=rng.uniform(0.41, 0.46),
        skin=tuple(255 * np.array(skin)),
        hair=tuple(rng.uniform(10, 120, size=3)),
        background=tuple(rng.uniform(60, 220, size=3)),
        eye_gap=rng.uniform(0.26, 0.31),
        eye_size=rng.uniform(0.85, 1.15),
        brow_thick=int(rng.integers(2, 4)),
        mouth_w=rng.uniform(0.85, 1.15),
        nose_len=rng.uniform(0.8, 1.2),
        idiosyncrasy=rng.normal(0, 0.1, size=len(PARAMS)),
    )


def expression_parameters(label: str, rng: np.random.Generator, identity: Identity, spec: SyntheticSpec) -> dict:
    neutral = np.array(PROTOTYPES["neutral"])
    proto = np.array(PROTOTYPES[label])
    intensity = rng.uniform(*spec.intensity_range)
    values = neutral + intensity * (proto - neutral) + identity.idiosyncrasy
    values += rng.normal(0, spec.parameter_noise, size=len(PARAMS))
    values[2] = np.clip(values[2], 0.05, 1.1)  # eye_open
    values[4] = np.clip(values[4], 0.0, 1.0)  # mouth_open
    values[5] = np.clip(values[5], 0.6, 1.4)  # mouth_width
    values[6] = np.clip(values[6], 0.0, 1.0)  # nose_wrinkle
    return dict(zip(PARAMS, values))


def _pt(x: float, y: float, s: int) -> tuple[int, int]:
    # OpenCV drawing with 4 bits of sub-pixel precision keeps small features smooth at 96 px.
    return int(round(x * s * 16)), int(round(y * s * 16))


def render_face(identity: Identity, p: dict, size: int) -> np.ndarray:
    """Draw a frontal face on a canvas (coordinates in units of the image side)."""
    s, sh, aa = size, 4, cv2.LINE_AA
    img = np.empty((s, s, 3), np.uint8)
    img[:] = np.array(identity.background, np.uint8)
    cx, cy = 0.5, 0.52
    axes = (int(identity.face_w * s * 16), int(identity.face_h * s * 16))
    hair_axes = (int(identity.face_w * 1.1 * s * 16), int(identity.face_h * 0.9 * s * 16))
    cv2.ellipse(img, _pt(cx, cy - 0.08, s), hair_axes, 0, 180, 360, identity.hair, -1, aa, sh)
    cv2.ellipse(img, _pt(cx, cy, s), axes, 0, 0, 360, identity.skin, -1, aa, sh)
    dark = tuple(0.35 * np.array(identity.skin))

    eye_y = cy - 0.08
    eye_w = 0.07 * identity.eye_size
    eye_h = max(0.005, 0.05 * identity.eye_size * p["eye_open"])
    for side in (-1, 1):
        ex = cx + side * identity.eye_gap / 2
        cv2.ellipse(
            img, _pt(ex, eye_y, s), (int(eye_w * s * 16), int(eye_h * s * 16)), 0, 0, 360, (235, 235, 235), -1, aa, sh
        )
        iris_r = int(min(eye_h, 0.028) * s * 16)
        if iris_r > 0:
            cv2.circle(img, _pt(ex, eye_y, s), iris_r, (40, 30, 20), -1, aa, sh)
        # Brow: outer end at the eye's outer corner, inner end near the nose; tilt moves the inner end.
        brow_y = eye_y - 0.08 - 0.05 * p["brow_y"]
        inner = (ex - side * 0.06, brow_y + 0.05 * p["brow_tilt"])
        outer = (ex + side * 0.065, brow_y - 0.015 * p["brow_tilt"])
        cv2.line(img, _pt(*inner, s), _pt(*outer, s), identity.hair, identity.brow_thick + 1, aa, sh)

    nose_top, nose_bottom = cy - 0.02, cy + 0.06 * identity.nose_len
    cv2.line(img, _pt(cx, nose_top, s), _pt(cx + 0.01, nose_bottom, s), dark, 2, aa, sh)
    cv2.line(img, _pt(cx - 0.03, nose_bottom, s), _pt(cx + 0.03, nose_bottom, s), dark, 2, aa, sh)
    if p["nose_wrinkle"] > 0.3:
        for dy in (0.0, 0.02):
            y = nose_top - 0.01 + dy
            cv2.line(img, _pt(cx - 0.04, y, s), _pt(cx + 0.04, y, s), dark, 2, aa, sh)

    _draw_mouth(img, identity, p, cx, cy + 0.19, s, aa, sh)
    return img


def _draw_mouth(img, identity, p, cx, my, s, aa, sh) -> None:
    half_w = 0.11 * identity.mouth_w * p["mouth_width"]
    xs = np.linspace(-half_w, half_w, 15)
    # Parabola through the corners: corners rise by `curve`, the middle stays at my.
    curve = 0.06 * p["mouth_curve"]
    upper_y = my - curve * (xs / half_w) ** 2
    # Disgust lifts the upper lip on one side.
    upper_y -= 0.025 * p["nose_wrinkle"] * np.clip(xs / half_w, 0, 1)
    lower_y = upper_y + 0.12 * p["mouth_open"] * (1 - (xs / half_w) ** 2)
    lip = (70, 60, 150)
    if p["mouth_open"] > 0.08:
        poly = np.concatenate([np.stack([cx + xs, upper_y], 1), np.stack([cx + xs, lower_y], 1)[::-1]])
        pts = np.round(poly * s * 16).astype(np.int32)
        cv2.fillPoly(img, [pts], (30, 20, 40), aa, sh)
        cv2.polylines(img, [pts], True, lip, 2, aa, sh)
    else:
        pts = np.round(np.stack([cx + xs, upper_y], 1) * s * 16).astype(np.int32)
        cv2.polylines(img, [pts], False, lip, 3, aa, sh)


def apply_nuisance(img: np.ndarray, rng: np.random.Generator, spec: SyntheticSpec, background) -> np.ndarray:
    s = img.shape[0]
    angle = rng.uniform(-10, 10)
    scale = rng.uniform(0.9, 1.1)
    shift = rng.uniform(-0.04, 0.04, size=2) * s
    m = cv2.getRotationMatrix2D((s / 2, s / 2), angle, scale)
    m[:, 2] += shift
    img = cv2.warpAffine(
        img,
        m,
        (s, s),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=tuple(float(b) for b in background),
    )
    if rng.random() < spec.occlusion_probability:
        img = _occlude(img, rng)
    out = img.astype(np.float32)
    direction = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:s, 0:s] / s - 0.5
    gradient = 1.0 + rng.uniform(0.1, 0.35) * (np.cos(direction) * xx + np.sin(direction) * yy) * 2
    out *= gradient[..., None] * rng.uniform(0.75, 1.2)
    out += rng.normal(0, rng.uniform(2, 9), size=out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def _occlude(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    s = img.shape[0]
    kind = rng.integers(3)
    colour = tuple(int(c) for c in rng.uniform(0, 255, size=3))
    if kind == 0:  # sunglasses band over the eyes
        y = int(s * rng.uniform(0.38, 0.48))
        cv2.rectangle(img, (int(0.22 * s), y - int(0.05 * s)), (int(0.78 * s), y + int(0.05 * s)), (20, 20, 20), -1)
    elif kind == 1:  # hand over the mouth
        centre = (int(s * rng.uniform(0.4, 0.6)), int(s * rng.uniform(0.65, 0.75)))
        cv2.ellipse(img, centre, (int(0.16 * s), int(0.09 * s)), rng.uniform(-20, 20), 0, 360, colour, -1, cv2.LINE_AA)
    else:  # random patch anywhere
        w, h = (rng.uniform(0.15, 0.3, size=2) * s).astype(int)
        x, y = rng.integers(0, s - w), rng.integers(0, s - h)
        cv2.rectangle(img, (int(x), int(y)), (int(x + w), int(y + h)), colour, -1)
    return img


def render_sample(spec: SyntheticSpec, identity: Identity, subject: int, class_index: int, k: int) -> np.ndarray:
    rng = np.random.default_rng([spec.seed, subject, class_index, k])
    params = expression_parameters(BASIC7[class_index], rng, identity, spec)
    face = render_face(identity, params, spec.size)
    bgr = apply_nuisance(face, rng, spec, identity.background)
    return bgr[..., ::-1]  # drawn in OpenCV's BGR order; the standard format is RGB


def generate(spec: SyntheticSpec) -> tuple[np.ndarray, pd.DataFrame]:
    n = spec.n_subjects * sum(spec.images_for(label) for label in BASIC7)
    images = np.empty((n, spec.size, spec.size, 3), np.uint8)
    rows = []
    i = 0
    for subject in range(spec.n_subjects):
        identity = make_identity(spec.seed, subject)
        for class_index, label in enumerate(BASIC7):
            # The first k indices of a class: its images do not change when the proportion does.
            for k in range(spec.images_for(label)):
                images[i] = render_sample(spec, identity, subject, class_index, k)
                sid = f"syn_s{subject:03d}_{label}_{k:02d}"
                rows.append((sid, label, f"S{subject:03d}", f"synthetic://seed{spec.seed}/{sid}", ""))
                i += 1
    return images, pd.DataFrame(rows, columns=["sample_id", "label", "subject_id", "source_file", "split"])


def preview_grid(images: np.ndarray, samples: pd.DataFrame, per_class: int = 6) -> np.ndarray:
    """One row per class, first `per_class` subjects: a quick visual check of the generator."""
    rows = []
    for label in BASIC7:
        idx = samples.index[(samples["label"] == label) & samples["sample_id"].str.endswith("_00")][:per_class]
        rows.append(np.concatenate([images[i] for i in idx], axis=1))
    return np.concatenate(rows, axis=0)


def write_synthetic(
    spec: SyntheticSpec, out_dir: str | Path, preview: str | Path | None = None, name: str = "synthetic"
) -> dict:
    start = time.perf_counter()
    images, samples = generate(spec)
    report = {
        "dataset": name,
        "generator": {k: getattr(spec, k) for k in spec.__dataclass_fields__},
        "seconds": round(time.perf_counter() - start, 3),
        "n_samples": int(len(samples)),
        "dropped": 0,
        "note": "synthetic data: never compared with a paper's claims",
    }
    write_decoded(out_dir, images, samples, report)
    if preview:
        cv2.imwrite(str(preview), preview_grid(images, samples)[..., ::-1])
    return report


# A config block's keys are the SyntheticSpec fields themselves.
CONFIG_KEYS = tuple(SyntheticSpec.__dataclass_fields__)


def spec_from_params(params: dict) -> SyntheticSpec:
    """A SyntheticSpec from a config block (`synthetic:` / `synthetic_shift:` of config/config.yaml)."""
    unknown = sorted(set(params) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(f"synthetic generator settings {unknown} are unknown; expected some of {sorted(CONFIG_KEYS)}")
    kwargs = {k: (tuple(v) if k == "intensity_range" else v) for k, v in params.items()}
    return SyntheticSpec(**kwargs)


def cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="ferrepro make-synthetic", description="Render the synthetic face dataset.")
    p.add_argument("--out", required=True, help="output folder (standard decoded format)")
    p.add_argument(
        "--params-json", help="the generator settings as a JSON object (a config block); overrides the individual flags"
    )
    p.add_argument("--n-subjects", type=int, default=SyntheticSpec.n_subjects)
    p.add_argument(
        "--per-class", type=int, default=SyntheticSpec.images_per_subject_per_class, help="images per subject and class"
    )
    p.add_argument("--size", type=int, default=SyntheticSpec.size)
    p.add_argument("--seed", type=int, default=SyntheticSpec.seed)
    p.add_argument("--preview", help="optional PNG grid of examples")
    a = p.parse_args(argv)
    if a.params_json:
        spec = spec_from_params(json.loads(a.params_json))
    else:
        spec = SyntheticSpec(
            n_subjects=a.n_subjects, images_per_subject_per_class=a.per_class, size=a.size, seed=a.seed
        )
    report = write_synthetic(spec, a.out, a.preview, name=Path(a.out).name)
    print(f"{Path(a.out).name}: {report['n_samples']} images in {report['seconds']} s -> {a.out}")
    return 0
