"""nauman2025: "IA-FEN", a residual CNN whose pooled features are concatenated with handcrafted
feature vectors (HoG, facial landmarks, sliding-window HoG) before the fully connected layers.

What the paper says about the network (section "Model Identity-Aware Facial Expression Network"):
residual blocks with shortcut connections "in the ResNet framework", batch normalisation, average
pooling instead of flattening, then fully connected layer(s) that receive the CNN features
concatenated with other feature vectors; classification by "the Fully Connected (FC) layer of the
CNN" for all four combinations (CNN; CNN+HoG; CNN+landmarks+HoG; CNN+sliding-window HoG+landmarks+HoG).
It gives no layer table, no depth, no widths, no kernel sizes and no input size other than the
48x48 FER2013 images. Everything below is therefore our choice (docs/papers/nauman2025.md):

- Trunk: ResNet-18 (He et al., 2016) in its small-image form, because "ResNet framework" with
  basic residual blocks is what the text describes and ResNet-18 is the standard member: a 3x3
  stride-1 stem (64 filters, BN, ReLU) with no max-pool (a 7x7/2 stem plus max-pool would shrink a
  48x48 face to 12x12 before the first block), then four stages of two basic blocks with 64, 128,
  256, 512 filters, strides 1, 2, 2, 2 (48 -> 48 -> 24 -> 12 -> 6), projection shortcuts where the
  shape changes. Convolutions have no bias (BN follows), as in torchvision's ResNet.
  ``widths`` and ``blocks_per_stage`` make the trunk configurable.
- Global average pooling -> 512-d CNN feature vector.
- Handcrafted vector (``feature_dim`` values, 0 = CNN only) goes through a BatchNorm1d (learned
  per-dimension standardisation) before concatenation, because HoG values (0..0.2 after L2-Hys),
  landmark coordinates (pixels) and CNN activations live on very different scales and the paper's
  own related work notes that normalised handcrafted features work better. ``normalize_features``
  switches it off.
- Head ("fully connected layers", plural): Linear(512 + D, 256) -> ReLU -> Dropout(0.5) ->
  Linear(256, num_classes). Width 256 and dropout 0.5 are our choices.

The "identity-aware" part is NOT implementable as described: IA-FEN is said to learn expression
features "simultaneously with learning attributes of the racial identity in a pre-learned identity
network" and to concatenate "racial identity features" before the FC layers. FER2013, the only
dataset used, has no identity or race labels, and the paper names no identity network, no identity
training data and no loss for the identity branch. What we implement is the part its experiments
describe: one CNN trunk whose pooled features are fused with handcrafted vectors. An identity
embedding from some external pre-trained face-recognition network could be fed through the same
``features`` input (it is just another vector), but none of the paper's four combinations uses one.

Interface: ``forward(x, features)`` with x B x C x H x W and features B x feature_dim (float);
with ``feature_dim == 0`` the features argument may be omitted. ``uses_features`` is True exactly
when ``feature_dim > 0`` (the registry's ``model_uses_features`` reads it), so the CNN-only variant
is driven like any image-only model.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ferrepro.models import register_model
from ferrepro.models.blocks import ResidualBlock, conv_bn_relu, global_avg_pool

RESNET18_WIDTHS = (64, 128, 256, 512)
RESNET18_BLOCKS = (2, 2, 2, 2)


class FeatureDimError(ValueError):
    """The handcrafted feature tensor does not match the ``feature_dim`` the model was built with."""


class IAFEN(nn.Module):
    """Residual CNN trunk + global average pooling, fused with a handcrafted vector before the FC head."""

    def __init__(
        self,
        num_classes: int = 7,
        in_channels: int = 1,
        input_size: int = 48,
        feature_dim: int = 0,
        widths: Sequence[int] = RESNET18_WIDTHS,
        blocks_per_stage: Sequence[int] = RESNET18_BLOCKS,
        hidden_units: int = 256,
        dropout: float = 0.5,
        normalize_features: bool = True,
    ):
        super().__init__()
        if feature_dim < 0:
            raise ValueError(f"feature_dim must be >= 0 (0 = CNN only), got {feature_dim}")
        if len(widths) != len(blocks_per_stage) or not widths:
            raise ValueError(
                f"widths {tuple(widths)} and blocks_per_stage {tuple(blocks_per_stage)} "
                "must be non-empty and of equal length"
            )
        min_size = 2 ** (len(widths) - 1)
        if input_size < min_size:
            raise ValueError(
                f"input_size={input_size} is too small for {len(widths)} stages "
                f"(each after the first halves the size); use at least {min_size}"
            )
        self.feature_dim = int(feature_dim)
        self.uses_features = self.feature_dim > 0

        layers: list[nn.Module] = [conv_bn_relu(in_channels, widths[0], 3, stride=1, padding=1, bias=False)]
        channels = widths[0]
        for stage, (width, n_blocks) in enumerate(zip(widths, blocks_per_stage)):
            for block in range(n_blocks):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(ResidualBlock(channels, width, stride=stride, bias=False))
                channels = width
        self.trunk = nn.Sequential(*layers)
        self.cnn_dim = channels

        self.feature_norm = (
            nn.BatchNorm1d(self.feature_dim) if self.uses_features and normalize_features else nn.Identity()
        )
        self.head = nn.Sequential(
            nn.Linear(self.cnn_dim + self.feature_dim, hidden_units),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden_units, num_classes),
        )

    def _check_features(self, x: torch.Tensor, features: torch.Tensor | None) -> torch.Tensor | None:
        if self.feature_dim == 0:
            if features is not None and features.numel() > 0:
                raise FeatureDimError(
                    f"this IA-FEN was built with feature_dim=0 (CNN only) but got features of shape "
                    f"{tuple(features.shape)}; build it with feature_dim={features.shape[-1]} to fuse them"
                )
            return None
        if features is None:
            raise FeatureDimError(
                f"this IA-FEN fuses a {self.feature_dim}-d handcrafted vector: call "
                "model(images, features) with features of shape (batch, "
                f"{self.feature_dim})"
            )
        if features.dim() != 2 or features.shape[1] != self.feature_dim or features.shape[0] != x.shape[0]:
            raise FeatureDimError(
                f"handcrafted features have shape {tuple(features.shape)}, expected ({x.shape[0]}, "
                f"{self.feature_dim}) (batch, feature_dim); the feature extraction settings must match "
                "the feature_dim the model was built with"
            )
        return features.to(dtype=x.dtype)

    def forward(self, x: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        features = self._check_features(x, features)
        fused = global_avg_pool(self.trunk(x))
        if features is not None:
            fused = torch.cat([fused, self.feature_norm(features)], dim=1)
        return self.head(fused)


@register_model("nauman2025.ia_fen")
def nauman_ia_fen(
    num_classes: int = 7, in_channels: int = 1, input_size: int = 48, feature_dim: int = 0, **kwargs
) -> nn.Module:
    """IA-FEN; the paper's four variants differ only in ``feature_dim`` (length of the handcrafted vector)."""
    return IAFEN(num_classes, in_channels, input_size, feature_dim=feature_dim, **kwargs)
