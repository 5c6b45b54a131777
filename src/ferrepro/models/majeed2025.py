"""majeed2025: a VGG-style CNN with a 1x1 first convolution (Table I), the LeNet-5 baseline [81], and
our reading of the Lu et al. [80] comparison model.

Table I, for a 48x48 grayscale input:

    conv 1x1, 32, stride 1, no padding   -> 32@48x48
    conv 5x5, 32, stride 1, no padding   -> 32@44x44
    max-pool 2x2 stride 2                -> 32@22x22
    conv 3x3, 64, no padding             -> 64@20x20
    max-pool 2x2 stride 2                -> 64@10x10
    conv 3x3, 128, padded                -> 128@10x10
    max-pool 2x2 stride 2                -> 128@5x5  (flattened: 3200)
    FC 3200 -> 2048, dropout 0.6
    FC 2048 -> 1024, dropout 0.4
    FC 1024 -> 7 (softmax; we return logits and let the loss apply it)

Choices where the paper is silent (see docs/papers/majeed2025.md): ReLU after every convolution
and hidden FC layer (the text says ReLU is the activation); dropout placed after each hidden FC's
activation; no batch normalisation (none is mentioned).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ferrepro.models import register_model
from ferrepro.models.blocks import conv_bn_relu, global_avg_pool


class MajeedCNN(nn.Module):
    def __init__(
        self,
        num_classes: int = 7,
        in_channels: int = 1,
        input_size: int = 48,
        fc_dropout: tuple[float, float] = (0.6, 0.4),
    ):
        super().__init__()
        if input_size != 48:
            # The 3200-wide FC layer of Table I only exists for 48x48 inputs.
            raise ValueError(f"majeed2025 CNN is defined for 48x48 inputs (Table I), got input_size={input_size}")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, kernel_size=5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(32, 64, kernel_size=3),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(64, 128, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(128 * 5 * 5, 2048),
            nn.ReLU(inplace=True),
            nn.Dropout(fc_dropout[0]),
            nn.Linear(2048, 1024),
            nn.ReLU(inplace=True),
            nn.Dropout(fc_dropout[1]),
            nn.Linear(1024, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al., 1998) adapted to 48x48 inputs, the paper's baseline [81].

    The paper gives no details of its LeNet-5, so we keep the classic topology: conv 6@5x5,
    subsampling, conv 16@5x5, subsampling, FC 120, FC 84, output. We use ReLU and max-pooling,
    the form in which LeNet-5 is usually re-implemented in Keras (the paper's framework), rather
    than the original scaled tanh and trainable average subsampling.
    48 -> conv5 -> 44 -> pool -> 22 -> conv5 -> 18 -> pool -> 9, so the flattened size is 16*9*9.
    """

    def __init__(self, num_classes: int = 7, in_channels: int = 1, input_size: int = 48):
        super().__init__()
        spatial = ((input_size - 4) // 2 - 4) // 2
        if spatial < 1:
            raise ValueError(f"LeNet-5 needs inputs of at least 16x16, got {input_size}")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(6, 16, kernel_size=5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * spatial * spatial, 120),
            nn.ReLU(inplace=True),
            nn.Linear(120, 84),
            nn.ReLU(inplace=True),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class CrossStreamGate(nn.Module):
    """Channel attention of one stream computed from the OTHER stream's descriptor:
    x_a * sigma(W2 relu(W1 gap(x_b))), W1: C -> C/r, W2: C/r -> C, with biases (SE-style MLP)."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(channels, channels // reduction),
            nn.ReLU(inplace=True),
            nn.Linear(channels // reduction, channels),
        )

    def forward(self, x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.mlp(global_avg_pool(other)))[:, :, None, None]


class LuCrossStreamCNN(nn.Module):
    """Our still-image reading of Lu et al. [80] ("Video-based neonatal pain expression recognition with
    cross-stream attention", 2024), which majeed2025 "reproduces" without describing it.

    [80] is a video model: an appearance stream and a motion (optical-flow) stream fused by cross-stream
    attention. A single 48x48 image has no motion, so the second stream sees the image's Sobel gradient
    magnitude, the static signal closest to what a flow stream responds to (moving edges). Each stream is
    conv 3x3 32/64/128 (BN, ReLU, max-pool 2x2); each stream's final maps are re-weighted by channel
    attention computed from the other stream; both are globally average-pooled, concatenated (256),
    then FC 256 -> ReLU -> dropout 0.5 -> classes. Every size here is ours (docs/papers/majeed2025.md);
    the paper reports no number for this model (its Fig. 5 shows only training curves).
    """

    widths = (32, 64, 128)

    def __init__(
        self,
        num_classes: int = 7,
        in_channels: int = 1,
        input_size: int = 48,
        hidden_units: int = 256,
        dropout: float = 0.5,
        reduction: int = 4,
    ):
        super().__init__()
        if input_size < 8:
            raise ValueError(f"lu2024 needs inputs of at least 8x8 (three 2x2 poolings), got {input_size}")
        self.appearance = self._stream(in_channels)
        self.gradient = self._stream(1)
        c = self.widths[-1]
        self.gate_appearance = CrossStreamGate(c, reduction)
        self.gate_gradient = CrossStreamGate(c, reduction)
        self.head = nn.Sequential(
            nn.Linear(2 * c, hidden_units),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden_units, num_classes),
        )
        sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
        self.register_buffer("sobel", torch.stack([sobel_x, sobel_x.t()])[:, None])  # 2 x 1 x 3 x 3, not trained

    def _stream(self, in_channels: int) -> nn.Sequential:
        layers: list[nn.Module] = []
        for width in self.widths:
            layers += [conv_bn_relu(in_channels, width, 3, bias=True), nn.MaxPool2d(2, 2)]
            in_channels = width
        return nn.Sequential(*layers)

    def gradient_magnitude(self, x: torch.Tensor) -> torch.Tensor:
        g = F.conv2d(x.mean(dim=1, keepdim=True), self.sobel, padding=1)
        return torch.sqrt((g**2).sum(dim=1, keepdim=True) + 1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.appearance(x)
        g = self.gradient(self.gradient_magnitude(x))
        fused = torch.cat([global_avg_pool(self.gate_appearance(a, g)), global_avg_pool(self.gate_gradient(g, a))], 1)
        return self.head(fused)


@register_model("majeed2025.cnn")
def majeed_cnn(num_classes: int = 7, in_channels: int = 1, input_size: int = 48, **kwargs) -> nn.Module:
    return MajeedCNN(num_classes=num_classes, in_channels=in_channels, input_size=input_size, **kwargs)


@register_model("majeed2025.lenet5")
def lenet5(num_classes: int = 7, in_channels: int = 1, input_size: int = 48, **kwargs) -> nn.Module:
    return LeNet5(num_classes=num_classes, in_channels=in_channels, input_size=input_size, **kwargs)


@register_model("majeed2025.lu2024")
def lu2024(num_classes: int = 7, in_channels: int = 1, input_size: int = 48, **kwargs) -> nn.Module:
    return LuCrossStreamCNN(num_classes=num_classes, in_channels=in_channels, input_size=input_size, **kwargs)
