"""gilanie2025: the "17-layer" CNN of its Table 1 (section 2.3).

The table as printed (extraction garbled by the journal's watermark), and our reading of each row.
Spatial sizes are for the paper's 512x512 input with unpadded convolutions/pooling:

    Layer-1   Convolution 5x5, stride 2, 64 filters     -> conv 5x5/2, 64         512 -> 254
    Layer-2   Normalization                             -> BatchNorm2d(64)
    Layer-3   ReLU                                      -> ReLU
    Layer-4   Convolution "105x5ucation & Resear", stride 2, 128 filters
              ("10" and "ucation & Resear" are the watermark "...for Excellence in Education &
              Research" run into the cell; the filter size is 5x5)
                                                        -> conv 5x5/2, 128        254 -> 125
    Layer-5   Normalization                             -> BatchNorm2d(128)
    Layer-6   ReLU                                      -> ReLU
    Layer-7   Average Pooling 5x5, stride 2, "128"      -> avg-pool 5x5/2 (a pooling layer has no
                                                           filters; 128 is the channel count)  125 -> 61
    Layer-8   Convolution 5x5, stride 2, 128 filters    -> conv 5x5/2, 128        61 -> 29
    Layer-9   Normalization                             -> BatchNorm2d(128)
    Layer-10  ReLU                                      -> ReLU
    Layer-11  Convolution 5x5, stride 2, 64 filters     -> conv 5x5/2, 64         29 -> 13
    Layer-12  Normalization ("1 1 -")                   -> BatchNorm2d(64)
    Layer-13  ReLU ("1 1 -")                            -> ReLU
    Layer-14  Normalization ("1 1 -")                   -> read as the FULLY CONNECTED layer:
              flatten 64*13*13 = 10816 -> num_classes. The table has no classifier layer at all,
              the text (section 2.3, item 6) says the model has a fully connected layer, and a
              normalisation layer right after BN+ReLU would be redundant.
    Layer-15  ReLU                                      -> not applied. Directly before the softmax
              it would clip every negative class score to 0; we read it as a table error. (If it
              stood for a hidden FC+ReLU, the table would still lack the output layer.)
    Layer-16  Softmax                                   -> folded into the loss (we return logits)
    Layer-17  Normalization                             -> read as the classification (loss) output
              layer of MATLAB-style layer lists (imageInput ... fullyConnected, softmax,
              classification); it has no parameters.

Other choices (docs/papers/gilanie2025.md): "Normalization Layer" is batch normalisation (the brief
and the MATLAB naming both point there; cross-channel LRN is the other MATLAB normalisation layer
and would add no parameters); no padding anywhere (MATLAB's and Keras' default); convolutions keep
their bias; input channels 1 (intensity, or one of R/G/B), 3 (RGB) or 4 (intensity+R+G+B, "IRGB");
``num_classes`` 2, 6 or 7 for the paper's experiments. Input size defaults to the paper's 512x512;
other sizes change only the FC layer's input width.
"""

from __future__ import annotations

import torch
from torch import nn

from ferrepro.models import register_model
from ferrepro.models.blocks import conv_bn_relu

KERNEL = 5
STRIDE = 2


def _after_5x5_stride2(size: int) -> int:
    return (size - KERNEL) // STRIDE + 1


class Gilanie17(nn.Module):
    """conv-BN-ReLU x2, avg-pool, conv-BN-ReLU x2 (all 5x5 stride 2, unpadded), flatten, FC."""

    def __init__(self, num_classes: int = 7, in_channels: int = 1, input_size: int = 512):
        super().__init__()
        size = input_size
        for _ in range(5):  # four convolutions and the pooling layer, all 5x5 stride 2
            size = _after_5x5_stride2(size)
            if size < 1:
                raise ValueError(
                    f"input_size={input_size} is too small for five unpadded 5x5 stride-2 "
                    "layers; use at least 125 (the paper uses 512)"
                )
        self.features = nn.Sequential(
            conv_bn_relu(in_channels, 64, KERNEL, stride=STRIDE, padding=0, bias=True),  # layers 1-3
            conv_bn_relu(64, 128, KERNEL, stride=STRIDE, padding=0, bias=True),  # layers 4-6
            nn.AvgPool2d(KERNEL, stride=STRIDE),  # layer 7
            conv_bn_relu(128, 128, KERNEL, stride=STRIDE, padding=0, bias=True),  # layers 8-10
            conv_bn_relu(128, 64, KERNEL, stride=STRIDE, padding=0, bias=True),  # layers 11-13
        )
        self.final_size = size
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * size * size, num_classes))  # layer 14

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@register_model("gilanie2025.cnn17")
def gilanie_cnn17(num_classes: int = 7, in_channels: int = 1, input_size: int = 512, **kwargs) -> nn.Module:
    """The 17-layer CNN of Table 1 (see the module docstring for our layer-by-layer reading)."""
    return Gilanie17(num_classes, in_channels, input_size, **kwargs)
