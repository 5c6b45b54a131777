"""Models of afzaal2025, nauman2025, gilanie2025 and abdeldayem2025 (DCRNet).

Every parameter count below is derived BY HAND from the paper's layer description (and our documented
reading where it is silent), written out as arithmetic: conv = in*out*k*k + bias, BatchNorm = 2*C
(gamma, beta; running statistics are buffers, not parameters), dense = in*out + bias. Nothing here
calls the models' own size computations. The only non-hand-derived term is torchvision's DenseNet121
backbone, which is checked against its published 7,978,856 parameters.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn
from torch.nn import functional as F

from ferrepro.models import available_models, build_model, model_uses_features, weights
from ferrepro.models.abdeldayem2025 import DCRNet
from ferrepro.models.blocks import CBAM, ResidualBlock, SEBlock
from ferrepro.models.nauman2025 import FeatureDimError


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def forward_eval(model: nn.Module, *inputs: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(*inputs)


def test_all_paper_models_are_registered():
    expected = {
        "afzaal2025.baseline",
        "afzaal2025.no_batchnorm",
        "afzaal2025.no_dropout",
        "afzaal2025.fewer_layers",
        "afzaal2025.optimized",
        "nauman2025.ia_fen",
        "gilanie2025.cnn17",
        "abdeldayem2025.dcrnet",
    }
    assert expected <= set(available_models())


# ---------------------------------------------------------------------------------------------
# afzaal2025: 64x64x1 input, 3x3 unpadded convs, 2x2 max-pools.
# Spatial sizes: 64 -conv-> 62 -pool-> 31 -conv-> 29 -pool-> 14 -conv-> 12 -pool-> 6
# ---------------------------------------------------------------------------------------------
AFZ_CONV1 = 1 * 32 * 3 * 3 + 32  # 320
AFZ_CONV2 = 32 * 64 * 3 * 3 + 64  # 18,496
AFZ_CONV3 = 64 * 128 * 3 * 3 + 128  # 73,856
AFZ_BN = 2 * 32 + 2 * 64 + 2 * 128  # 448
AFZ_DENSE = (128 * 6 * 6) * 128 + 128  # 589,952 (flatten 4608 -> 128)
AFZ_OUT = 128 * 7 + 7  # 903
AFZ_BASELINE = AFZ_CONV1 + AFZ_CONV2 + AFZ_CONV3 + AFZ_BN + AFZ_DENSE + AFZ_OUT  # 683,975
AFZ_NO_BN = AFZ_BASELINE - AFZ_BN  # 683,527
AFZ_NO_DROPOUT = AFZ_BASELINE  # dropout has no parameters
# Two conv stages (32, 64): 64 -> 62 -> 31 -> 29 -> 14; flatten 64*14*14 = 12,544
AFZ_FEWER = AFZ_CONV1 + AFZ_CONV2 + (2 * 32 + 2 * 64) + (64 * 14 * 14) * 128 + 128 + AFZ_OUT  # 1,625,671
# Optimized: conv 64/128/256 + BN, flatten 256*6*6 = 9216, dense 256, dense 128, out 7
AFZ_OPTIMIZED = (
    (1 * 64 * 3 * 3 + 64)
    + (64 * 128 * 3 * 3 + 128)
    + (128 * 256 * 3 * 3 + 256)
    + (2 * 64 + 2 * 128 + 2 * 256)
    + (256 * 6 * 6) * 256
    + 256
    + 256 * 128
    + 128
    + 128 * 7
    + 7
)  # 2,763,911


@pytest.mark.parametrize(
    "name, expected",
    [
        ("afzaal2025.baseline", AFZ_BASELINE),
        ("afzaal2025.no_batchnorm", AFZ_NO_BN),
        ("afzaal2025.no_dropout", AFZ_NO_DROPOUT),
        ("afzaal2025.fewer_layers", AFZ_FEWER),
        ("afzaal2025.optimized", AFZ_OPTIMIZED),
    ],
)
def test_afzaal_parameter_counts(name, expected):
    model = build_model(name, num_classes=7, in_channels=1, input_size=64)
    assert n_params(model) == expected


def test_afzaal_hand_counts_are_what_we_documented():
    # Guards the arithmetic above against silent edits.
    assert (AFZ_BASELINE, AFZ_NO_BN, AFZ_FEWER, AFZ_OPTIMIZED) == (683_975, 683_527, 1_625_671, 2_763_911)


def test_afzaal_ablations_remove_exactly_their_component():
    def count(model, kind):
        return sum(isinstance(m, kind) for m in model.modules())

    baseline = build_model("afzaal2025.baseline")
    assert count(baseline, nn.BatchNorm2d) == 3 and count(baseline, nn.Dropout) == 1
    no_bn = build_model("afzaal2025.no_batchnorm")
    assert count(no_bn, nn.BatchNorm2d) == 0 and count(no_bn, nn.Dropout) == 1
    no_dropout = build_model("afzaal2025.no_dropout")
    assert count(no_dropout, nn.BatchNorm2d) == 3 and count(no_dropout, nn.Dropout) == 0
    fewer = build_model("afzaal2025.fewer_layers")
    assert count(fewer, nn.Conv2d) == 2 and count(baseline, nn.Conv2d) == 3
    optimized = build_model("afzaal2025.optimized")
    assert count(optimized, nn.Dropout) == 2 and all(
        d.p == 0.5 for d in optimized.modules() if isinstance(d, nn.Dropout)
    )


def test_afzaal_l2_is_exposed_for_the_optimizer():
    assert build_model("afzaal2025.baseline").l2_weight_decay == 0.0
    assert build_model("afzaal2025.optimized").l2_weight_decay == pytest.approx(2e-3)
    assert build_model("afzaal2025.optimized", l2_weight_decay=5e-4).l2_weight_decay == pytest.approx(5e-4)


@pytest.mark.parametrize(
    "name",
    [
        "afzaal2025.baseline",
        "afzaal2025.no_batchnorm",
        "afzaal2025.no_dropout",
        "afzaal2025.fewer_layers",
        "afzaal2025.optimized",
    ],
)
def test_afzaal_forward_shape(name):
    out = forward_eval(build_model(name, num_classes=7, in_channels=1, input_size=64), torch.randn(2, 1, 64, 64))
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()


def test_afzaal_rejects_too_small_input():
    with pytest.raises(ValueError, match="input_size=8"):
        build_model("afzaal2025.baseline", input_size=8)


# ---------------------------------------------------------------------------------------------
# nauman2025 IA-FEN: ResNet-18 trunk (3x3 stem, no bias, BN) on 48x48x1, GAP, [BN1d on D
# handcrafted features], FC (512+D) -> 256, FC 256 -> 7.
# ---------------------------------------------------------------------------------------------
NAU_STEM = 1 * 64 * 3 * 3 + 2 * 64
NAU_STAGE1 = 2 * (64 * 64 * 3 * 3 + 2 * 64 + 64 * 64 * 3 * 3 + 2 * 64)
NAU_STAGE2 = (64 * 128 * 3 * 3 + 2 * 128 + 128 * 128 * 3 * 3 + 2 * 128 + 64 * 128 * 1 * 1 + 2 * 128) + (
    128 * 128 * 3 * 3 + 2 * 128 + 128 * 128 * 3 * 3 + 2 * 128
)
NAU_STAGE3 = (128 * 256 * 3 * 3 + 2 * 256 + 256 * 256 * 3 * 3 + 2 * 256 + 128 * 256 * 1 * 1 + 2 * 256) + (
    256 * 256 * 3 * 3 + 2 * 256 + 256 * 256 * 3 * 3 + 2 * 256
)
NAU_STAGE4 = (256 * 512 * 3 * 3 + 2 * 512 + 512 * 512 * 3 * 3 + 2 * 512 + 256 * 512 * 1 * 1 + 2 * 512) + (
    512 * 512 * 3 * 3 + 2 * 512 + 512 * 512 * 3 * 3 + 2 * 512
)
NAU_TRUNK = NAU_STEM + NAU_STAGE1 + NAU_STAGE2 + NAU_STAGE3 + NAU_STAGE4  # 11,167,680


def nauman_expected(feature_dim: int, num_classes: int = 7) -> int:
    feature_bn = 2 * feature_dim
    fc1 = (512 + feature_dim) * 256 + 256
    fc2 = 256 * num_classes + num_classes
    return NAU_TRUNK + feature_bn + fc1 + fc2


def test_nauman_trunk_matches_torchvision_resnet18():
    # Independent cross-check: torchvision's ResNet-18 (11,689,512) without its 7x7 RGB stem and its
    # 1000-way FC, plus our 3x3 grayscale stem, is the same trunk.
    assert n_params(torchvision.models.resnet18()) == 11_689_512
    assert NAU_TRUNK == 11_689_512 - 3 * 64 * 7 * 7 - (512 * 1000 + 1000) + 1 * 64 * 3 * 3 == 11_167_680


# The paper's four variants differ only in the handcrafted vector length D. 900 = HoG of a 48x48
# face with 8x8 cells and 2x2 blocks (5*5*2*2*9); 136 = 68 landmarks * (x, y); 2000 stands in for an
# arbitrary sliding-window HoG length.
@pytest.mark.parametrize(
    "variant, feature_dim",
    [
        ("CNN", 0),
        ("CNN+HoG", 900),
        ("CNN+landmarks+HoG", 900 + 136),
        ("CNN+swHoG+landmarks+HoG", 2000 + 136 + 900),
    ],
)
def test_nauman_parameter_counts(variant, feature_dim):
    model = build_model("nauman2025.ia_fen", num_classes=7, in_channels=1, input_size=48, feature_dim=feature_dim)
    assert n_params(model) == nauman_expected(feature_dim)


@pytest.mark.parametrize("feature_dim", [0, 1036])
def test_nauman_forward_shape_and_feature_flag(feature_dim):
    model = build_model("nauman2025.ia_fen", num_classes=7, in_channels=1, input_size=48, feature_dim=feature_dim)
    x = torch.randn(2, 1, 48, 48)
    inputs = (x, torch.randn(2, feature_dim)) if feature_dim else (x,)
    assert forward_eval(model, *inputs).shape == (2, 7)
    assert model_uses_features(model) is (feature_dim > 0)


def test_nauman_features_change_the_prediction():
    # The handcrafted vector must actually reach the classifier.
    torch.manual_seed(0)
    model = build_model("nauman2025.ia_fen", feature_dim=10, widths=(8, 16), blocks_per_stage=(1, 1)).eval()
    x = torch.randn(2, 1, 48, 48)
    with torch.no_grad():
        assert not torch.allclose(model(x, torch.zeros(2, 10)), model(x, 5 * torch.ones(2, 10)))


def test_nauman_rejects_wrong_feature_dim_with_clear_error():
    model = build_model("nauman2025.ia_fen", feature_dim=900, widths=(8, 16), blocks_per_stage=(1, 1))
    x = torch.randn(2, 1, 48, 48)
    with pytest.raises(FeatureDimError, match=r"\(2, 899\).*\(2, 900\)"):
        model(x, torch.randn(2, 899))
    with pytest.raises(FeatureDimError, match="model\\(images, features\\)"):
        model(x)
    cnn_only = build_model("nauman2025.ia_fen", feature_dim=0, widths=(8, 16), blocks_per_stage=(1, 1))
    with pytest.raises(FeatureDimError, match="feature_dim=0"):
        cnn_only(x, torch.randn(2, 900))
    assert issubclass(FeatureDimError, ValueError)


# ---------------------------------------------------------------------------------------------
# gilanie2025: Table 1, 512x512 input, 5x5 stride-2 unpadded convs/avg-pool:
# 512 -> 254 -> 125 -> (avg-pool) 61 -> 29 -> 13; flatten 64*13*13 = 10,816 -> FC num_classes.
# ---------------------------------------------------------------------------------------------
def gilanie_expected(in_channels: int, num_classes: int) -> int:
    layer1 = in_channels * 64 * 5 * 5 + 64
    layer2 = 2 * 64
    layer4 = 64 * 128 * 5 * 5 + 128
    layer5 = 2 * 128
    layer8 = 128 * 128 * 5 * 5 + 128
    layer9 = 2 * 128
    layer11 = 128 * 64 * 5 * 5 + 64
    layer12 = 2 * 64
    layer14_fc = (64 * 13 * 13) * num_classes + num_classes
    return layer1 + layer2 + layer4 + layer5 + layer8 + layer9 + layer11 + layer12 + layer14_fc


@pytest.mark.parametrize("in_channels, num_classes", [(1, 7), (1, 2), (4, 6), (4, 7), (3, 7)])
def test_gilanie_parameter_counts(in_channels, num_classes):
    model = build_model("gilanie2025.cnn17", num_classes=num_classes, in_channels=in_channels, input_size=512)
    assert n_params(model) == gilanie_expected(in_channels, num_classes)


def test_gilanie_hand_count_value():
    assert gilanie_expected(1, 7) == 897_671


@pytest.mark.parametrize("in_channels, num_classes", [(1, 2), (4, 6)])
def test_gilanie_forward_shape(in_channels, num_classes):
    model = build_model("gilanie2025.cnn17", num_classes=num_classes, in_channels=in_channels, input_size=512)
    assert forward_eval(model, torch.randn(1, in_channels, 512, 512)).shape == (1, num_classes)


def test_gilanie_rejects_too_small_input():
    with pytest.raises(ValueError, match="at least 125"):
        build_model("gilanie2025.cnn17", input_size=124)
    assert forward_eval(build_model("gilanie2025.cnn17", input_size=125), torch.randn(1, 1, 125, 125)).shape == (1, 7)


# ---------------------------------------------------------------------------------------------
# abdeldayem2025 DCRNet
# ---------------------------------------------------------------------------------------------
DENSENET121_PUBLISHED = 7_978_856  # torchvision docs, incl. 1000-way classifier
DENSENET121_FEATURES = DENSENET121_PUBLISHED - (1024 * 1000 + 1000)  # 6,953,856


def cbam_params(c: int, r: int = 16) -> int:
    hidden = max(c // r, 1)
    return (c * hidden + hidden) + (hidden * c + c) + 2 * 7 * 7  # shared MLP + 7x7 2->1 conv (no bias)


def se_params(c: int, r: int = 16) -> int:
    hidden = max(c // r, 1)
    return (c * hidden + hidden) + (hidden * c + c)


DCR_CONV_A = 1024 * 256 * 3 * 3 + 256 + 2 * 256  # conv 256 + BN
DCR_CONV_B = 256 * 512 * 3 * 3 + 512 + 2 * 512  # conv 512 + BN
# Residual module 1 (32 filters): first block 512->32 with 1x1 projection, then two 32->32 blocks
DCR_RES1 = (512 * 32 * 3 * 3 + 32 + 2 * 32 + 32 * 32 * 3 * 3 + 32 + 2 * 32 + 512 * 32 + 32 + 2 * 32) + 2 * (
    32 * 32 * 3 * 3 + 32 + 2 * 32 + 32 * 32 * 3 * 3 + 32 + 2 * 32
)  # 210,592
DCR_RES2 = (32 * 64 * 3 * 3 + 64 + 2 * 64 + 64 * 64 * 3 * 3 + 64 + 2 * 64 + 32 * 64 + 64 + 2 * 64) + 2 * (
    64 * 64 * 3 * 3 + 64 + 2 * 64 + 64 * 64 * 3 * 3 + 64 + 2 * 64
)  # 206,144
DCR_PROJECTIONS = (512 * 32 + 32 + 2 * 32) + (32 * 64 + 64 + 2 * 64)


def dcr_head(in_features: int, num_classes: int = 7) -> int:
    return (in_features * 512 + 512) + (512 * 256 + 256) + (256 * 128 + 128) + (128 * num_classes + num_classes)


DCR_FULL = (
    DENSENET121_FEATURES
    + DCR_CONV_A
    + cbam_params(256)
    + DCR_CONV_B
    + cbam_params(512)
    + DCR_RES1
    + DCR_RES2
    + cbam_params(64)
    + dcr_head(64)
)


def test_densenet121_backbone_matches_published_count():
    full = torchvision.models.densenet121(weights=None)
    assert n_params(full) == DENSENET121_PUBLISHED
    assert n_params(full.features) == DENSENET121_FEATURES == 6_953_856


def test_dcrnet_hand_count_vs_paper_claim():
    assert DCR_FULL == 11_152_897
    # The paper claims 11.6M; we document the 3.9% gap instead of tuning unstated details to hide it.
    assert abs(DCR_FULL - 11_600_000) / 11_600_000 < 0.05


def test_dcrnet_keras_total_counts_two_batchnorm_statistics_per_channel():
    """Keras' "total params" add a moving mean and a moving variance per BatchNorm channel (issue 16:
    our layers add 2,880, not 1,440)."""
    model = build_model("abdeldayem2025.dcrnet", num_classes=7, in_channels=3, input_size=224)
    statistics = {
        name: sum(
            m.running_mean.numel() + m.running_var.numel()
            for m in part.modules()
            if isinstance(m, torch.nn.BatchNorm2d)
        )
        for name, part in (("backbone", model.backbone), ("all", model))
    }
    assert statistics["backbone"] == 83_648  # Keras' DenseNet121: 83,648 non-trainable params
    assert statistics["all"] - statistics["backbone"] == 2_880
    assert DCR_FULL + statistics["all"] == 11_239_425


@pytest.mark.parametrize(
    "flags, expected",
    [
        ({}, DCR_FULL),
        (
            {"attention": "se"},
            DENSENET121_FEATURES
            + DCR_CONV_A
            + se_params(256)
            + DCR_CONV_B
            + se_params(512)
            + DCR_RES1
            + DCR_RES2
            + se_params(64)
            + dcr_head(64),
        ),
        # Table 8 "+ CBAM Modules": no residual modules, so no CBAM after them; GAP over 512 channels
        (
            {"use_residual": False},
            DENSENET121_FEATURES + DCR_CONV_A + cbam_params(256) + DCR_CONV_B + cbam_params(512) + dcr_head(512),
        ),
        ({"use_cbam": False}, DENSENET121_FEATURES + DCR_CONV_A + DCR_CONV_B + DCR_RES1 + DCR_RES2 + dcr_head(64)),
        # Table 8 "DenseNet121 (Backbone) only", reading 1: conv blocks and head kept
        ({"use_cbam": False, "use_residual": False}, DENSENET121_FEATURES + DCR_CONV_A + DCR_CONV_B + dcr_head(512)),
        # reading 2: backbone + GAP + dense head
        ({"use_cbam": False, "use_residual": False, "use_conv_blocks": False}, DENSENET121_FEATURES + dcr_head(1024)),
        ({"residual_skip": False}, DCR_FULL - DCR_PROJECTIONS),
    ],
)
def test_dcrnet_parameter_counts(flags, expected):
    model = build_model("abdeldayem2025.dcrnet", num_classes=7, in_channels=3, input_size=224, **flags)
    assert n_params(model) == expected


def test_dcrnet_grayscale_input_changes_only_the_stem():
    model = build_model("abdeldayem2025.dcrnet", in_channels=1, input_size=64)
    assert n_params(model) == DCR_FULL - 3 * 64 * 7 * 7 + 1 * 64 * 7 * 7


# The full model's forward (and backward) is exercised by test_dcrnet_forward_backward_under_deterministic_mode.
@pytest.mark.parametrize(
    "flags",
    [{"attention": "se", "use_residual": False}, {"use_cbam": False, "use_residual": False, "use_conv_blocks": False}],
)
def test_dcrnet_forward_shape(flags):
    model = build_model("abdeldayem2025.dcrnet", num_classes=7, in_channels=3, input_size=64, **flags)
    assert forward_eval(model, torch.randn(2, 3, 64, 64)).shape == (2, 7)


def test_dcrnet_exposes_l2_and_weights_source():
    model = build_model("abdeldayem2025.dcrnet", input_size=64)
    assert model.l2_weight_decay == pytest.approx(1e-3)
    assert model.weights_source == "random"


def test_dcrnet_rejects_too_small_input():
    with pytest.raises(ValueError, match="at least 64"):
        build_model("abdeldayem2025.dcrnet", input_size=48)


def _published_style_checkpoint(path) -> dict[str, torch.Tensor]:
    """A random DenseNet121 saved like torchvision's published file: old 'norm.1'-style dense-layer keys
    and no BatchNorm 'num_batches_tracked' entries."""
    torch.manual_seed(1)
    state = torchvision.models.densenet121(weights=None).state_dict()
    old = {}
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        for part in ("norm", "relu", "conv"):
            for i in ("1", "2"):
                key = key.replace(f".{part}{i}.", f".{part}.{i}.") if "denselayer" in key else key
        old[key] = value
    assert any(".norm.1." in k for k in old)
    torch.save(old, path)
    return state


def test_dcrnet_loads_weights_from_a_path(tmp_path):
    path = tmp_path / "densenet121.pth"
    state = _published_style_checkpoint(path)
    model = DCRNet(input_size=64, pretrained_weights=str(path))
    assert model.weights_source == f"imagenet:{path}"
    assert torch.equal(model.backbone.conv0.weight, state["features.conv0.weight"])
    assert torch.equal(
        model.backbone.denseblock4.denselayer16.conv2.weight, state["features.denseblock4.denselayer16.conv2.weight"]
    )
    gray = DCRNet(in_channels=1, input_size=64, pretrained_weights=str(path))
    assert torch.allclose(
        gray.backbone.conv0.weight, state["features.conv0.weight"].sum(dim=1, keepdim=True), atol=1e-6
    )


def test_dcrnet_imagenet_weights_come_from_the_hub_cache_only(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError, match="densenet121"):
        DCRNet(input_size=64, pretrained_weights="imagenet")
    with pytest.warns(UserWarning, match="random initialisation"):
        fallback = DCRNet(input_size=64, pretrained_weights="imagenet", allow_random_fallback=True)
    assert fallback.weights_source == "random"
    (tmp_path / "checkpoints").mkdir()
    cached = tmp_path / "checkpoints" / "densenet121-a639ec97.pth"
    _published_style_checkpoint(cached)
    # A file under the published name whose sha256 does not start with a639ec97 is not the published file.
    with pytest.raises(ValueError, match="does not start with a639ec97"):
        DCRNet(input_size=64, pretrained_weights="imagenet")
    # Our stand-in, under a name carrying its own hash prefix (torch.hub's convention), is accepted.
    prefix = weights.sha256_of(cached)[:8]
    renamed = cached.rename(cached.with_name(f"densenet121-{prefix}.pth"))
    monkeypatch.setattr(
        weights,
        "densenet121_imagenet",
        lambda: weights.WeightsFile("stand-in", f"https://download.pytorch.org/models/densenet121-{prefix}.pth"),
    )
    assert DCRNet(input_size=64, pretrained_weights="imagenet").weights_source == f"imagenet:{renamed}"


def test_dcrnet_rejects_missing_or_foreign_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        DCRNet(input_size=64, pretrained_weights=str(tmp_path / "nope.pth"))
    foreign = tmp_path / "resnet.pth"
    torch.save(torchvision.models.resnet18().state_dict(), foreign)
    with pytest.raises(ValueError, match="no 'features"):
        DCRNet(input_size=64, pretrained_weights=str(foreign))


# ---------------------------------------------------------------------------------------------
# Shared blocks
# ---------------------------------------------------------------------------------------------
def test_block_parameter_counts():
    assert n_params(CBAM(256)) == cbam_params(256) == (256 * 16 + 16) + (16 * 256 + 256) + 98 == 8_562
    assert n_params(SEBlock(512)) == se_params(512) == (512 * 32 + 32) + (32 * 512 + 512) == 33_312
    assert n_params(ResidualBlock(16, 16)) == 2 * (16 * 16 * 3 * 3 + 2 * 16)  # identity shortcut
    projected = (16 * 32 * 3 * 3 + 2 * 32) + (32 * 32 * 3 * 3 + 2 * 32) + (16 * 32 * 1 * 1 + 2 * 32)
    assert n_params(ResidualBlock(16, 32, stride=2)) == projected


def test_cbam_pooling_equals_adaptive_pooling_reference():
    torch.manual_seed(0)
    block = CBAM(32, reduction=8).eval()
    x = torch.randn(2, 32, 5, 6)
    mlp = block.channel.mlp
    channel_w = torch.sigmoid(mlp(F.adaptive_avg_pool2d(x, 1).flatten(1)) + mlp(F.adaptive_max_pool2d(x, 1).flatten(1)))
    refined = x * channel_w[:, :, None, None]
    spatial_in = torch.cat([refined.mean(1, keepdim=True), refined.max(1, keepdim=True).values], dim=1)
    expected = refined * torch.sigmoid(block.spatial.conv(spatial_in))
    with torch.no_grad():
        assert torch.allclose(block(x), expected, atol=1e-6)


def test_attention_blocks_avoid_adaptive_pooling_layers():
    # nn.AdaptiveAvg/MaxPool2d have no deterministic CUDA backward; our blocks must not use them.
    adaptive = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
    for model in (
        CBAM(64),
        SEBlock(64),
        build_model("abdeldayem2025.dcrnet", input_size=64),
        build_model("abdeldayem2025.dcrnet", input_size=64, attention="se"),
    ):
        assert not any(isinstance(m, adaptive) for m in model.modules())


@pytest.mark.parametrize("block_cls", [CBAM, SEBlock])
def test_attention_is_deterministic_forward_and_backward(block_cls):
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        grads = []
        for _ in range(2):
            torch.manual_seed(0)
            block = block_cls(32)
            x = torch.randn(2, 32, 7, 7, requires_grad=True)
            block(x).square().sum().backward()
            grads.append((x.grad.clone(), [p.grad.clone() for p in block.parameters()]))
        assert torch.equal(grads[0][0], grads[1][0])
        assert all(torch.equal(a, b) for a, b in zip(grads[0][1], grads[1][1]))
        assert grads[0][0].abs().sum() > 0
    finally:
        torch.use_deterministic_algorithms(previous)


def test_dcrnet_forward_backward_under_deterministic_mode():
    # Everything after the torchvision backbone is ours; the backbone is frozen only to keep the test
    # fast on CPU (its first backward pass costs many seconds of oneDNN kernel generation).
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        model = build_model("abdeldayem2025.dcrnet", input_size=64)
        model.backbone.requires_grad_(False)
        logits = model(torch.randn(2, 3, 64, 64))
        assert logits.shape == (2, 7)
        F.cross_entropy(logits, torch.tensor([0, 3])).backward()
        ours = [p for name, p in model.named_parameters() if not name.startswith("backbone.")]
        assert ours and all(p.grad is not None for p in ours)
    finally:
        torch.use_deterministic_algorithms(previous)


def test_residual_block_skip_is_identity_when_branch_is_zero():
    block = ResidualBlock(8, 8).eval()
    with torch.no_grad():
        block.bn2.weight.zero_()
        block.bn2.bias.zero_()
        x = torch.randn(2, 8, 5, 5)
        assert torch.allclose(block(x), torch.relu(x))
        assert ResidualBlock(8, 8, shortcut=False).projection is None
        assert ResidualBlock(8, 16, stride=2)(x).shape == (2, 16, 3, 3)
