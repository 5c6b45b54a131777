"""majeed2025: a VGG-style CNN with a 1x1 first convolution (Table I), and the LeNet-5 baseline.

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
from torch import nn

from ferrepro.models import register_model


class MajeedCNN(nn.Module):
    def __init__(self, num_classes: int = 7, in_channels: int = 1, input_size: int = 48,
                 fc_dropout: tuple[float, float] = (0.6, 0.4)):
        super().__init__()
        if input_size != 48:
            # The 3200-wide FC layer of Table I only exists for 48x48 inputs.
            raise ValueError(f"majeed2025 CNN is defined for 48x48 inputs (Table I), got input_size={input_size}")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, kernel_size=1), nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, kernel_size=5), nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(32, 64, kernel_size=3), nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(64, 128, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(128 * 5 * 5, 2048), nn.ReLU(inplace=True), nn.Dropout(fc_dropout[0]),
            nn.Linear(2048, 1024), nn.ReLU(inplace=True), nn.Dropout(fc_dropout[1]),
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
            nn.Conv2d(in_channels, 6, kernel_size=5), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2),
            nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * spatial * spatial, 120), nn.ReLU(inplace=True),
            nn.Linear(120, 84), nn.ReLU(inplace=True),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@register_model("majeed2025.cnn")
def majeed_cnn(num_classes: int = 7, in_channels: int = 1, input_size: int = 48, **kwargs) -> nn.Module:
    return MajeedCNN(num_classes=num_classes, in_channels=in_channels, input_size=input_size, **kwargs)


@register_model("majeed2025.lenet5")
def lenet5(num_classes: int = 7, in_channels: int = 1, input_size: int = 48, **kwargs) -> nn.Module:
    return LeNet5(num_classes=num_classes, in_channels=in_channels, input_size=input_size, **kwargs)
