"""Building blocks shared by the paper models: conv-BN-ReLU, CBAM, SE and a basic residual block.

Written once so that every paper that says "CBAM" or "residual block" gets the same, tested thing.

Determinism: the attention blocks pool with ``x.mean`` / ``x.amax`` over the spatial dimensions
instead of ``nn.AdaptiveAvgPool2d`` / ``nn.AdaptiveMaxPool2d``. The backward passes of the adaptive
pooling layers have no deterministic CUDA kernel, so under ``torch.use_deterministic_algorithms(True)``
they raise on GPU; a plain reduction gives the same numbers and is deterministic everywhere.
"""

from __future__ import annotations

import torch
from torch import nn

ATTENTION_KINDS = ("cbam", "se")


def global_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """B x C x H x W -> B x C: mean over the spatial dimensions (deterministic global average pooling)."""
    return x.mean(dim=(2, 3))


def conv_bn_relu(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    stride: int = 1,
    padding: int | str = "same",
    bias: bool = False,
    batchnorm: bool = True,
) -> nn.Sequential:
    """Conv2d -> BatchNorm2d -> ReLU (BatchNorm optional).

    ``padding="same"`` is Keras' ``padding="same"`` for stride 1; for strided convolutions an explicit
    integer is needed (PyTorch does not support "same" with stride > 1).
    """
    if padding == "same" and stride != 1:
        padding = kernel_size // 2
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias)
    ]
    if batchnorm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _hidden_width(channels: int, reduction: int) -> int:
    if reduction < 1:
        raise ValueError(f"attention reduction ratio must be >= 1, got {reduction}")
    # With few channels C // r would be 0; one hidden unit keeps the bottleneck MLP well defined.
    return max(channels // reduction, 1)


class ChannelAttention(nn.Module):
    """CBAM channel attention (Woo et al., 2018, eq. 2): sigma(MLP(avgpool(F)) + MLP(maxpool(F))).

    The MLP is shared between both pooled descriptors: Linear(C, C/r) -> ReLU -> Linear(C/r, C), with
    biases as in the authors' reference implementation.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = _hidden_width(channels, reduction)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.mlp(x.mean(dim=(2, 3)))
        mx = self.mlp(x.amax(dim=(2, 3)))
        weights = torch.sigmoid(avg + mx)
        return x * weights[:, :, None, None]


class SpatialAttention(nn.Module):
    """CBAM spatial attention (eq. 3): sigma(conv7x7([mean_c(F); max_c(F)])), one 2->1 conv without bias."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"spatial attention kernel must be odd to keep the map size, got {kernel_size}")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))


class CBAM(nn.Module):
    """Convolutional Block Attention Module: channel attention, then spatial attention (sequential, as in
    the CBAM paper's best arrangement). Output has the input's shape.

    Parameters: 2*C*(C/r) + C/r + C (channel MLP) + 2*k*k (spatial conv).
    """

    def __init__(self, channels: int, reduction: int = 16, spatial_kernel: int = 7):
        super().__init__()
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention(spatial_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial(self.channel(x))


class SEBlock(nn.Module):
    """Squeeze-and-Excitation (Hu et al., 2018): x * sigma(MLP(avgpool(x))), MLP C -> C/r -> C with biases.

    Parameters: 2*C*(C/r) + C/r + C.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = _hidden_width(channels, reduction)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.sigmoid(self.mlp(x.mean(dim=(2, 3))))
        return x * weights[:, :, None, None]


def make_attention(kind: str, channels: int, reduction: int = 16) -> nn.Module:
    """``"cbam"`` or ``"se"`` attention over ``channels`` feature maps."""
    if kind == "cbam":
        return CBAM(channels, reduction)
    if kind == "se":
        return SEBlock(channels, reduction)
    raise ValueError(f"unknown attention {kind!r}; expected one of {ATTENTION_KINDS}")


class ResidualBlock(nn.Module):
    """Basic residual block (He et al., 2016): conv3x3-BN-ReLU-conv3x3-BN, plus shortcut, then ReLU.

    The shortcut is the identity when input and output shapes agree, otherwise a 1x1 convolution
    (with ``stride``) followed by BatchNorm ("projection shortcut", option B of the ResNet paper).
    ``shortcut=False`` gives the same two convolutions without the skip connection, for ablations
    that remove residual connections but keep the layers.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, bias: bool = False, shortcut: bool = True):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=bias)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=bias)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.use_shortcut = shortcut
        self.projection: nn.Module | None = None
        if shortcut and (stride != 1 or in_channels != out_channels):
            self.projection = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=bias),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.use_shortcut:
            out = out + (x if self.projection is None else self.projection(x))
        return self.relu(out)
