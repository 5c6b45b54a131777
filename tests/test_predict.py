"""`ferrepro predict`: faces in a real photo, bad images, bad model files, annotation, pickle safety.

Model files are built without training (random weights), in the exact layout ``train_run`` writes,
so the tests check the plumbing (detection, crop, preprocessing, output), not accuracy.
"""

from __future__ import annotations

import json
import os
import pickle
import shlex
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from ferrepro.cli import main as ferrepro_main
from ferrepro.labels import BASIC7
from ferrepro.models import build_model
from ferrepro.predict import Detection, cli, crop_face
from ferrepro.runspec import RunSpec

# Where the astronaut's face is in skimage.data.astronaut() (512 x 512): roughly x 175-265, y 75-170.
FACE_CENTRE_X, FACE_CENTRE_Y = (180, 260), (80, 170)


def _spec(channels="gray", size=48, normalize="per_image", model="majeed2025.lenet5", **extra) -> dict:
    """A resolved spec like config.resolve_spec produces (identity, training-only and input keys)."""
    spec = {
        "paper": "majeed2025",
        "experiment": "lenet5",
        "dataset": "synthetic",
        "seed": 0,
        "model": model,
        "split": "subject",
        "input": {"size": size, "channels": channels, "normalize": normalize},
        "optimizer": {"name": "adam", "lr": 0.001},
        "lr_schedule": {"name": "none"},
        "batch_size": 32,
        "max_epochs": 2,
        "early_stopping": {"monitor": "val_loss", "patience": 5},
        "checkpoint_monitor": "val_acc",
        "augmentation": "none",
        "class_weights": False,
        "trainer": {"accelerator": "cpu", "devices": 1},
    }
    spec.update(extra)
    return spec


def _payload(channels="gray", size=48, normalize="per_image", seed=0, **spec_extra) -> dict:
    """The dict train_run saves as model.pt: {"format", "state_dict", "spec", "classes", "in_channels"}."""
    in_channels = {"gray": 1, "rgb": 3}[channels]
    torch.manual_seed(seed)
    model = build_model("majeed2025.lenet5", num_classes=len(BASIC7), in_channels=in_channels, input_size=size)
    return {
        "format": 1,
        "state_dict": model.state_dict(),
        "spec": _spec(channels, size, normalize, **spec_extra),
        "classes": list(BASIC7),
        "in_channels": in_channels,
    }


def _save(payload, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
    return path


def _write_rgb(path: Path, image: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="module")
def astronaut_png(tmp_path_factory) -> Path:
    from skimage.data import astronaut

    return _write_rgb(tmp_path_factory.mktemp("photos") / "astronaut.png", astronaut())


@pytest.fixture(scope="module")
def gray_model(tmp_path_factory) -> Path:
    return _save(_payload("gray"), tmp_path_factory.mktemp("run") / "model.pt")


def _predict_json(capsys, *args) -> tuple[int, dict, str]:
    code = cli([*map(str, args), "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def _by_image(result: dict) -> dict[str, dict]:
    return {Path(r["image"]).name: r for r in result["images"]}


# ----------------------------------------------------------------------------- a real photo


def test_astronaut_one_face_with_label_and_probabilities(astronaut_png, gray_model, capsys):
    run_dir = gray_model.parent
    code, result, _ = _predict_json(capsys, astronaut_png, "--run", run_dir)
    assert code == 0
    (image,) = result["images"]
    assert image["status"] == "ok" and (image["width"], image["height"]) == (512, 512)
    (face,) = image["faces"]  # exactly one face: the mission patch is not reported
    assert face["face"] == 0
    probs = face["probabilities"]
    assert list(probs) == list(BASIC7)
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
    assert all(0.0 <= p <= 1.0 for p in probs.values())
    assert face["label"] == max(probs, key=probs.get)
    box = face["box"]
    centre = (box["left"] + box["width"] / 2, box["top"] + box["height"] / 2)
    assert FACE_CENTRE_X[0] <= centre[0] <= FACE_CENTRE_X[1] and FACE_CENTRE_Y[0] <= centre[1] <= FACE_CENTRE_Y[1]
    assert 60 <= box["width"] <= 140 and 60 <= box["height"] <= 140
    assert result["model"]["run"] == "majeed2025/lenet5/synthetic/seed0"
    assert result["model"]["input"] == {"size": 48, "channels": "gray", "normalize": "per_image"}


def test_table_output_through_the_ferrepro_command(astronaut_png, gray_model, capsys):
    code = ferrepro_main(["predict", str(astronaut_png), "--checkpoint", str(gray_model)])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    # The hand-built spec is a quick-preset run: synthetic data, 2 of the paper's 150 epochs.
    notes = [line for line in out if line.startswith("note: ")]
    assert len(notes) == 2 and "synthetic" in notes[0] and "capped at 2" in notes[1] and "150" in notes[1]
    out = out[len(notes) :]
    assert out[0].split() == ["image", "face", "left", "top", "width", "height", "score", "label", *BASIC7]
    assert len(out) == 2 and out[1].split()[0] == str(astronaut_png)
    assert out[1].split()[7] in BASIC7


@pytest.mark.parametrize("channels,size", [("gray", 48), ("rgb", 64)])
def test_gray_and_rgb_models_both_predict(astronaut_png, tmp_path, capsys, channels, size):
    model = _save(_payload(channels, size, normalize="unit"), tmp_path / "model.pt")
    code, result, _ = _predict_json(capsys, astronaut_png, "--checkpoint", model)
    assert code == 0
    (face,) = result["images"][0]["faces"]
    assert sum(face["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert result["model"]["input"]["channels"] == channels


def test_normalisation_follows_the_model_spec(astronaut_png, tmp_path, capsys):
    """Same weights, spec normalize unit vs per_image: the probabilities must differ (normalisation is applied)."""
    probs = {}
    for normalize in ("unit", "per_image"):
        model = _save(_payload("gray", normalize=normalize, seed=3), tmp_path / normalize / "model.pt")
        _, result, _ = _predict_json(capsys, astronaut_png, "--checkpoint", model)
        probs[normalize] = np.array(list(result["images"][0]["faces"][0]["probabilities"].values()))
    assert not np.allclose(probs["unit"], probs["per_image"], atol=1e-4)


def test_large_photo_is_shrunk_for_detection_and_boxes_map_back(astronaut_png, gray_model, tmp_path, capsys):
    big = cv2.resize(cv2.imread(str(astronaut_png)), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    big_png = tmp_path / "big.png"
    cv2.imwrite(str(big_png), big)
    _, small, _ = _predict_json(capsys, astronaut_png, "--checkpoint", gray_model)
    code, large, _ = _predict_json(capsys, big_png, "--checkpoint", gray_model, "--detect-max-side", 512)
    assert code == 0
    small_box, large_box = small["images"][0]["faces"][0]["box"], large["images"][0]["faces"][0]["box"]
    for key in ("left", "top", "width", "height"):
        assert large_box[key] == pytest.approx(2 * small_box[key], abs=3)


# ----------------------------------------------------------------------------- workflow-trained models


def _quick_matrix():
    from ferrepro.config import load_config, load_run_matrix

    repo = Path(__file__).resolve().parents[1]
    return load_run_matrix(load_config(repo / "config" / "config.yaml"), repo)


def test_predicts_from_a_model_trained_by_ferrepro_train(tiny_synthetic, astronaut_png, tmp_path, capsys):
    """The real path: a run's spec from the workflow's run matrix, its spec file, `ferrepro train`, then predict.

    Before the fix predict refused every such model ("the model's spec has ['fold', 'group']...").
    """
    from ferrepro.config import write_spec_file
    from ferrepro.data.splits import make_split
    from ferrepro.data.standard import load_decoded

    (run,) = [r for r in _quick_matrix() if (r.paper, r.experiment) == ("majeed2025", "lenet5")]
    spec = replace(run.spec, max_epochs=1, trainer=replace(run.spec.trainer, accelerator="cpu", threads=1))
    spec_file = tmp_path / "spec.json"
    write_spec_file(spec_file, spec)
    split = tmp_path / "split.csv"
    make_split(load_decoded(tiny_synthetic).samples, spec.split, spec.seed).to_csv(split, index=False)
    run_dir = tmp_path / "runs" / "majeed2025" / "lenet5" / "synthetic" / "seed0"
    assert (
        ferrepro_main(
            [
                "train",
                "--spec-file",
                str(spec_file),
                "--decoded",
                str(tiny_synthetic),
                "--split",
                str(split),
                "--out",
                str(run_dir),
            ]
        )
        == 0
    )
    capsys.readouterr()

    out = tmp_path / "annotated.png"
    code, result, err = _predict_json(capsys, astronaut_png, "--run", run_dir, "--annotate", out)
    assert code == 0, err
    (face,) = result["images"][0]["faces"]
    assert sum(face["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert result["model"]["run"] == "majeed2025/lenet5/synthetic/seed0"
    caveats = result["model"]["caveats"]
    assert len(caveats) == 2 and "synthetic" in caveats[0]
    assert "1 epoch(s) under a preset capped at 1" in caveats[1] and "150" in caveats[1]
    assert "warning: this model was trained on synthetic faces" in err
    assert tuple(cv2.imread(str(out))[-3, 5]) == (0, 0, 200)  # the warning band on the picture


def _matrix_inputs():
    """One spec per distinct (model, input, preprocess) of the quick run matrix."""
    seen = {}
    for run in _quick_matrix():
        s = run.spec
        key = json.dumps([s.model, s.input.to_dict(), s.preprocess, bool(s.features)], sort_keys=True)
        seen.setdefault(key, s)
    return list(seen.values())


@pytest.mark.parametrize("spec", _matrix_inputs(), ids=lambda s: f"{s.paper}-{s.experiment}")
def test_every_workflow_spec_is_predicted_or_refused_for_a_stated_reason(spec, astronaut_png, tmp_path, capsys):
    """Every input set-up the workflow trains: predict runs it (preprocessing included) or names why it cannot."""
    from ferrepro.predict import PredictError, check_spec_reproducible, model_input

    if spec.features or any(step["op"] == "landmark_emphasis" for step in spec.preprocess):
        with pytest.raises(PredictError, match=r"\['features'\]|'landmark_emphasis' step"):
            check_spec_reproducible(spec, Path("model.pt"))
        return
    in_channels = model_input(spec, [np.zeros((8, 8, 3), np.uint8)]).shape[1]
    size = spec.input.size
    model = build_model(
        spec.model, num_classes=len(BASIC7), in_channels=in_channels, input_size=size, **spec.model_kwargs
    )
    path = _save(
        {
            "format": 1,
            "state_dict": model.state_dict(),
            "spec": spec.to_dict(),
            "classes": list(BASIC7),
            "in_channels": in_channels,
        },
        tmp_path / "model.pt",
    )
    code, result, err = _predict_json(capsys, astronaut_png, "--checkpoint", path)
    assert code == 0, err
    assert result["model"]["preprocess"] == list(spec.preprocess)


def test_preprocessing_steps_reach_the_model_input():
    """The run's preprocess list is applied: min-max stretching changes a low-contrast face crop."""
    from ferrepro.predict import model_input

    crop = np.random.default_rng(0).integers(100, 140, (96, 96, 3), dtype=np.uint8)
    plain = RunSpec.from_dict(_spec(normalize="unit"), "test")
    stretched = replace(plain, preprocess=({"op": "minmax"},))
    a, b = model_input(plain, [crop]), model_input(stretched, [crop])
    assert a.shape == b.shape == (1, 1, 48, 48)
    assert a.max() < 0.6 and b.min() == pytest.approx(0.0) and b.max() == pytest.approx(1.0)


# ----------------------------------------------------------------------------- bad images


def test_blank_image_reports_no_face(tmp_path, gray_model, capsys):
    blank = _write_rgb(tmp_path / "blank.png", np.full((300, 400, 3), 128, np.uint8))
    code, result, err = _predict_json(capsys, blank, "--checkpoint", gray_model)
    assert code == 3
    (image,) = result["images"]
    assert image["status"] == "no_face" and image["faces"] == []
    assert "no face found" in image["message"]
    assert "blank.png" in err and "no face found" in err


def test_unreadable_files_are_reported_and_the_others_still_processed(astronaut_png, gray_model, tmp_path, capsys):
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    missing = tmp_path / "missing.png"
    code, result, err = _predict_json(capsys, text, astronaut_png, missing, tmp_path, "--checkpoint", gray_model)
    assert code == 1
    images = _by_image(result)
    assert images["astronaut.png"]["status"] == "ok" and len(images["astronaut.png"]["faces"]) == 1
    assert images["notes.jpg"]["status"] == "error" and "not an image" in images["notes.jpg"]["message"]
    assert images["missing.png"]["status"] == "error" and "file not found" in images["missing.png"]["message"]
    assert images[tmp_path.name]["status"] == "error" and "folder" in images[tmp_path.name]["message"]
    assert f"{text}: cannot read image" in err and f"{missing}: cannot read image" in err


# ----------------------------------------------------------------------------- annotation


def test_annotate_one_image_writes_png_of_the_input_size(astronaut_png, gray_model, tmp_path, capsys):
    out = tmp_path / "annotated.png"
    code, result, _ = _predict_json(capsys, astronaut_png, "--checkpoint", gray_model, "--annotate", out)
    assert code == 0 and result["images"][0]["annotated"] == str(out)
    drawn, original = cv2.imread(str(out)), cv2.imread(str(astronaut_png))
    assert drawn.shape == original.shape
    box = result["images"][0]["faces"][0]["box"]
    # The box outline is drawn in green on the face's left edge; pixels far from the face are untouched.
    assert tuple(drawn[box["top"] + box["height"] // 2, box["left"]]) == (0, 200, 0)
    assert np.array_equal(drawn[300:450, 400:], original[300:450, 400:])
    # The synthetic, capped model gets a red warning band along the bottom edge, and only there.
    assert tuple(drawn[-3, 5]) == (0, 0, 200) and tuple(drawn[-3, -5]) == (0, 0, 200)
    assert not np.array_equal(drawn[480:], original[480:])


def test_annotate_folder_for_several_images(astronaut_png, gray_model, tmp_path, capsys):
    blank = _write_rgb(tmp_path / "blank.png", np.zeros((100, 120, 3), np.uint8))
    out_dir = tmp_path / "annotated"
    code, result, _ = _predict_json(
        capsys, astronaut_png, blank, "--checkpoint", gray_model, "--annotate", f"{out_dir}/"
    )
    assert code == 3  # the blank image has no face
    assert sorted(p.name for p in out_dir.iterdir()) == ["astronaut.png", "blank.png"]
    assert cv2.imread(str(out_dir / "blank.png")).shape == (100, 120, 3)
    assert _by_image(result)["blank.png"]["annotated"] == str(out_dir / "blank.png")


def test_annotate_file_with_several_images_is_refused(astronaut_png, gray_model, tmp_path, capsys):
    code = cli(
        [
            str(astronaut_png),
            str(astronaut_png),
            "--checkpoint",
            str(gray_model),
            "--annotate",
            str(tmp_path / "one.png"),
        ]
    )
    assert code == 2
    assert "pass a folder" in capsys.readouterr().err
    assert not (tmp_path / "one.png").exists()


# ----------------------------------------------------------------------------- crop


def test_crop_is_a_square_with_margin_and_replicated_border():
    image = np.zeros((100, 100, 3), np.uint8)
    image[:, :50] = 200  # left half bright
    face = Detection(left=0, top=10, width=40, height=40, score=1.0, center=(20.0, 30.0), side=40.0)
    crop = crop_face(image, face, margin=0.25)
    assert crop.shape == (60, 60, 3)  # 40 * (1 + 2 * 0.25)
    # The crop starts 10 px left of the image: that strip replicates column 0 (bright), not zeros.
    assert (crop[:, :10] == 200).all()
    # Vertically the crop spans rows 0..59 of the image, all inside: the right edge is image column 49.
    assert (crop[:, 59] == 200).all()


# ----------------------------------------------------------------------------- model files


def test_run_folder_without_model_says_how_to_train_it(astronaut_png, tmp_path, capsys):
    run = tmp_path / "results" / "runs" / "majeed2025" / "lenet5" / "fer2013" / "seed0"
    run.mkdir(parents=True)
    assert cli([str(astronaut_png), "--run", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"snakemake --cores all {run.as_posix()}/model.pt" in err and "has no model.pt" in err


def _drop(key):
    def edit(p):
        del p[key]

    return edit


def _set_spec(key, value):
    def edit(p):
        p["spec"][key] = value

    return edit


def _set_input(key, value):
    def edit(p):
        p["spec"]["input"][key] = value

    return edit


def _wrong_class_count(p):
    p["state_dict"] = build_model("majeed2025.lenet5", num_classes=5, in_channels=1, input_size=48).state_dict()


def _uses_features(p):
    p["spec"]["model"] = "nauman2025.ia_fen"
    p["spec"]["model_kwargs"] = {"feature_dim": 136}
    p["state_dict"] = build_model(
        "nauman2025.ia_fen", num_classes=7, in_channels=1, input_size=48, feature_dim=136
    ).state_dict()


@pytest.mark.parametrize(
    "edit,expected",
    [
        (lambda p: p.update(format=2), "format 2 is not supported"),
        (_drop("classes"), "lacks ['classes']"),
        (_drop("spec"), "lacks ['spec']"),
        (_set_spec("model", "majeed2025.no_such_model"), "'majeed2025.no_such_model' is not registered"),
        (_set_spec("features", {"kind": "landmarks"}), "['features']"),
        (_set_input("preprocess", "align"), "['input.preprocess']"),
        (_set_input("channels", "rgb"), "contradicts spec input channels"),
        (_set_input("normalize", "zscore"), "normalize 'zscore' unknown"),
        (_wrong_class_count, "cannot rebuild model 'majeed2025.lenet5'"),
        (_uses_features, "fuses handcrafted features"),
    ],
    ids=[
        "format",
        "no-classes",
        "no-spec",
        "unknown-model",
        "spec-features",
        "input-preprocess",
        "channels-mismatch",
        "normalize-unknown",
        "weights-mismatch",
        "uses-features",
    ],
)
def test_mismatched_model_file_is_refused_with_the_reason(astronaut_png, tmp_path, capsys, edit, expected):
    payload = _payload("gray")
    edit(payload)
    model = _save(payload, tmp_path / "model.pt")
    assert cli([str(astronaut_png), "--checkpoint", str(model)]) == 2
    captured = capsys.readouterr()
    assert expected in captured.err and str(model) in captured.err
    assert captured.out == ""  # nothing predicted


@pytest.mark.parametrize(
    "content,expected",
    [
        (b"hello, I am not a model", "not a readable PyTorch model file"),
        (b"", "not a readable PyTorch model file"),
    ],
)
def test_non_model_file_is_refused(astronaut_png, tmp_path, capsys, content, expected):
    model = tmp_path / "model.pt"
    model.write_bytes(content)
    assert cli([str(astronaut_png), "--checkpoint", str(model)]) == 2
    assert expected in capsys.readouterr().err


def test_tensor_instead_of_payload_is_refused(astronaut_png, tmp_path, capsys):
    model = _save(torch.zeros(3), tmp_path / "model.pt")
    assert cli([str(astronaut_png), "--checkpoint", str(model)]) == 2
    assert "expected a ferrepro model file" in capsys.readouterr().err


# ----------------------------------------------------------------------------- safety


class _WritesMarker:
    """Unpickling this runs a shell command that creates a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


@pytest.mark.parametrize("writer", ["torch.save", "raw_pickle"])
def test_crafted_pickle_is_refused_and_its_code_never_runs(astronaut_png, tmp_path, capsys, writer):
    marker = tmp_path / "pwned"
    payload = _payload("gray")
    payload["spec"]["note"] = _WritesMarker(marker)  # inside an otherwise valid model file
    model = tmp_path / "model.pt"
    if writer == "torch.save":
        torch.save(payload, model)
    else:
        with model.open("wb") as f:
            pickle.dump(payload, f, protocol=2)

    # Control: the file really is malicious, i.e. an unsafe load runs its code.
    if writer == "torch.save":
        torch.load(model, map_location="cpu", weights_only=False)
    else:
        pickle.loads(model.read_bytes())
    assert marker.exists()
    marker.unlink()

    assert cli([str(astronaut_png), "--checkpoint", str(model)]) == 2
    err = capsys.readouterr().err
    assert "refused to load" in err and str(model) in err
    assert not marker.exists()
