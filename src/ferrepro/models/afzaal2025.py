"""afzaal2025: the baseline CNN of section 4.1, its three ablations (4.2) and the "optimized" CNN (4.4).

Baseline (section 4.1 text and table "4.1.1 Baseline Model Architecture"), 64x64x1 input:

    conv 3x3, 32  -> BN -> ReLU -> max-pool 2x2     64 -> 62 -> 31
    conv 3x3, 64  -> BN -> ReLU -> max-pool 2x2     31 -> 29 -> 14
    conv 3x3, 128 -> BN -> ReLU -> max-pool 2x2     14 -> 12 -> 6     (flatten: 128*6*6 = 4608)
    dense 128 -> ReLU -> dropout 0.5
    dense 7 (softmax in the paper; we return logits, the loss applies it)

Ablations (section 4.2): ``no_batchnorm`` drops the three BatchNorm layers; ``no_dropout`` drops the
dropout layer ("all dropout layers removed"; the baseline has one); ``fewer_layers`` keeps the first
two convolution stages (32, 64) and drops the third (the paper: "Reduced from 3 to 2 Conv Layers";
which one is removed is not said, dropping the deepest one is the natural reading of "fewer layers"
in a widening stack). Note that ``fewer_layers`` has MORE parameters than the baseline
(flatten 64*14*14 = 12544 inputs to the dense layer instead of 4608).

Optimized (table "4.4 Optimized Model Architecture"): conv 64/128/256, each 3x3 -> BN -> ReLU ->
max-pool 2x2 stride 2, flatten, dense 256 -> ReLU -> dropout 0.5, dense 128 -> ReLU -> dropout 0.5,
dense 7. 64 -> 62 -> 31 -> 29 -> 14 -> 12 -> 6, flatten 256*6*6 = 9216.

Choices where the paper is silent (also in docs/papers/afzaal2025.md):

- Padding: none ("valid"). The layer names (Conv2D, MaxPooling2D, Dense, Flatten) are Keras', and
  Keras' default padding is "valid"; the table gives no padding.
- Order conv -> BN -> ReLU -> pool, as the text says ("each followed by Batch Normalization, ReLU
  activation, and Max Pooling"). Convolutions keep their bias (Keras' default use_bias=True).
- Hidden dense layers use ReLU (stated for the optimized CNN, assumed for the baseline); dropout is
  applied after the activation.
- The optimized CNN takes the same 64x64 grayscale input as the baseline (its table gives none).
- L2 regularisation: the paper gives no coefficient and puts it on the convolution layers ("BatchNorm,
  L2 Reg." column). We expose it as ``l2_weight_decay`` (read by the training code as optimizer
  weight decay). Default 2e-3, the weight-decay equivalent of Keras' common ``l2(0.001)``: a loss
  term lambda*||w||^2 has gradient 2*lambda*w, i.e. weight decay 2*lambda. As in Keras
  (``kernel_regularizer`` on the Conv2D layers), it applies to the convolution kernels only
  (``l2_parameters``; the training code puts them in their own parameter group), not to biases,
  BatchNorm or dense layers. The baseline and its ablations have ``l2_weight_decay = 0.0``.

Parameter counts are PyTorch trainable parameters; Keras' summary additionally counts the two
non-trainable BatchNorm statistics per channel (moving mean/variance).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ferrepro.models import register_model
from ferrepro.models.blocks import conv_bn_relu

# Keras l2(0.001) expressed as weight decay (gradient of lambda*||w||^2 is 2*lambda*w).
DEFAULT_OPTIMIZED_L2_WEIGHT_DECAY = 2e-3


def _valid_stage_size(size: int) -> int:
    """Spatial size after an unpadded 3x3 convolution followed by a 2x2/2 max-pool (floor)."""
    return (size - 2) // 2


class AfzaalCNN(nn.Module):
    """A stack of [conv3x3 -> (BN) -> ReLU -> maxpool2x2] stages, flatten, dense layers, output layer.

    Attributes:
        l2_weight_decay: optimizer weight decay standing in for the paper's L2 regularisation.
    """

    def __init__(
        self,
        num_classes: int = 7,
        in_channels: int = 1,
        input_size: int = 64,
        conv_channels: Sequence[int] = (32, 64, 128),
        dense_units: Sequence[int] = (128,),
        batchnorm: bool = True,
        dropout: float = 0.5,
        l2_weight_decay: float = 0.0,
    ):
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        size = input_size
        stages: list[nn.Module] = []
        channels = in_channels
        for out_channels in conv_channels:
            size = _valid_stage_size(size)
            if size < 1:
                raise ValueError(
                    f"input_size={input_size} is too small for {len(conv_channels)} unpadded "
                    f"3x3-conv + 2x2-pool stages; use at least 64 (the paper's size)"
                )
            stages.append(conv_bn_relu(channels, out_channels, 3, padding=0, bias=True, batchnorm=batchnorm))
            stages.append(nn.MaxPool2d(2, 2))
            channels = out_channels
        self.features = nn.Sequential(*stages)
        self.flat_features = channels * size * size

        head: list[nn.Module] = [nn.Flatten()]
        width = self.flat_features
        for units in dense_units:
            head += [nn.Linear(width, units), nn.ReLU(inplace=True)]
            if dropout > 0:
                head.append(nn.Dropout(dropout))
            width = units
        head.append(nn.Linear(width, num_classes))
        self.classifier = nn.Sequential(*head)
        self.l2_weight_decay = float(l2_weight_decay)

    def l2_parameters(self) -> list[nn.Parameter]:
        """The parameters the paper's L2 penalty is on: the convolution kernels (not their biases)."""
        return [m.weight for m in self.features.modules() if isinstance(m, nn.Conv2d)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@register_model("afzaal2025.baseline")
def afzaal_baseline(num_classes: int = 7, in_channels: int = 1, input_size: int = 64, **kwargs) -> nn.Module:
    """Section 4.1: conv 32/64/128 with BN, dense 128, dropout 0.5."""
    return AfzaalCNN(num_classes, in_channels, input_size, **kwargs)


@register_model("afzaal2025.no_batchnorm")
def afzaal_no_batchnorm(num_classes: int = 7, in_channels: int = 1, input_size: int = 64, **kwargs) -> nn.Module:
    """Section 4.2 "Model without BatchNorm": the baseline without its BatchNorm layers."""
    return AfzaalCNN(num_classes, in_channels, input_size, batchnorm=False, **kwargs)


@register_model("afzaal2025.no_dropout")
def afzaal_no_dropout(num_classes: int = 7, in_channels: int = 1, input_size: int = 64, **kwargs) -> nn.Module:
    """Section 4.2 "Model without Dropout": the baseline without dropout."""
    return AfzaalCNN(num_classes, in_channels, input_size, dropout=0.0, **kwargs)


@register_model("afzaal2025.fewer_layers")
def afzaal_fewer_layers(num_classes: int = 7, in_channels: int = 1, input_size: int = 64, **kwargs) -> nn.Module:
    """Section 4.2 "Model with Fewer Layers": two convolution stages (32, 64) instead of three."""
    return AfzaalCNN(num_classes, in_channels, input_size, conv_channels=(32, 64), **kwargs)


@register_model("afzaal2025.optimized")
def afzaal_optimized(
    num_classes: int = 7,
    in_channels: int = 1,
    input_size: int = 64,
    l2_weight_decay: float = DEFAULT_OPTIMIZED_L2_WEIGHT_DECAY,
    **kwargs,
) -> nn.Module:
    """Section 4.4: conv 64/128/256 with BN and L2, dense 256 and 128 each with dropout 0.5."""
    return AfzaalCNN(
        num_classes,
        in_channels,
        input_size,
        conv_channels=(64, 128, 256),
        dense_units=(256, 128),
        l2_weight_decay=l2_weight_decay,
        **kwargs,
    )
