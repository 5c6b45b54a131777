"""`ferrepro predict`: run a trained model on your own photos.

For every input image: read it as RGB, find *all* faces with dlib's frontal face detector, crop each
face with a margin, preprocess the crop exactly as the run's model saw its training images, and
report the predicted expression and every class probability.

"Exactly as in training" is guaranteed by reusing the training code paths, driven by the model
file's own ``spec``: ``training.arrays.images_for_model`` (the run's ``preprocess`` steps, then
``training.inputs.to_model_input``: resize, gray/RGB conversion, [0, 1] range) and
``evaluation.evaluate.predict_probabilities`` (the run's normalisation, softmax). The file's spec is read
as a ``RunSpec`` (a key this ferrepro does not know is refused, naming it); predict uses its model
settings (``RunSpec.MODEL_FIELDS``), and the run's identity and epochs for the caveats below. What it
cannot reproduce on a photo (fused handcrafted ``features``, a ``landmark_emphasis`` step) is refused
with a message naming it, never ignored. A model trained on synthetic faces, or under a preset's epoch
cap, is flagged in every output (table, JSON, annotated pictures): its labels on real photos mean little.

Choices made here (no paper describes inference on new photos):

- detections below ``--threshold`` 0.5 are dropped. dlib's own threshold (0) keeps weak
  detections; that is harmless when one keeps only the best face (``features.landmarks``) but
  not when every face is reported: on scikit-image's astronaut photo, with one upsampling, it
  fires on the round mission patch (score 0.12) besides the face (score 1.16);
- the crop is a square centred on the detector's box, each side extended by ``--margin`` (0.2) of
  the box side, because dlib's box is tight (brows to chin) while training faces (FER2013, RAF-DB)
  include forehead and some background. Parts of the square outside the photo are filled by
  replicating the border, so the face is never stretched to a square;
- photos larger than ``--detect-max-side`` (1600 px) are shrunk for *detection* only (dlib's HOG
  detector on a 12 MP photo, upsampled, takes many seconds and GBs); faces are cropped from the
  full-resolution photo;
- faces are numbered left to right (then top to bottom), so the index is stable between runs.

Safety: the model file is read once, by ``ferrepro.models.checkpoint.read_model_file`` in PyTorch's
weights-only mode, which refuses any pickled object other than tensors and plain containers, so a
crafted ``.pt`` file cannot run code.

Exit status: 0 every image had at least one face; 1 some image could not be read or annotated;
2 bad arguments or model file (nothing processed); 3 all images read but some had no face.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ferrepro.models.checkpoint import MODEL_FILE, ModelFileError, build_trained_model, first_line, read_model_file
from ferrepro.runspec import RunSpec, SpecError

DEFAULT_UPSAMPLE = 1
DEFAULT_THRESHOLD = 0.5
DEFAULT_MARGIN = 0.2
DEFAULT_DETECT_MAX_SIDE = 1600

EXIT_OK, EXIT_IMAGE_ERROR, EXIT_USAGE, EXIT_NO_FACE = 0, 1, 2, 3

# Preprocessing steps predict cannot run on a photo: they need inputs computed elsewhere in the workflow.
UNREPRODUCIBLE_STEPS = {"landmark_emphasis": "it needs the dlib landmarks the workflow computes for its dataset"}


class PredictError(Exception):
    """Bad arguments or model file; the message names the file, what is wrong and how to fix it."""


class ImageReadError(Exception):
    """One input image cannot be used; the other images are still processed."""


# ----------------------------------------------------------------------------- model


@dataclass
class LoadedModel:
    model: Any  # torch.nn.Module in eval mode
    spec: RunSpec
    classes: list[str]
    path: Path

    @property
    def caveats(self) -> list[str]:
        return training_caveats(self.spec, self.path)


def training_caveats(spec: RunSpec, model_path: Path) -> list[str]:
    """Plain sentences on why this model's predictions on real photos mean little (empty when none applies).

    Synthetic: the spec's dataset is one of the embedded synthetic datasets. Capped: the run stopped at a
    preset's epoch cap below the paper's own ``max_epochs`` (read from the paper config when this checkout
    has it), or, failing that, ran out of epochs without early stopping while the train summary says so.
    """
    from ferrepro.config import SYNTHETIC_DATASETS

    notes = []
    if spec.dataset in SYNTHETIC_DATASETS:
        notes.append(
            f"trained on synthetic faces (dataset {spec.dataset!r}), never on real photos: its predictions "
            "on real faces mean nothing; it only shows that the pipeline runs"
        )
    epochs, paper_epochs = spec.max_epochs, _paper_max_epochs(spec)
    if isinstance(epochs, int) and paper_epochs is not None and epochs < paper_epochs:
        run = _train_summary(model_path)
        ran = run.get("epochs_run", epochs) if isinstance(run.get("epochs_run"), int) else epochs
        notes.append(
            f"trained for {ran} epoch(s) under a preset capped at {epochs}, where the paper trains "
            f"up to {paper_epochs}: an under-trained model"
        )
    return notes


def _paper_max_epochs(spec: RunSpec) -> int | None:
    """The paper's own max_epochs for the run's experiment, from config/papers/<paper>.yaml, if readable."""
    import yaml

    from ferrepro.config import SCHEMA_DIR, ConfigError, load_paper_config, paper_max_epochs

    try:
        paper = load_paper_config(SCHEMA_DIR.parents[1] / "config" / "papers" / f"{spec.paper}.yaml")
        return paper_max_epochs(paper, spec.claim_group)
    except (OSError, yaml.YAMLError, ConfigError, KeyError):
        return None  # not a checkout with the paper configs (or a model of another ferrepro): say nothing


def _train_summary(model_path: Path) -> dict:
    from ferrepro.training.run import SUMMARY_FILE

    try:
        data = json.loads((model_path.parent / SUMMARY_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def model_file_for(run: str | None, checkpoint: str | None) -> Path:
    """The model.pt named by ``--run`` (a run folder) or ``--checkpoint`` (the file itself)."""
    if checkpoint is not None:
        path = Path(checkpoint)
        if not path.is_file():
            raise PredictError(f"model file {path} does not exist (--checkpoint expects a run's {MODEL_FILE})")
        return path
    run_dir = Path(run)
    path = run_dir / MODEL_FILE
    if not path.is_file():
        train = f"snakemake --cores all {run_dir.as_posix()}/{MODEL_FILE}"
        if not run_dir.is_dir():
            raise PredictError(f"run folder {run_dir} does not exist: check the path, or train the run with: {train}")
        raise PredictError(
            f"run folder {run_dir} has no {MODEL_FILE}: the run has not been trained. Train it with: {train}"
        )
    return path


def check_inference_spec(payload: dict, path: Path) -> RunSpec:
    """The file's RunSpec, once it is known to give what predict needs beyond a valid model file
    (``read_model_file``): an input it can build from a photo."""
    from ferrepro.training.inputs import CHANNELS, KEEP, NORMALISATIONS

    spec = run_spec(payload["spec"], path)
    check_spec_reproducible(spec, path)
    inp = spec.input
    if not isinstance(inp.size, int) or inp.size < 1:
        raise PredictError(f"{path}: spec input size must be a positive integer, got {inp.size!r}")
    if inp.channels not in (*CHANNELS, KEEP):
        raise PredictError(
            f"{path}: spec input channels {inp.channels!r} unknown; expected one of {sorted(CHANNELS) + [KEEP]}"
        )
    if inp.normalize not in NORMALISATIONS:
        raise PredictError(
            f"{path}: spec input normalize {inp.normalize!r} unknown; expected one of {list(NORMALISATIONS)}"
        )
    produced = _input_channels(spec, path)
    if payload["in_channels"] != produced:
        raise PredictError(
            f"{path}: in_channels {payload['in_channels']!r} contradicts spec input channels "
            f"{inp.channels!r} (which give {produced}); the file is inconsistent, retrain the run"
        )
    return spec


def run_spec(spec: Any, path: Path) -> RunSpec:
    """The model file's spec as a RunSpec; a key this ferrepro does not know, or a missing one, is refused."""
    try:
        return RunSpec.from_dict(spec, str(path))
    except SpecError as exc:
        raise PredictError(str(exc)) from None


def check_spec_reproducible(spec: RunSpec, path: Path) -> None:
    """Refuse what decides the model's input but that predict cannot reproduce on a photo."""
    if spec.features:
        raise PredictError(
            f"{path}: the model's spec has ['features'], which `ferrepro predict` does not know how to reproduce "
            f"(it applies the input settings and the preprocessing steps); predicting without them would "
            "feed the model inputs unlike its training data. Predict supports models trained on images alone."
        )
    _pipeline(spec, path)


def _pipeline(spec: RunSpec, path: Path):
    """The run's preprocessing pipeline (training's ``preprocess`` list), checked for what a photo allows."""
    from ferrepro.features.preprocess import PreprocessError, build_pipeline

    try:
        pipeline = build_pipeline(spec.preprocess)
    except PreprocessError as exc:
        raise PredictError(
            f"{path}: the model's spec has an invalid `preprocess` list ({exc}); "
            "the file is inconsistent, retrain the run"
        ) from None
    for step in pipeline.steps:
        if step.op in UNREPRODUCIBLE_STEPS:
            raise PredictError(
                f"{path}: the model's preprocessing has a {step.op!r} step, which `ferrepro predict` "
                f"cannot run on a photo ({UNREPRODUCIBLE_STEPS[step.op]}); predict supports models "
                f"whose preprocessing uses only {sorted(_photo_ops())}"
            )
    return pipeline


def _photo_ops() -> set[str]:
    from ferrepro.features.preprocess import OPS

    return set(OPS) - set(UNREPRODUCIBLE_STEPS)


def _input_channels(spec: RunSpec, path: Path) -> int:
    """Channels the model receives: run one blank crop through the same code path as a real one."""
    try:
        return int(model_input(spec, [np.zeros((8, 8, 3), np.uint8)]).shape[1])
    except ValueError as exc:
        raise PredictError(
            f"{path}: the model's input settings cannot be applied to a photo "
            f"({first_line(str(exc))}); the file is inconsistent, retrain the run"
        ) from None


def model_input(spec: RunSpec, crops: list[np.ndarray]) -> np.ndarray:
    """N x C x size x size float32 model input of RGB uint8 face crops, as training built it from decoded images.

    Training runs the ``preprocess`` steps on the decoded images, then ``to_model_input`` (resize, channels,
    [0, 1]); the same function runs here. A decoded training image is a face at about the model's input size
    (gray when the model takes gray), so each crop is first brought to that size and, for a gray model, to gray:
    a step such as a Gaussian blur of sigma 1 then acts on the same scale as in training.
    """
    import cv2

    from ferrepro.training.arrays import images_for_model

    size = spec.input.size
    faces = []
    for crop in crops:
        interp = cv2.INTER_AREA if min(crop.shape[:2]) > size else cv2.INTER_LINEAR
        face = cv2.resize(crop, (size, size), interpolation=interp)
        if spec.input.channels == "gray":
            face = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)[..., None]  # BT.601, as to_model_input
        faces.append(face)
    return images_for_model(np.stack(faces), spec.input, spec.preprocess, None)


def load_model(path: Path) -> LoadedModel:
    """Read and check the model file once, check that predict can build its input, then build the network."""
    from ferrepro.models import model_uses_features

    payload = read_model_file(path)
    spec = check_inference_spec(payload, path)
    model = build_trained_model(payload, path)
    if model_uses_features(model):
        raise PredictError(
            f"{path}: model {spec.model!r} fuses handcrafted features with the image "
            "(uses_features); `ferrepro predict` cannot compute those, so it refuses to guess them"
        )
    return LoadedModel(model=model, spec=spec, classes=list(payload["classes"]), path=path)


# ----------------------------------------------------------------------------- images and faces


def read_image_rgb(path: Path) -> np.ndarray:
    """uint8 H x W x 3 RGB; gray files become three equal channels (the model's own conversion follows)."""
    import cv2

    if not path.exists():
        raise ImageReadError("file not found")
    if path.is_dir():
        raise ImageReadError("is a folder; pass image files (e.g. folder/*.jpg)")
    try:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)  # applies EXIF orientation; 16-bit -> 8-bit
    except cv2.error as exc:
        raise ImageReadError(f"OpenCV could not decode it ({first_line(str(exc))})") from None
    if image is None:
        raise ImageReadError(
            "not an image OpenCV can decode (e.g. jpg, png, bmp, tiff, webp); is it truncated or another kind of file?"
        )
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@dataclass(frozen=True)
class Detection:
    left: int  # the detector's box, clipped to the image
    top: int
    width: int
    height: int
    score: float
    center: tuple[float, float]  # unclipped box centre (x, y) and side, for the crop
    side: float


@functools.cache
def _frontal_face_detector():
    """dlib's detector, built once per process (deserialising its HOG filters takes ~0.8 s)."""
    # landmarks owns the dlib import and its how-to-install message.
    from ferrepro.features.landmarks import import_dlib

    return import_dlib().get_frontal_face_detector()


class FaceDetector:
    """dlib's HOG frontal face detector, returning every face above ``threshold``."""

    def __init__(
        self,
        upsample: int = DEFAULT_UPSAMPLE,
        threshold: float = DEFAULT_THRESHOLD,
        max_side: int = DEFAULT_DETECT_MAX_SIDE,
    ):
        from ferrepro.features.landmarks import LandmarkModelMissing

        self.upsample, self.threshold, self.max_side = upsample, threshold, max_side
        try:
            self._detector = _frontal_face_detector()
        except LandmarkModelMissing as exc:  # dlib not installed: the message says which package to install
            raise PredictError(str(exc)) from None

    def detect(self, image: np.ndarray) -> list[Detection]:
        import cv2

        from ferrepro.features.landmarks import as_dlib_image

        h, w = image.shape[:2]
        scale = min(1.0, self.max_side / max(h, w)) if self.max_side > 0 else 1.0
        small = (
            image
            if scale == 1.0
            else cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        )
        # dlib's adjust_threshold: it returns detections scoring above it.
        rects, scores, _ = self._detector.run(as_dlib_image(small), self.upsample, self.threshold)
        found = [self._to_full_resolution(r, s, scale, w, h) for r, s in zip(rects, scores)]
        return sorted(found, key=lambda d: (d.left, d.top))

    @staticmethod
    def _to_full_resolution(rect, score: float, scale: float, w: int, h: int) -> Detection:
        left, top = rect.left() / scale, rect.top() / scale
        right, bottom = (rect.right() + 1) / scale, (rect.bottom() + 1) / scale
        cl, ct = max(0, round(left)), max(0, round(top))
        cr, cb = min(w, round(right)), min(h, round(bottom))
        return Detection(
            left=cl,
            top=ct,
            width=max(0, cr - cl),
            height=max(0, cb - ct),
            score=float(score),
            center=((left + right) / 2, (top + bottom) / 2),
            side=max(right - left, bottom - top),
        )


def crop_face(image: np.ndarray, detection: Detection, margin: float) -> np.ndarray:
    """Square crop around the face, each side extended by ``margin`` x the box side; outside: border replicated."""
    import cv2

    side = max(1, round(detection.side * (1 + 2 * margin)))
    left = round(detection.center[0] - side / 2)
    top = round(detection.center[1] - side / 2)
    h, w = image.shape[:2]
    pad_left, pad_top = max(0, -left), max(0, -top)
    pad_right, pad_bottom = max(0, left + side - w), max(0, top + side - h)
    if pad_left or pad_top or pad_right or pad_bottom:
        image = cv2.copyMakeBorder(image, pad_top, pad_bottom, pad_left, pad_right, cv2.BORDER_REPLICATE)
    top, left = top + pad_top, left + pad_left
    return np.ascontiguousarray(image[top : top + side, left : left + side])


def face_probabilities(loaded: LoadedModel, crops: list[np.ndarray]) -> np.ndarray:
    """N x classes probabilities, through the same preprocessing, input conversion and normalisation as training."""
    from ferrepro.evaluation.evaluate import predict_probabilities

    x = model_input(loaded.spec, crops)
    return predict_probabilities(loaded.model, x, loaded.spec.input.normalize)


# ----------------------------------------------------------------------------- per image


@dataclass
class FaceResult:
    index: int
    detection: Detection
    label: str
    probabilities: dict[str, float]


@dataclass
class ImageResult:
    path: Path
    status: str  # "ok" | "no_face" | "error"
    message: str = ""
    size: tuple[int, int] | None = None  # (width, height)
    faces: list[FaceResult] = field(default_factory=list)
    annotated: Path | None = None


def predict_image(
    path: Path,
    loaded: LoadedModel,
    detector: FaceDetector,
    margin: float,
) -> tuple[ImageResult, np.ndarray | None]:
    """Result for one image (never raises for a bad image) and the RGB image, for annotation."""
    try:
        image = read_image_rgb(path)
    except ImageReadError as exc:
        return ImageResult(path, "error", f"cannot read image: {exc}"), None
    size = (image.shape[1], image.shape[0])
    detections = detector.detect(image)
    if not detections:
        hint = "" if detector.upsample >= 2 else f"; for small faces try --upsample {detector.upsample + 1}"
        message = (
            f"no face found (dlib frontal face detector, upsample {detector.upsample}, "
            f"threshold {detector.threshold:g}{hint})"
        )
        return ImageResult(path, "no_face", message, size), image
    probs = face_probabilities(loaded, [crop_face(image, d, margin) for d in detections])
    faces = [
        FaceResult(i, d, loaded.classes[int(p.argmax())], {c: float(v) for c, v in zip(loaded.classes, p)})
        for i, (d, p) in enumerate(zip(detections, probs))
    ]
    return ImageResult(path, "ok", "", size, faces), image


# ----------------------------------------------------------------------------- annotation


def annotation_paths(images: list[Path], target: str | None) -> list[Path | None]:
    """Where each input's annotated copy goes: ``target`` itself (one input) or ``target/<stem>.png``."""
    if target is None:
        return [None] * len(images)
    out = Path(target)
    as_folder = out.is_dir() or target.endswith(("/", "\\")) or out.suffix == ""
    if not as_folder:
        if len(images) > 1:
            raise PredictError(
                f"--annotate {target} is a file but {len(images)} images were given; "
                "pass a folder (e.g. --annotate annotated/) to get one annotated copy per image"
            )
        return [out]
    paths, used = [], set()
    for image in images:
        name, k = f"{image.stem}.png", 1
        while name in used:  # same file name from different folders
            k += 1
            name = f"{image.stem}_{k}.png"
        used.add(name)
        paths.append(out / name)
    return paths


def draw_annotations(image: np.ndarray, result: ImageResult, caveats: list[str] | tuple = ()) -> np.ndarray:
    """BGR copy of ``image`` with each face's box, index, label and probability, and a warning band at the
    bottom when the model's predictions mean little (``training_caveats``)."""
    import cv2

    canvas = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    h, w = canvas.shape[:2]
    thickness = max(1, round(min(h, w) / 300))
    font_scale = max(0.4, min(h, w) / 1000)  # readable on small and on 12 MP photos
    colour, text_colour = (0, 200, 0), (0, 0, 0)
    if not result.faces:
        _label(canvas, "no face found", (0, 0), (0, 0, 255), (255, 255, 255), font_scale, max(1, thickness // 2))
    for face in result.faces:
        d = face.detection
        cv2.rectangle(canvas, (d.left, d.top), (d.left + d.width - 1, d.top + d.height - 1), colour, thickness)
        text = f"#{face.index} {face.label} {face.probabilities[face.label]:.2f}"
        _label(canvas, text, (d.left, d.top), colour, text_colour, font_scale, max(1, thickness // 2))
    if caveats:
        _warning_band(canvas, caveat_headline(caveats), font_scale, max(1, thickness // 2))
    return canvas


def caveat_headline(caveats: list[str] | tuple) -> str:
    """One short line for a picture: 'WARNING: model trained on synthetic data, 2 epochs (preset cap)'."""
    parts = []
    for note in caveats:
        if note.startswith("trained on synthetic"):
            parts.append("trained on synthetic data only")
        elif "capped at" in note:
            parts.append(f"{note.split()[2]} epoch(s), capped preset")
        else:
            parts.append(note.split(":")[0])
    return "WARNING: model " + ", ".join(parts) + ": not meaningful on real faces"


def _warning_band(canvas, text, font_scale, thickness) -> None:
    """``text`` in white on a red band along the bottom edge, shrunk to fit the image width."""
    import cv2

    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), baseline = cv2.getTextSize(text, font, font_scale, thickness)
    pad = max(2, th // 3)
    scale = min(font_scale, font_scale * (canvas.shape[1] - 2 * pad) / max(tw, 1))
    (tw, th), baseline = cv2.getTextSize(text, font, scale, thickness)
    h = canvas.shape[0]
    top = max(0, h - th - baseline - 2 * pad)
    cv2.rectangle(canvas, (0, top), (canvas.shape[1] - 1, h - 1), (0, 0, 200), cv2.FILLED)
    cv2.putText(canvas, text, (pad, h - baseline - pad), font, scale, (255, 255, 255), thickness, cv2.LINE_AA)


def _label(canvas, text, corner, background, foreground, font_scale, thickness) -> None:
    """Text on a filled box just above ``corner`` (inside the image when there is no room above)."""
    import cv2

    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), baseline = cv2.getTextSize(text, font, font_scale, thickness)
    x = max(0, min(corner[0], canvas.shape[1] - tw))
    y = corner[1] - th - baseline if corner[1] - th - baseline >= 0 else corner[1]
    cv2.rectangle(canvas, (x, y), (x + tw, y + th + baseline), background, cv2.FILLED)
    cv2.putText(canvas, text, (x, y + th), font, font_scale, foreground, thickness, cv2.LINE_AA)


def write_annotation(image: np.ndarray, result: ImageResult, out: Path, caveats: list[str] | tuple = ()) -> None:
    import cv2

    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        ok = cv2.imwrite(str(out), draw_annotations(image, result, caveats))
    except cv2.error as exc:
        ok, reason = False, first_line(str(exc))
    else:
        reason = "OpenCV could not write it"
    if not ok:
        raise ImageReadError(f"cannot write annotated image {out}: {reason} (use a .png or .jpg name)")
    result.annotated = out


# ----------------------------------------------------------------------------- output


def results_json(results: list[ImageResult], loaded: LoadedModel, detector: FaceDetector, margin: float) -> dict:
    return {
        "model": {
            "file": str(loaded.path),
            "run": loaded.spec.run_name,
            "name": loaded.spec.model,
            "input": loaded.spec.input.to_dict(),
            "preprocess": list(loaded.spec.preprocess),
            "classes": loaded.classes,
            "dataset": loaded.spec.dataset,
            "max_epochs": loaded.spec.max_epochs,
            "caveats": loaded.caveats,
        },
        "settings": {
            "upsample": detector.upsample,
            "threshold": detector.threshold,
            "margin": margin,
            "detect_max_side": detector.max_side,
        },
        "images": [_image_json(r) for r in results],
    }


def _image_json(r: ImageResult) -> dict:
    return {
        "image": str(r.path),
        "status": r.status,
        "message": r.message or None,
        "width": r.size[0] if r.size else None,
        "height": r.size[1] if r.size else None,
        "annotated": str(r.annotated) if r.annotated else None,
        "faces": [
            {
                "face": f.index,
                "box": {
                    "left": f.detection.left,
                    "top": f.detection.top,
                    "width": f.detection.width,
                    "height": f.detection.height,
                },
                "score": round(f.detection.score, 4),
                "label": f.label,
                "probabilities": f.probabilities,
            }
            for f in r.faces
        ],
    }


def results_table(results: list[ImageResult], classes: list[str]) -> str:
    import pandas as pd

    rows = [
        {
            "image": str(r.path),
            "face": f.index,
            "left": f.detection.left,
            "top": f.detection.top,
            "width": f.detection.width,
            "height": f.detection.height,
            "score": f.detection.score,
            "label": f.label,
            **f.probabilities,
        }
        for r in results
        for f in r.faces
    ]
    if not rows:
        return "(no faces found)"
    columns = ["image", "face", "left", "top", "width", "height", "score", "label", *classes]
    return pd.DataFrame(rows, columns=columns).to_string(index=False, float_format=lambda v: f"{v:.3f}")


def exit_status(results: list[ImageResult]) -> int:
    if any(r.status == "error" for r in results):
        return EXIT_IMAGE_ERROR
    if any(r.status == "no_face" for r in results):
        return EXIT_NO_FACE
    return EXIT_OK


# ----------------------------------------------------------------------------- command line


DESCRIPTION = """\
Classify the expression of every face in your own photos with a trained run.

Each photo is read as RGB; every face is found with dlib's frontal face detector, cropped as a square
with a margin, prepared exactly as the run's training images were (same preprocessing steps, size,
colour and normalisation), and given the predicted expression and every class probability. Faces are
numbered left to right. A model trained on synthetic faces, or for a capped number of epochs, is
flagged in the output and on annotated pictures: its labels on real photos mean little.

Models that fuse handcrafted features or use dlib landmark emphasis cannot be run on photos and are
refused with the reason. The model file is loaded in PyTorch's weights-only mode, so it cannot run code.

Exit status: 0 every image had at least one face; 1 some image could not be read or annotated;
2 bad arguments or model file (nothing processed); 3 all images read but some had no face.
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ferrepro predict", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("images", nargs="+", metavar="IMG", help="photos (jpg, png, ...); every face in each is classified")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", help="run folder results/runs/<paper>/<experiment>/<dataset>/seed<k> (uses its model.pt)")
    src.add_argument("--checkpoint", help="a model.pt written by ferrepro train")
    p.add_argument("--json", action="store_true", help="print JSON (every image, with status) instead of a table")
    p.add_argument(
        "--annotate",
        metavar="OUT",
        help="write a copy with boxes and labels: OUT.png for one image, "
        "a folder (OUT/, or a name without extension) for several",
    )
    p.add_argument(
        "--upsample",
        type=int,
        default=DEFAULT_UPSAMPLE,
        help="times dlib upsamples the image before detecting (finds smaller faces, slower); default 1",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help="minimum dlib detection score; lower finds more faces and more false ones; default 0.5",
    )
    p.add_argument(
        "--margin",
        type=float,
        default=DEFAULT_MARGIN,
        help="fraction of the face box added on each side of the crop; default 0.2",
    )
    p.add_argument(
        "--detect-max-side",
        type=int,
        default=DEFAULT_DETECT_MAX_SIDE,
        help="shrink larger photos to this many pixels for detection only (0: never); default 1600",
    )
    return p


def _check_arguments(p: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    if a.upsample < 0:
        p.error(f"--upsample must be >= 0, got {a.upsample}")
    if not a.margin >= 0:
        p.error(f"--margin must be >= 0, got {a.margin}")
    if a.detect_max_side < 0:
        p.error(f"--detect-max-side must be >= 0, got {a.detect_max_side}")


def run_predict(
    image_paths: list[Path], loaded: LoadedModel, detector: FaceDetector, margin: float, annotate: str | None = None
) -> list[ImageResult]:
    targets = annotation_paths(image_paths, annotate)
    results = []
    for path, target in zip(image_paths, targets):
        result, image = predict_image(path, loaded, detector, margin)
        if target is not None and image is not None:
            try:
                write_annotation(image, result, target, loaded.caveats)
            except ImageReadError as exc:
                result.status, result.message = "error", str(exc)
        results.append(result)
    return results


def cli(argv: list[str]) -> int:
    p = _parser()
    a = p.parse_args(argv)
    _check_arguments(p, a)
    images = [Path(i) for i in a.images]
    try:
        loaded = load_model(model_file_for(a.run, a.checkpoint))
        annotation_paths(images, a.annotate)  # fail on a bad --annotate before any work
        detector = FaceDetector(a.upsample, a.threshold, a.detect_max_side)
    except (PredictError, ModelFileError) as exc:
        print(f"ferrepro predict: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    inp = loaded.spec.input
    print(
        f"ferrepro predict: model {loaded.spec.model} ({loaded.spec.run_name}), input "
        f"{inp.size}x{inp.size} {inp.channels}, normalize {inp.normalize}",
        file=sys.stderr,
    )
    for note in loaded.caveats:
        print(f"ferrepro predict: warning: this model was {note}", file=sys.stderr)
    results = run_predict(images, loaded, detector, a.margin, a.annotate)

    for r in results:
        if r.status != "ok":
            print(f"ferrepro predict: {r.path}: {r.message}", file=sys.stderr)
    if a.json:
        print(json.dumps(results_json(results, loaded, detector, a.margin), indent=2))
    else:
        for note in loaded.caveats:
            print(f"note: this model was {note}")
        print(results_table(results, loaded.classes))
    n_faces = sum(len(r.faces) for r in results)
    n_bad = sum(r.status != "ok" for r in results)
    print(
        f"ferrepro predict: {n_faces} face(s) in {len(results) - n_bad} of {len(results)} image(s)"
        + (f"; {n_bad} image(s) without a prediction (see above)" if n_bad else ""),
        file=sys.stderr,
    )
    return exit_status(results)
