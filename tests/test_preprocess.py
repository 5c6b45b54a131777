"""Preprocessing ops on known inputs, and config-built pipelines."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from ferrepro.features import preprocess as pp


def const(value, n=1, h=8, w=8, c=1, dtype=np.float32):
    return np.full((n, h, w, c), value, dtype=dtype)


# ----------------------------------------------------------------------------- adaptive gamma


@pytest.mark.parametrize(
    "value,gamma",
    [
        (0.5, 1.0),  # already mid-grey: identity
        (0.25, 0.6),  # log(.5)/log(.25) = 0.5 -> clipped to 0.6 (brighten)
        (0.4, np.log(0.5) / np.log(0.4)),  # inside the range: 0.756
        (0.8, 1.4),  # log(.5)/log(.8) = 3.1 -> clipped to 1.4 (darken)
    ],
)
def test_adaptive_gamma_on_constant_images(value, gamma):
    out = pp.adaptive_gamma(const(value))
    np.testing.assert_allclose(out, value**gamma, rtol=1e-5)
    assert pp.gamma_for_mean(np.array([value]))[0] == pytest.approx(gamma, rel=1e-5)


def test_adaptive_gamma_is_per_image_and_handles_black_and_white():
    images = np.concatenate([const(0.2), const(0.7), const(0.0), const(1.0)])
    out = pp.adaptive_gamma(images)
    assert out[0, 0, 0, 0] > 0.2 and out[1, 0, 0, 0] < 0.7  # dark brightened, bright darkened
    assert np.isfinite(out).all() and out[2].max() == 0 and out[3].min() == 1
    np.testing.assert_allclose(pp.gamma_for_mean(np.array([0.0, 1.0])), [0.6, 1.4])


def test_adaptive_gamma_accepts_uint8_and_uses_luma_for_rgb():
    rgb = np.zeros((1, 4, 4, 3), np.uint8)
    rgb[..., 1] = 255  # pure green: luma 0.587 -> gamma log(.5)/log(.587)
    out = pp.adaptive_gamma(rgb)
    assert out.dtype == np.float32
    assert out[0, 0, 0, 1] == pytest.approx(1.0) and out[0, 0, 0, 0] == 0.0
    with pytest.raises(pp.PreprocessError):
        pp.adaptive_gamma(const(0.5), gamma_min=1.5, gamma_max=1.0)


# ----------------------------------------------------------------------------- smoothing, min-max


def test_gaussian_smooth_keeps_constants_and_reduces_noise_per_image():
    rng = np.random.default_rng(0)
    noise = rng.random((2, 32, 32, 1)).astype(np.float32)
    out = pp.gaussian_smooth(noise, sigma=1.0)
    assert out.shape == noise.shape and out.std() < 0.5 * noise.std()
    np.testing.assert_allclose(pp.gaussian_smooth(const(0.3, h=16, w=16), sigma=2.0), 0.3, rtol=1e-6)
    # no bleeding between images of a batch
    batch = np.concatenate([const(0.0, h=16, w=16), const(1.0, h=16, w=16)])
    np.testing.assert_allclose(pp.gaussian_smooth(batch, sigma=3.0), batch, atol=1e-6)
    np.testing.assert_array_equal(pp.gaussian_smooth(noise, sigma=0), noise)


def test_minmax_maps_each_image_to_exactly_0_1():
    rng = np.random.default_rng(1)
    images = (rng.random((3, 10, 10, 3)) * 0.5 + 0.2).astype(np.float32)
    out = pp.minmax(images)
    assert np.allclose(out.min(axis=(1, 2, 3)), 0) and np.allclose(out.max(axis=(1, 2, 3)), 1)
    # affine-invariant: scaling/offsetting the input changes nothing
    np.testing.assert_allclose(pp.minmax(images * 0.5 + 0.1), out, atol=1e-5)
    assert (pp.minmax(const(0.4)) == 0).all()  # constant image: zeros, not NaN


# ----------------------------------------------------------------------------- geometry, channels


def test_resize_shapes_and_values():
    images = np.random.default_rng(2).integers(0, 256, (2, 48, 48, 1), dtype=np.uint8)
    assert pp.resize(images, 64).shape == (2, 64, 64, 1)
    assert pp.resize(images, [24, 32]).shape == (2, 24, 32, 1)
    assert pp.resize(np.zeros((1, 20, 20, 3), np.uint8), 10).shape == (1, 10, 10, 3)
    np.testing.assert_allclose(pp.resize(const(0.7, h=48, w=48), 17), 0.7, rtol=1e-6)
    with pytest.raises(pp.PreprocessError, match="interpolation"):
        pp.resize(images, 10, interpolation="magic")


def test_channels_decomposition_shapes_and_values():
    rgb = np.zeros((2, 5, 5, 3), np.float32)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 0.2, 0.4, 0.6
    irgb = pp.channels(rgb, "IRGB")
    assert irgb.shape == (2, 5, 5, 4)
    np.testing.assert_allclose(irgb[0, 0, 0], [0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6, 0.2, 0.4, 0.6], rtol=1e-5)
    assert pp.channels(rgb, "G").shape == (2, 5, 5, 1) and np.allclose(pp.channels(rgb, "G"), 0.4)
    assert pp.channels(rgb, "RGB").shape == (2, 5, 5, 3)
    assert pp.channels(rgb, "I").shape == (2, 5, 5, 1)
    with pytest.raises(pp.PreprocessError, match="mode"):
        pp.channels(rgb, "HSV")


def test_channels_on_grayscale_warns_that_the_study_is_meaningless():
    with pytest.warns(pp.GrayscaleChannelWarning, match="meaningless"):
        out = pp.channels(const(0.3), "IRGB")
    assert out.shape == (1, 8, 8, 4) and np.allclose(out, 0.3)


def test_grayscale_uses_bt601_and_keeps_gray():
    rgb = np.zeros((1, 2, 2, 3), np.uint8)
    rgb[..., 0] = 255
    assert pp.to_grayscale(rgb)[0, 0, 0, 0] == pytest.approx(0.299)
    assert pp.to_grayscale(const(0.5)).shape == (1, 8, 8, 1)
    np.testing.assert_array_equal(pp.to_gray_uint8(np.full((1, 2, 2, 3), 200, np.uint8)), np.full((1, 2, 2), 200))


# ----------------------------------------------------------------------------- landmark emphasis


def mean_face_points(size=48):
    """A plausible 68-point layout (x, y) for a size x size face."""
    s = size / 48
    pts = np.zeros((68, 2), np.float32)
    pts[0:17] = np.stack([np.linspace(4, 44, 17), 20 + 20 * np.sin(np.linspace(0, np.pi, 17))], 1)
    pts[17:22] = np.stack([np.linspace(9, 20, 5), np.full(5, 13)], 1)
    pts[22:27] = np.stack([np.linspace(28, 39, 5), np.full(5, 13)], 1)
    pts[27:36] = np.stack(
        [np.r_[np.full(4, 24), np.linspace(20, 28, 5)], np.r_[np.linspace(17, 27, 4), np.full(5, 29)]], 1
    )
    for start, cx in ((36, 15), (42, 33)):
        a = np.linspace(0, 2 * np.pi, 7)[:-1]
        pts[start : start + 6] = np.stack([cx + 4 * np.cos(a), 18 + 2 * np.sin(a)], 1)
    a = np.linspace(0, 2 * np.pi, 21)[:-1]
    pts[48:68] = np.stack([24 + 8 * np.cos(a), 36 + 3 * np.sin(a)], 1)
    return pts * s


def test_landmark_emphasis_keeps_regions_and_dims_background():
    images = const(0.8, n=2, h=48, w=48)
    points = np.stack([mean_face_points()] * 2)
    out = pp.landmark_emphasis(images, points, background=0.5)
    assert out[0, 36, 24, 0] == pytest.approx(0.8, abs=1e-3)  # mouth centre
    assert out[0, 18, 15, 0] == pytest.approx(0.8, abs=1e-3)  # right eye centre
    assert out[0, 2, 2, 0] == pytest.approx(0.4, abs=1e-3)  # corner: background * 0.8
    assert out.max() <= 0.8 + 1e-6


def test_landmark_emphasis_rescales_landmarks_after_a_resize():
    points = mean_face_points(48)[None]
    big = pp.resize(const(0.8, h=48, w=48), 96)
    out = pp.landmark_emphasis(big, points, landmark_frame=(48, 48))
    assert out[0, 72, 48, 0] == pytest.approx(0.8, abs=1e-3)  # mouth centre, in the 96-px frame
    assert out[0, 4, 4, 0] == pytest.approx(0.4, abs=1e-3)


def test_landmark_emphasis_leaves_failures_unchanged_and_reports_them():
    images = const(0.8, n=2, h=48, w=48)
    points = np.stack([mean_face_points(), np.full((68, 2), np.nan, np.float32)])
    report: dict = {}
    with pytest.warns(UserWarning, match="1 of 2 images have no landmarks"):
        out = pp.landmark_emphasis(images, points, report=report)
    np.testing.assert_array_equal(out[1], images[1])
    assert report["landmark_emphasis_skipped"] == 1


# ----------------------------------------------------------------------------- pipelines


def test_pipeline_from_config_list_runs_in_order_and_in_batches():
    spec = [
        {"op": "adaptive_gamma"},
        {"op": "gaussian_smooth", "sigma": 1.0},
        {"op": "minmax"},
        {"op": "resize", "size": 64},
        {"op": "channels", "mode": "IRGB"},
    ]
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (5, 48, 48, 3), dtype=np.uint8)
    pipe = pp.build_pipeline(spec)
    assert pipe.describe() == spec
    out = pp.apply_pipeline(images, pipe, batch_size=2)
    assert out.shape == (5, 64, 64, 4) and out.dtype == np.float32
    np.testing.assert_allclose(out, pp.apply_pipeline(images, spec, batch_size=100), rtol=1e-6)
    manual = pp.channels(pp.resize(pp.minmax(pp.gaussian_smooth(pp.adaptive_gamma(images), 1.0)), 64), "IRGB")
    np.testing.assert_allclose(out, manual, rtol=1e-6)


def test_empty_pipeline_converts_to_unit_float():
    images = np.full((2, 4, 4), 255, np.uint8)
    out = pp.apply_pipeline(images, [])
    assert out.shape == (2, 4, 4, 1) and out.dtype == np.float32 and (out == 1).all()


def test_pipeline_errors_name_the_problem():
    with pytest.raises(pp.PreprocessError, match="unknown op 'sharpen'"):
        pp.build_pipeline([{"op": "sharpen"}])
    with pytest.raises(pp.PreprocessError, match=r"unknown parameters \['sigmaa'\]"):
        pp.build_pipeline([{"op": "gaussian_smooth", "sigmaa": 1}])
    with pytest.raises(pp.PreprocessError, match="'op' key"):
        pp.build_pipeline([{"sigma": 1}])
    with pytest.raises(pp.PreprocessError, match="pass landmarks"):
        pp.apply_pipeline(const(0.5), [{"op": "landmark_emphasis"}])


def test_pipeline_passes_landmarks_batch_by_batch():
    images = const(0.8, n=3, h=48, w=48)
    points = np.stack([mean_face_points()] * 3)
    points[1] = np.nan
    report: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = pp.apply_pipeline(
            images, [{"op": "landmark_emphasis", "background": 0.25}], landmarks=points, batch_size=1, report=report
        )
    assert out[0, 2, 2, 0] == pytest.approx(0.2, abs=1e-3) and out[1, 2, 2, 0] == pytest.approx(0.8)
    assert report["landmark_emphasis_skipped"] == 1


def test_equalize_hist_spreads_a_low_contrast_image_over_the_full_range_per_channel():
    rng = np.random.default_rng(0)
    low = rng.integers(100, 140, size=(2, 16, 16, 1)).astype(np.uint8)  # 40 grey levels of 256
    out = pp.equalize_hist(low)
    assert out.dtype == np.float32 and out.shape == low.shape
    assert out.max() == 1.0 and out.min() < 0.1  # equalizeHist maps the top level to 255
    # Monotone: the order of the pixel values is kept.
    flat_in, flat_out = low[0].ravel(), out[0].ravel()
    order = np.argsort(flat_in, kind="stable")
    assert np.all(np.diff(flat_out[order]) >= 0)
    # A constant image is left as it is (no histogram to spread), and a pipeline accepts the op.
    assert np.allclose(pp.equalize_hist(np.full((1, 4, 4, 1), 0.5, np.float32)), 128 / 255)
    assert pp.build_pipeline([{"op": "equalize_hist"}]).describe() == [{"op": "equalize_hist"}]
