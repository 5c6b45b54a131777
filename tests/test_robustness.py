"""Tests for ferrepro.evaluation.robustness: perturbation properties and the robustness table."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ferrepro.evaluation.robustness import (
    SEVERITIES,
    add_gaussian_noise,
    occlude,
    perturb,
    robustness_table,
    shift_brightness,
    to_float_batch,
)

PERTURBATIONS = sorted(SEVERITIES)


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(6, 3, 24, 20, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", PERTURBATIONS)
@pytest.mark.parametrize("severity", [1, 2, 3])
def test_perturbations_keep_shape_dtype_and_range(images, name, severity):
    out = perturb(images, name, severity, seed=1)
    assert out.shape == images.shape and out.dtype == images.dtype
    assert out.min() >= 0 and out.max() <= 1
    assert not torch.equal(out, images)


@pytest.mark.parametrize("name", PERTURBATIONS)
def test_higher_severity_changes_images_more(images, name):
    changes = [(perturb(images, name, s, seed=2) - images).abs().mean().item() for s in (1, 2, 3)]
    assert changes[0] < changes[1] < changes[2]


@pytest.mark.parametrize("name", PERTURBATIONS)
def test_perturbations_are_deterministic_for_a_seed(images, name):
    assert torch.equal(perturb(images, name, 2, seed=5), perturb(images, name, 2, seed=5))
    assert not torch.equal(perturb(images, name, 2, seed=5), perturb(images, name, 2, seed=6))


@pytest.mark.parametrize("name", PERTURBATIONS)
def test_zero_severity_is_identity_copy(images, name):
    out = perturb(images, name, 0, seed=3)
    assert torch.equal(out, images) and out.data_ptr() != images.data_ptr()


def test_zero_magnitudes_are_identity(images):
    assert torch.equal(occlude(images, 0.0, seed=1), images)
    assert torch.equal(add_gaussian_noise(images, 0.0, seed=1), images)
    assert torch.equal(shift_brightness(images, 0.0, seed=1), images)


def test_occlusion_blacks_out_requested_area():
    ones = torch.ones(4, 1, 40, 40)
    out = occlude(ones, 0.25, seed=0)
    zeros_per_image = (out == 0).flatten(1).sum(dim=1)
    assert zeros_per_image.tolist() == [400] * 4  # 20 x 20 square = 25 % of 40 x 40


def test_noise_has_requested_standard_deviation():
    gray = torch.full((2, 1, 64, 64), 0.5)
    sigma = SEVERITIES["gaussian_noise"][2]
    residual = add_gaussian_noise(gray, sigma, seed=0) - gray
    assert residual.std().item() == pytest.approx(sigma, rel=0.05)
    assert abs(residual.mean().item()) < 0.01


def test_brightness_shifts_each_image_by_plus_or_minus_delta():
    gray = torch.full((32, 1, 4, 4), 0.5)
    shifts = (shift_brightness(gray, 0.2, seed=0) - gray).flatten(1)
    per_image = shifts[:, 0]
    assert torch.allclose(shifts, per_image[:, None].expand_as(shifts))  # uniform within an image
    assert torch.allclose(per_image.abs(), torch.full_like(per_image, 0.2))
    assert (per_image > 0).any() and (per_image < 0).any()  # both directions occur


def test_invalid_inputs_are_rejected(images):
    with pytest.raises(ValueError, match="divide uint8"):
        perturb((images * 255).to(torch.uint8), "brightness", 1, seed=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        perturb(images * 2 - 0.5, "brightness", 1, seed=0)
    with pytest.raises(ValueError, match="unknown perturbation"):
        perturb(images, "blur", 1, seed=0)
    with pytest.raises(ValueError, match="severity"):
        perturb(images, "occlusion", 4, seed=0)


def test_to_float_batch_converts_decoded_layout():
    decoded = np.full((2, 5, 7, 1), 255, dtype=np.uint8)
    batch = to_float_batch(decoded)
    assert batch.shape == (2, 1, 5, 7) and batch.dtype == torch.float32 and batch.max() == 1.0


def brightness_dataset(n_per_class: int = 20) -> tuple[torch.Tensor, np.ndarray]:
    """Class 0: uniform 0.3 images; class 1: uniform 0.7. A mean-brightness threshold is a perfect classifier."""
    dark = torch.full((n_per_class, 1, 16, 16), 0.3)
    bright = torch.full((n_per_class, 1, 16, 16), 0.7)
    return torch.cat([dark, bright]), np.array([0] * n_per_class + [1] * n_per_class)


def threshold_predict(batch: torch.Tensor) -> torch.Tensor:
    return (batch.mean(dim=(1, 2, 3)) > 0.5).long()


def test_robustness_table_reports_drops_against_clean_accuracy():
    images, labels = brightness_dataset()
    table = robustness_table(threshold_predict, images, labels, seed=0, batch_size=16)
    assert list(table.columns) == [
        "perturbation",
        "severity",
        "parameter",
        "accuracy",
        "clean_accuracy",
        "drop_pp",
        "n",
    ]
    assert len(table) == 9 and set(table["perturbation"]) == set(PERTURBATIONS)
    assert (table["clean_accuracy"] == 1.0).all()
    assert np.allclose(table["drop_pp"], 100 * (table["clean_accuracy"] - table["accuracy"]))
    rows = table.set_index(["perturbation", "severity"])
    # +-0.1 keeps 0.3/0.7 images on their side of 0.5; +-0.3 flips the images shifted towards the other class.
    assert rows.loc[("brightness", 1), "drop_pp"] == 0
    assert 20 < rows.loc[("brightness", 3), "drop_pp"] < 80
    # A 30 % black patch pulls bright images to a mean of 0.49 (< 0.5); 15 % does not.
    assert rows.loc[("occlusion", 2), "drop_pp"] == 0
    assert rows.loc[("occlusion", 3), "drop_pp"] == pytest.approx(50.0)
    assert table.attrs == {"seed": 0, "batch_size": 16}


def test_robustness_table_is_deterministic_and_accepts_logits():
    images, labels = brightness_dataset()

    def logits(batch):
        score = batch.mean(dim=(1, 2, 3)) - 0.5
        return torch.stack([-score, score], dim=1)

    first = robustness_table(logits, images, labels, seed=4, batch_size=8)
    second = robustness_table(threshold_predict, images, labels, seed=4, batch_size=8)
    assert first.equals(second)


def test_robustness_table_validates_labels():
    images, labels = brightness_dataset()
    with pytest.raises(ValueError, match="one label per image"):
        robustness_table(threshold_predict, images, labels[:-1], seed=0)


# ------------------------------------------------------------- one evaluated run (ferrepro robustness)

import json  # noqa: E402

import pandas as pd  # noqa: E402

from ferrepro.evaluation.robustness import check_supported, conditions, run_robustness  # noqa: E402


@pytest.fixture
def evaluated_run(tmp_path, tiny_synthetic):
    """A randomly initialised LeNet-5 saved as a run and scored by the real evaluate code."""
    from ferrepro.data.splits import make_split
    from ferrepro.data.standard import load_decoded
    from ferrepro.evaluation.evaluate import evaluate_run
    from ferrepro.models import build_model

    decoded = load_decoded(tiny_synthetic)
    split = tmp_path / "split.csv"
    make_split(decoded.samples, "subject", seed=0).to_csv(split, index=False)
    spec = {
        "paper": "demo",
        "experiment": "lenet",
        "dataset": "synthetic",
        "seed": 0,
        "model": "majeed2025.lenet5",
        "split": "subject",
        "input": {"size": 32, "channels": "gray", "normalize": "per_image"},
        "preprocess": [{"op": "adaptive_gamma"}],
        "label_set": "basic7",
        "model_kwargs": {},
        "optimizer": {"name": "adam", "lr": 0.001},
        "batch_size": 32,
        "max_epochs": 1,
    }
    torch.manual_seed(0)
    model = build_model(spec["model"], num_classes=7, in_channels=1, input_size=32)
    run = tmp_path / "run"
    run.mkdir()
    torch.save(
        {
            "format": 1,
            "state_dict": model.state_dict(),
            "spec": spec,
            "classes": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
            "in_channels": 1,
        },
        run / "model.pt",
    )
    (run / "train_summary.json").write_text(
        json.dumps(
            {
                "run": "demo/lenet/synthetic/seed0",
                "selected_epoch": 0,
                "epochs_run": 1,
                "selection_metric": "val_acc",
                "selection_value": 0.2,
                "n_val": 10,
            }
        )
    )
    pd.DataFrame({"epoch": [0], "train_loss": [2.0], "val_loss": [2.0], "train_acc": [0.1], "val_acc": [0.2]}).to_csv(
        run / "history.csv", index=False
    )
    evaluate_run(run, tiny_synthetic, split)
    return run, tiny_synthetic, split


def test_run_robustness_reproduces_the_evaluated_accuracy_and_covers_every_condition(evaluated_run):
    run, decoded, split = evaluated_run
    result = run_robustness(run, decoded, split, seed=0)
    metrics = json.loads((run / "metrics.json").read_text())
    # The clean pass goes through the same preparation as the evaluate rule: same predictions.
    assert result["clean_disagreement_with_evaluate"] == 0
    assert result["clean_accuracy"] == pytest.approx(metrics["accuracy"])
    assert result["n"] == metrics["n"]
    assert [(c["perturbation"], c["severity"]) for c in result["conditions"]] == [(p, s) for p, s, _ in conditions()]
    for c in result["conditions"]:
        assert c["drop_pp"] == pytest.approx(100 * (result["clean_accuracy"] - c["accuracy"]))
        assert c["drop_ci_low_pp"] <= c["drop_pp"] <= c["drop_ci_high_pp"]
    assert run_robustness(run, decoded, split, seed=0)["conditions"] == result["conditions"]  # seeded


def test_run_robustness_refuses_a_stale_evaluation(evaluated_run):
    run, decoded, split = evaluated_run
    predictions = pd.read_parquet(run / "predictions.parquet")
    predictions.iloc[:-1].to_parquet(run / "predictions.parquet")
    with pytest.raises(ValueError, match="stale"):
        run_robustness(run, decoded, split)


def test_fusion_and_leaky_runs_are_refused_with_a_reason():
    from test_training import _spec as training_spec

    with pytest.raises(ValueError, match="feature-fusion"):
        check_supported(training_spec(features=["hog"]), "run")
    with pytest.raises(ValueError, match="leaky"):
        check_supported(training_spec(balance={"order": "leaky"}), "run")
