"""Augmentation policies: torchvision equivalence, per-sample randomness, determinism."""

from __future__ import annotations

import pytest
import torch

v2 = pytest.importorskip("torchvision.transforms.v2")
from torchvision.transforms.v2 import InterpolationMode  # noqa: E402
from torchvision.transforms.v2 import functional as TF  # noqa: E402

from ferrepro.training.augment import (  # noqa: E402
    POLICIES,
    AugmentSpec,
    AugmentSpecError,
    affine_batch,
    build_augmentation,
)


def smooth_batch(b=8, c=1, h=48, w=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, c, h // 4, w // 4, generator=g)
    return torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)


@pytest.mark.parametrize(
    "angle,translate,scale,shear",
    [(25.0, (3, -2), 1.1, (20.0, 0.0)), (-10.0, (0, 0), 0.8, (0.0, 5.0)), (0.0, (5, 5), 1.0, (0.0, 0.0))],
)
def test_batched_affine_matches_torchvision_functional_affine(angle, translate, scale, shear):
    x = smooth_batch(3, c=3, h=48, w=40)
    ref = torch.stack(
        [
            TF.affine(
                img,
                angle=angle,
                translate=list(translate),
                scale=scale,
                shear=list(shear),
                interpolation=InterpolationMode.BILINEAR,
            )
            for img in x
        ]
    )
    out = affine_batch(x, angle, translate[0], translate[1], scale, shear[0], shear[1])
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=0)


def test_batched_affine_uses_one_parameter_set_per_sample():
    x = smooth_batch(2)
    out = affine_batch(
        x, torch.tensor([0.0, 30.0]), torch.zeros(2), torch.zeros(2), torch.ones(2), torch.zeros(2), torch.zeros(2)
    )
    torch.testing.assert_close(out[0], x[0], atol=1e-5, rtol=0)  # angle 0: unchanged
    ref1 = TF.affine(
        x[1], angle=30.0, translate=[0, 0], scale=1.0, shear=[0.0, 0.0], interpolation=InterpolationMode.BILINEAR
    )
    torch.testing.assert_close(out[1], ref1, atol=1e-4, rtol=0)


@pytest.mark.parametrize("policy", sorted(set(POLICIES) - {"none"}))
@pytest.mark.parametrize("engine", ["batched", "loop"])
def test_every_image_of_a_batch_gets_its_own_random_parameters(policy, engine):
    aug = build_augmentation({"policy": policy, "engine": engine, "fill": "zeros"})
    same = smooth_batch(1).repeat(16, 1, 1, 1)  # 16 copies of one image
    out = aug(same, generator=0)
    assert out.shape == same.shape and out.dtype == same.dtype
    distinct = {tuple(o.flatten()[::97].tolist()) for o in out}
    assert len(distinct) >= 12, f"{policy}/{engine}: only {len(distinct)} distinct outputs for 16 copies"
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("engine", ["batched", "loop"])
def test_seeded_calls_are_reproducible_and_leave_the_global_rng_alone(engine):
    aug = build_augmentation({"policy": "afzaal2025", "engine": engine, "fill": "zeros"})
    x = smooth_batch(6)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = aug(x, generator=7)
    after = torch.rand(1)
    torch.testing.assert_close(before, after)  # a seeded call must not consume the global RNG
    b = aug(x, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, aug(x, generator=8))


def test_none_policy_is_identity_and_input_is_not_modified():
    x = smooth_batch(4)
    assert build_augmentation("none")(x) is x
    copy = x.clone()
    build_augmentation("afzaal2025")(x, generator=1)
    torch.testing.assert_close(x, copy)


def test_flip_probability_one_flips_every_image():
    x = smooth_batch(5)
    out = build_augmentation({"hflip": 1.0})(x, generator=0)
    torch.testing.assert_close(out, x.flip(-1))


def test_erasing_puts_one_rectangle_of_the_requested_size_in_every_image():
    x = torch.full((32, 1, 48, 48), 0.5)
    out = build_augmentation({"erase_p": 1.0, "erase_scale": [0.05, 0.1], "erase_ratio": [1.0, 1.0]})(x, generator=0)
    erased = (out == 0).float().mean((1, 2, 3))
    assert ((erased > 0.03) & (erased < 0.13)).all(), erased
    assert len(set(erased.tolist())) > 3  # sizes vary per image


def test_photometric_ops_change_brightness_per_image_and_stay_in_range():
    x = torch.full((32, 3, 8, 8), 0.5)
    out = build_augmentation({"brightness": 0.3})(x, generator=0)
    means = out.mean((1, 2, 3))
    assert means.min() < 0.45 and means.max() > 0.55 and means.std() > 0.03
    noisy = build_augmentation({"noise_std": 0.1})(torch.zeros(4, 1, 16, 16), generator=0)
    assert noisy.min() >= 0 and 0.02 < noisy.mean() < 0.08  # half-normal mean of 0.1*N(0,1) ~ 0.04


def test_nauman_policy_matches_table3():
    s = POLICIES["nauman2025"]
    assert (s.rotation, s.scale, s.hflip, s.shear) == (25.0, (0.8, 1.2), 0.5, 20.0)
    assert s.fill == "border"  # Keras ImageDataGenerator's default fill_mode="nearest"


def test_spec_errors_are_clear():
    with pytest.raises(AugmentSpecError, match="unknown augmentation keys"):
        build_augmentation({"rotate": 10})
    with pytest.raises(AugmentSpecError, match="policy 'foo' unknown"):
        build_augmentation("foo")
    with pytest.raises(AugmentSpecError, match="only fills with a constant"):
        build_augmentation({"policy": "nauman2025", "engine": "loop"})
    with pytest.raises(AugmentSpecError, match="probability"):
        AugmentSpec(hflip=1.5)
    with pytest.raises(AugmentSpecError, match="float B x C x H x W"):
        build_augmentation("nauman2025")(torch.zeros(2, 1, 8, 8, dtype=torch.uint8))


def test_overrides_keep_the_rest_of_the_policy():
    aug = build_augmentation({"policy": "afzaal2025", "noise_std": 0.0})
    assert aug.spec.noise_std == 0.0 and aug.spec.rotation == 10.0 and aug.describe()["policy"] == "afzaal2025"
