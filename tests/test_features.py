"""HoG and sliding-window HoG: descriptor length, backend agreement, batching, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

cv2 = pytest.importorskip("cv2")
skimage_feature = pytest.importorskip("skimage.feature")

from ferrepro.features import compute_feature, default_params  # noqa: E402
from ferrepro.features.hog import (  # noqa: E402
    HogParamError,
    HogParams,
    SlidingHogParams,
    compute_hog,
    feature_dim,
    hog_dim,
    window_positions,
)


def ellipse_images(n: int, size: int = 48, seed: int = 0) -> np.ndarray:
    """Smooth random ellipses: natural-image-like gradients (unlike white noise)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, size, size, 1), np.uint8)
    for i in range(n):
        im = np.full((size, size), int(rng.integers(60, 200)), np.uint8)
        for _ in range(6):
            centre = (int(rng.integers(0, size)), int(rng.integers(0, size)))
            axes = (int(rng.integers(3, size // 3)), int(rng.integers(3, size // 3)))
            cv2.ellipse(im, centre, axes, float(rng.uniform(0, 180)), 0, 360, int(rng.integers(0, 255)), -1)
        out[i, ..., 0] = cv2.GaussianBlur(im, (0, 0), 1.0)
    return out


def expected_len(h, w, ppc, cpb, orient):
    blocks_r = h // ppc - cpb + 1
    blocks_c = w // ppc - cpb + 1
    return blocks_r * blocks_c * cpb * cpb * orient


@pytest.mark.parametrize(
    "h,w,ppc,cpb,orient",
    [(48, 48, 8, 2, 9), (48, 48, 16, 1, 8), (64, 48, 8, 3, 6), (50, 45, 8, 2, 9), (48, 48, 6, 2, 12)],
)
@pytest.mark.parametrize("backend", ["opencv", "skimage"])
def test_hog_length_matches_formula_and_skimage(h, w, ppc, cpb, orient, backend):
    p = HogParams(orientations=orient, pixels_per_cell=ppc, cells_per_block=cpb, backend=backend)
    images = ellipse_images(3, size=max(h, w))[:, :h, :w]
    feats = compute_hog(images, p)
    assert feats.shape == (3, expected_len(h, w, ppc, cpb, orient)) == (3, hog_dim(h, w, p))
    assert feats.dtype == np.float32
    reference = skimage_feature.hog(images[0, ..., 0], orient, (ppc, ppc), (cpb, cpb), block_norm="L2-Hys")
    assert feats.shape[1] == reference.size


def test_default_hog_is_900_on_48x48():
    assert hog_dim(48, 48, HogParams()) == 900
    assert default_params("hog")["backend"] == "opencv"


def test_skimage_backend_is_exactly_skimage():
    images = ellipse_images(4)
    feats = compute_hog(images, HogParams(backend="skimage"))
    for i in range(4):
        ref = skimage_feature.hog(images[i, ..., 0], 9, (8, 8), (2, 2), block_norm="L2-Hys")
        np.testing.assert_allclose(feats[i], ref, rtol=1e-5, atol=1e-6)


def test_opencv_and_skimage_backends_agree_in_layout_and_are_strongly_correlated():
    images = ellipse_images(48)
    a = compute_hog(images, HogParams(backend="opencv"))
    b = compute_hog(images, HogParams(backend="skimage"))
    assert a.shape == b.shape
    # Same (block_row, block_col, cell_row, cell_col, orientation) layout: per-position correlation
    # is high; with OpenCV's native column-major order it would collapse.
    r = np.corrcoef(a.ravel(), b.ravel())[0, 1]
    assert r > 0.85, r
    shuffled = a.reshape(48, 5, 5, 2, 2, 9).transpose(0, 2, 1, 4, 3, 5).reshape(48, -1)
    assert np.corrcoef(shuffled.ravel(), b.ravel())[0, 1] < r - 0.2


def test_opencv_requires_l2hys_and_bad_params_fail_clearly():
    with pytest.raises(HogParamError, match="L2-Hys"):
        HogParams(block_norm="L1", backend="opencv")
    HogParams(block_norm="L1", backend="skimage")  # fine
    with pytest.raises(HogParamError, match="fewer than one"):
        compute_hog(np.zeros((1, 10, 10), np.uint8), HogParams(pixels_per_cell=8, cells_per_block=2))
    with pytest.raises(ValueError, match="unknown HogParams keys"):
        compute_feature("hog", np.zeros((1, 48, 48, 1), np.uint8), {"orientation": 9})


def test_threads_and_chunks_do_not_change_the_result():
    images = ellipse_images(40)
    one = compute_hog(images, HogParams(), threads=1)
    two = compute_hog(images, HogParams(), threads=2, chunk_size=7)
    np.testing.assert_array_equal(one, two)


def test_rgb_input_is_converted_with_bt601():
    gray = ellipse_images(5)
    rgb = np.repeat(gray, 3, axis=-1)
    np.testing.assert_array_equal(compute_hog(rgb), compute_hog(gray))


def test_resize_param_gives_the_resized_length():
    images = ellipse_images(2, size=96)
    p = HogParams(resize=48)
    assert compute_hog(images, p).shape == (2, 900) and feature_dim(96, 96, p) == 900


# ----------------------------------------------------------------------------- sliding window


def test_window_positions_are_full_windows_row_major():
    assert window_positions(48, 48, 24, 12) == [(y, x) for y in (0, 12, 24) for x in (0, 12, 24)]
    assert window_positions(48, 40, 24, 16) == [(0, 0), (0, 16), (16, 0), (16, 16)]
    with pytest.raises(HogParamError):
        window_positions(20, 48, 24, 12)


def test_sliding_hog_skimage_is_concatenation_of_window_hogs():
    images = ellipse_images(3)
    p = SlidingHogParams(backend="skimage")
    feats = compute_hog(images, p)
    per = hog_dim(24, 24, p)
    assert feats.shape == (3, 9 * per) == (3, feature_dim(48, 48, p))
    for k, (y, x) in enumerate(window_positions(48, 48, 24, 12)):
        ref = skimage_feature.hog(images[1, y : y + 24, x : x + 24, 0], 9, (8, 8), (2, 2), block_norm="L2-Hys")
        np.testing.assert_allclose(feats[1, k * per : (k + 1) * per], ref, rtol=1e-5, atol=1e-6)


def test_sliding_hog_backends_agree_window_by_window():
    images = ellipse_images(32)
    a = compute_hog(images, SlidingHogParams(backend="opencv"))
    b = compute_hog(images, SlidingHogParams(backend="skimage"))
    assert a.shape == b.shape
    per = a.shape[1] // 9
    for k in range(9):  # window k of one backend matches window k of the other, not another window
        same = np.corrcoef(a[:, k * per : (k + 1) * per].ravel(), b[:, k * per : (k + 1) * per].ravel())[0, 1]
        other = np.corrcoef(
            a[:, k * per : (k + 1) * per].ravel(), b[:, ((k + 4) % 9) * per : ((k + 4) % 9 + 1) * per].ravel()
        )[0, 1]
        assert same > 0.75 and same > other + 0.3, (k, same, other)


def test_sliding_window_must_hold_a_block():
    with pytest.raises(HogParamError, match="smaller than one block"):
        SlidingHogParams(window=8, pixels_per_cell=8, cells_per_block=2)


# ----------------------------------------------------------------------------- CLI


def write_tiny_decoded(folder, images):
    from ferrepro.data.standard import write_decoded

    n = len(images)
    labels = ["angry", "happy", "sad", "neutral"]
    samples = pd.DataFrame(
        {
            "sample_id": [f"s{i:03d}" for i in range(n)],
            "label": [labels[i % 4] for i in range(n)],
            "subject_id": [""] * n,
            "source_file": ["tiny.csv"] * n,
            "split": ["train"] * n,
        }
    )
    return write_decoded(folder, images, samples, {"source": "test fixture"})


@pytest.mark.parametrize("feature,dim", [("hog", 900), ("sliding_hog", 9 * 144)])
def test_cli_writes_memmappable_float32_and_sidecar(tmp_path, feature, dim):
    from ferrepro.features.cli import cli

    decoded = write_tiny_decoded(tmp_path / "decoded", ellipse_images(12))
    out = tmp_path / "features" / f"{feature}.npy"
    rc = cli(
        ["--decoded", str(decoded), "--feature", feature, "--params-json", "{}", "--out", str(out), "--threads", "2"]
    )
    assert rc == 0
    feats = np.load(out, mmap_mode="r")
    assert isinstance(feats, np.memmap) and feats.shape == (12, dim) and feats.dtype == np.float32
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["dim"] == dim and side["shape"] == [12, dim] and side["params"]["orientations"] == 9
    assert side["images_per_s"] > 0 and side["threads"] == 2 and side["n_nan_rows"] == 0
    assert not list(out.parent.glob("*.tmp*")), "temporary files left behind"


def test_cli_rejects_bad_params_with_a_message(tmp_path, capsys):
    from ferrepro.features.cli import cli

    decoded = write_tiny_decoded(tmp_path / "decoded", ellipse_images(2))
    out = tmp_path / "hog.npy"
    assert cli(["--decoded", str(decoded), "--feature", "hog", "--params-json", "{not json", "--out", str(out)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert cli(["--decoded", str(decoded), "--feature", "hog", "--params-json", '{"cells": 3}', "--out", str(out)]) == 1
    assert "unknown HogParams keys ['cells']" in capsys.readouterr().err
    assert not out.exists()
    assert cli(["--decoded", str(tmp_path / "missing"), "--feature", "hog", "--out", str(out)]) == 1
    assert "decode the dataset first" in capsys.readouterr().err


def test_cli_is_registered_in_the_main_entry_point():
    from ferrepro.cli import COMMANDS

    assert COMMANDS["features"][0] == "ferrepro.features.cli:cli"
