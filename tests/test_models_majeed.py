import pytest
import torch

from ferrepro.models import available_models, build_model


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_majeed_cnn_parameter_count_matches_table_1():
    # Table I, layer by layer: (in * out * k * k) weights + out biases.
    conv1 = 1 * 32 * 1 * 1 + 32  # 1x1 conv, 32 maps
    conv2 = 32 * 32 * 5 * 5 + 32  # 5x5 conv, 32 maps
    conv3 = 32 * 64 * 3 * 3 + 64  # 3x3 conv, 64 maps
    conv4 = 64 * 128 * 3 * 3 + 128  # 3x3 conv, 128 maps, padded
    fc1 = 128 * 5 * 5 * 2048 + 2048  # 3200 -> 2048
    fc2 = 2048 * 1024 + 1024
    out = 1024 * 7 + 7
    expected = conv1 + conv2 + conv3 + conv4 + fc1 + fc2 + out
    assert expected == 8_779_047
    assert n_params(build_model("majeed2025.cnn")) == expected


def test_majeed_cnn_shapes_follow_table_1():
    model = build_model("majeed2025.cnn").eval()
    x = torch.zeros(2, 1, 48, 48)
    assert model.features(x).shape == (2, 128, 5, 5)
    assert model(x).shape == (2, 7)


def test_majeed_cnn_refuses_other_input_sizes():
    with pytest.raises(ValueError, match="48x48"):
        build_model("majeed2025.cnn", input_size=64)


def test_lenet5_parameter_count():
    conv1 = 1 * 6 * 5 * 5 + 6
    conv2 = 6 * 16 * 5 * 5 + 16
    fc1 = 16 * 9 * 9 * 120 + 120  # 48 -> 44 -> 22 -> 18 -> 9
    fc2 = 120 * 84 + 84
    out = 84 * 7 + 7
    assert n_params(build_model("majeed2025.lenet5")) == conv1 + conv2 + fc1 + fc2 + out == 168_971


def test_registry_lists_and_rejects_names():
    assert {"majeed2025.cnn", "majeed2025.lenet5"} <= set(available_models())
    with pytest.raises(KeyError, match="registered models"):
        build_model("majeed2025.cnnn")


def test_lu2024_parameter_count_by_hand():
    # Two streams of conv3x3 (+bias) -> BN (gamma, beta) for 32, 64, 128 maps; the appearance stream sees
    # the 1-channel image, the gradient stream the 1-channel Sobel magnitude (its Sobel kernels are a buffer).
    def stream(c_in):
        total = 0
        for c_out in (32, 64, 128):
            total += c_in * c_out * 3 * 3 + c_out + 2 * c_out
            c_in = c_out
        return total

    gate = (128 * 32 + 32) + (32 * 128 + 128)  # cross-stream SE-style MLP, reduction 4, two of them
    head = (256 * 256 + 256) + (256 * 7 + 7)
    expected = 2 * stream(1) + 2 * gate + head
    model = build_model("majeed2025.lu2024")
    assert n_params(model) == expected == 270_535
    assert "sobel" in dict(model.named_buffers())


def test_lu2024_gradient_stream_sees_edges_not_brightness():
    model = build_model("majeed2025.lu2024").eval()
    flat = torch.full((1, 1, 48, 48), 0.7)
    edge = torch.zeros(1, 1, 48, 48)
    edge[..., 24:] = 1.0
    # A constant image has no gradient inside the frame; a vertical edge gives |Gx| = 4 at the step.
    assert model.gradient_magnitude(flat)[..., 2:-2, 2:-2].max() < 1e-2
    assert torch.isclose(model.gradient_magnitude(edge)[0, 0, 10, 24], torch.tensor(4.0), atol=1e-3)
    assert model(edge).shape == (1, 7)
