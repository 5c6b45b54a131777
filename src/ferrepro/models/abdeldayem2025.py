"""abdeldayem2025: DCRNet = DenseNet121 backbone + conv blocks with CBAM + residual modules + dense head.

Architecture as described in section 3 ("Experimental Details") and section 2, for a 224x224x3 input:

    DenseNet121 features (ImageNet-pretrained, no top), then ReLU      -> 1024 @ 7x7
    conv 256 -> BN -> ReLU -> Dropout(0.3) -> CBAM                      -> 256 @ 7x7
    conv 512 -> BN -> ReLU -> MaxPool 2x2 -> Dropout(0.4) -> CBAM       -> 512 @ 3x3
    residual module 1: 3 residual blocks, 32 filters                    -> 32 @ 3x3
    residual module 2: 3 residual blocks, 64 filters                    -> 64 @ 3x3
    CBAM ("again following the accumulation of residual blocks")
    global average pooling                                              -> 64
    dense 512 -> ReLU -> Dropout(0.4); dense 256 -> ...; dense 128 -> ... (L2 on each)
    dense 7 (softmax in the paper; we return logits)

Choices where the paper is silent (docs/papers/abdeldayem2025.md has the rationale):

- The ReLU after the DenseNet features: Keras' DenseNet121(include_top=False), which the paper's
  TensorFlow model used, ends with BN + ReLU; torchvision's ``features`` stop at the BN and apply
  the ReLU in ``forward``, so we add it.
- Kernel size 3x3, "same" padding and a bias for both conv blocks (Keras defaults besides the
  kernel size, which is not given); MaxPool 2x2 stride 2 unpadded (Keras default), so the input must
  be at least 64x64 (a 48x48 input, listed among the tried sizes in Table 2, leaves a 1x1 map that
  the pooling cannot halve; we raise a clear error).
- Residual block: the basic block of ``blocks.ResidualBlock`` (conv3x3-BN-ReLU-conv3x3-BN + shortcut,
  ReLU), stride 1, 1x1-conv+BN projection on the first block of each module (512->32, 32->64),
  convolution biases kept (Keras default). Fig. 5 is not in the text we have.
- CBAM: reduction ratio 16 and a 7x7 spatial kernel (the CBAM paper's defaults); SE also r=16.
- Dense layers use ReLU; dropout after each activation.
- L2: Table 2 gives "L2 Regularization 0.001" for all datasets and, for the PyTorch runs (CK+, KDEF),
  "weight_decay = 0.001"; we expose ``l2_weight_decay = 1e-3`` (the training code applies it as the
  optimizer's weight decay). For the Keras AffectNet run, kernel_regularizer l2(0.001) on the dense
  layers would correspond to weight decay 2e-3 on those layers only; we use the PyTorch number.
- Channel adaptation: ``in_channels != 3`` replaces DenseNet's first convolution; with pretrained
  weights its kernel is initialised from the RGB kernel averaged over colour channels and scaled by
  3 / in_channels (the usual timm rule; for one channel it is the sum of the RGB kernels).

Ablation switches (Table 8 and the SE sentence of section 3). Gamma correction and landmarks are
preprocessing, not part of the model:

- ``use_cbam``: the three attention modules (of kind ``attention``) on/off.
- ``attention``: ``"cbam"`` (paper) or ``"se"`` ("replacing CBAM with the Squeeze-and-Excitation
  block": 65.43% vs 65.80% on AffectNet).
- ``use_residual``: the two residual modules on/off. Without them the third attention module, which
  follows the residual blocks, is dropped too, and global pooling acts on the 512-channel map.
- ``residual_skip``: keep the residual modules' convolutions but remove their skip connections
  (the other reading of "+ Residual Connections").
- ``use_conv_blocks``: the two conv blocks (with their attention) on/off, for the literal reading of
  "DenseNet121 (Backbone) only" as backbone + pooling + dense head.

Parameter count (7 classes, RGB, all flags default): 11,152,897 trainable parameters
(DenseNet121 features 6,953,856; conv blocks 3,539,712 + BN 1,536; CBAMs 42,650; residual modules
416,736; dense head 198,407). Keras, which the authors used, also counts BatchNorm moving statistics:
+83,648 (DenseNet121) +2,880 (ours: 1,440 channels x mean and variance) = 11,239,425 "total params".
The paper claims 11.6M; we are 0.45M (3.9%) below it,
a gap that the unstated kernel sizes/residual-block layout would explain.
tests/test_models_papers.py derives these numbers by hand.
"""

from __future__ import annotations

import os
import re
import warnings

import torch
import torchvision
from torch import nn

from ferrepro.models import register_model, weights
from ferrepro.models.blocks import ATTENTION_KINDS, ResidualBlock, global_avg_pool, make_attention
from ferrepro.models.checkpoint import read_weights_file

BACKBONE_CHANNELS = 1024
IMAGENET_CHANNELS = 3
# Keys of torchvision's published checkpoint use the pre-1.0 names "norm.1", "conv.2", ...
_OLD_DENSELAYER_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\."
    r"((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$"
)


def imagenet_cache_path() -> str:
    """Where torchvision keeps (or would download) its ImageNet DenseNet121 checkpoint
    (``torch.hub.get_dir()/checkpoints/densenet121-a639ec97.pth``; ferrepro.models.weights)."""
    return str(weights.densenet121_imagenet().path())


def _features_state_dict(path: str) -> dict[str, torch.Tensor]:
    """Read a DenseNet121 checkpoint (torchvision's published file or a saved state_dict) and return
    the state dict of its ``features`` part with current key names."""
    state = read_weights_file(path)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a DenseNet121 state dict, got {type(state).__name__}")
    features: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        match = _OLD_DENSELAYER_KEY.match(key)
        if match:
            key = match.group(1) + match.group(2)
        if key.startswith("features."):
            features[key[len("features.") :]] = value
    if not features:
        raise ValueError(
            f"{path}: no 'features.*' keys; is this a torchvision DenseNet121 checkpoint? "
            f"(first keys: {list(state)[:3]})"
        )
    return features


def resolve_pretrained_weights(pretrained_weights: str | None, allow_random_fallback: bool = False) -> str | None:
    """Map the ``pretrained_weights`` option to a checkpoint path, or None for random initialisation.

    ``None`` -> random. ``"imagenet"`` -> torchvision's file in the torch hub cache
    (``imagenet_cache_path()``); nothing is downloaded, and the file's sha256 must start with the hex in
    its name (torch.hub's check_hash convention; ``ferrepro weights check``). Any other string is a file
    path. A requested checkpoint that does not exist (or, for ``"imagenet"``, fails that check) raises,
    unless ``allow_random_fallback`` is set, in which case a warning is issued and the backbone is randomly
    initialised (recorded in ``weights_source``), so that a run never silently claims ImageNet initialisation.
    """
    if pretrained_weights is None:
        return None
    error: type[Exception] = FileNotFoundError
    details = ""
    if pretrained_weights == "imagenet":
        expected = weights.densenet121_imagenet()
        check = weights.check_file(expected)
        if check.ok:
            return str(check.path)
        if check.sha256 is not None:
            error = ValueError  # a file is there, but not the published one
        message = (
            f"DenseNet121 ImageNet weights: {check.problem}. Put torchvision's densenet121 checkpoint there, "
            "pass its path as pretrained_weights, or set pretrained_weights: null for a randomly initialised "
            "backbone"
        )
        details = "\n" + weights.instructions(expected, check.path)
    else:
        path = os.path.expanduser(pretrained_weights)
        if os.path.isfile(path):
            return path
        message = (
            f"DenseNet121 weights not found at {path}. Put a DenseNet121 checkpoint (torchvision's: "
            f"{weights.densenet121_imagenet().url}) there, or set pretrained_weights: null for a randomly "
            "initialised backbone"
        )
    if allow_random_fallback:
        warnings.warn(message + "; falling back to random initialisation" + details, stacklevel=3)
        return None
    raise error(message + details)


def densenet121_features(in_channels: int = 3, weights_path: str | None = None) -> nn.Sequential:
    """torchvision DenseNet121 ``features`` (no classifier), optionally loaded from ``weights_path``,
    with the first convolution adapted to ``in_channels``."""
    features = torchvision.models.densenet121(weights=None).features
    if weights_path is not None:
        features.load_state_dict(_features_state_dict(weights_path), strict=True)
    if in_channels != IMAGENET_CHANNELS:
        old = features.conv0
        new = nn.Conv2d(
            in_channels, old.out_channels, old.kernel_size, stride=old.stride, padding=old.padding, bias=False
        )
        if weights_path is not None:
            with torch.no_grad():
                mean_kernel = old.weight.mean(dim=1, keepdim=True)
                new.weight.copy_(mean_kernel.repeat(1, in_channels, 1, 1) * (IMAGENET_CHANNELS / in_channels))
        features.conv0 = new
    return features


def densenet121_output_size(input_size: int) -> int:
    """Spatial size of DenseNet121's feature map: conv 7x7/2 pad 3, max-pool 3x3/2 pad 1, 3 avg-pools /2."""
    size = (input_size + 2 * 3 - 7) // 2 + 1
    size = (size + 2 * 1 - 3) // 2 + 1
    for _ in range(3):
        size //= 2
    return size


class DCRNet(nn.Module):
    """DenseNet121 + conv blocks with attention + residual modules + attention + GAP + dense head.

    Attributes:
        weights_source: ``"imagenet:<path>"`` or ``"random"`` (how the backbone was initialised).
        l2_weight_decay: optimizer weight decay standing in for the paper's L2 regularisation.
    """

    def __init__(
        self,
        num_classes: int = 7,
        in_channels: int = 3,
        input_size: int = 224,
        pretrained_weights: str | None = None,
        allow_random_fallback: bool = False,
        use_cbam: bool = True,
        use_residual: bool = True,
        attention: str = "cbam",
        residual_skip: bool = True,
        use_conv_blocks: bool = True,
        attention_reduction: int = 16,
        conv_dropout: tuple[float, float] = (0.3, 0.4),
        residual_widths: tuple[int, int] = (32, 64),
        blocks_per_module: int = 3,
        dense_units: tuple[int, ...] = (512, 256, 128),
        dense_dropout: float = 0.4,
        l2_weight_decay: float = 1e-3,
    ):
        super().__init__()
        if attention not in ATTENTION_KINDS:
            raise ValueError(f"attention must be one of {ATTENTION_KINDS}, got {attention!r}")
        backbone_size = densenet121_output_size(input_size)
        min_size = 64 if use_conv_blocks else 32
        if backbone_size < 1 or (use_conv_blocks and backbone_size // 2 < 1):
            raise ValueError(
                f"input_size={input_size} is too small for DCRNet: DenseNet121 divides it by 32 "
                f"and the conv block's 2x2 max-pool halves it again; use at least {min_size} "
                "(the paper uses 224)"
            )

        weights_path = resolve_pretrained_weights(pretrained_weights, allow_random_fallback)
        self.weights_source = "random" if weights_path is None else f"imagenet:{weights_path}"
        # A framework init scheme (ferrepro.models.init) must not overwrite the ImageNet weights.
        self.pretrained_prefixes = () if weights_path is None else ("backbone.",)
        self.backbone = densenet121_features(in_channels, weights_path)
        self.backbone_relu = nn.ReLU(inplace=True)
        self.l2_weight_decay = float(l2_weight_decay)
        self.flags = {
            "use_cbam": use_cbam,
            "use_residual": use_residual,
            "attention": attention,
            "residual_skip": residual_skip,
            "use_conv_blocks": use_conv_blocks,
        }

        def attend(channels: int) -> nn.Module:
            return make_attention(attention, channels, attention_reduction) if use_cbam else nn.Identity()

        channels = BACKBONE_CHANNELS
        blocks: list[nn.Module] = []
        if use_conv_blocks:
            blocks += [
                nn.Conv2d(channels, 256, 3, padding=1, bias=True),
                nn.BatchNorm2d(256),
                nn.ReLU(inplace=True),
                nn.Dropout(conv_dropout[0]),
                attend(256),
                nn.Conv2d(256, 512, 3, padding=1, bias=True),
                nn.BatchNorm2d(512),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, 2),
                nn.Dropout(conv_dropout[1]),
                attend(512),
            ]
            channels = 512
        self.conv_blocks = nn.Sequential(*blocks)

        residual: list[nn.Module] = []
        if use_residual:
            for width in residual_widths:
                for _ in range(blocks_per_module):
                    residual.append(ResidualBlock(channels, width, bias=True, shortcut=residual_skip))
                    channels = width
            residual.append(attend(channels))
        self.residual = nn.Sequential(*residual)

        head: list[nn.Module] = []
        for units in dense_units:
            head += [nn.Linear(channels, units), nn.ReLU(inplace=True), nn.Dropout(dense_dropout)]
            channels = units
        head.append(nn.Linear(channels, num_classes))
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.backbone_relu(self.backbone(x))
        x = self.residual(self.conv_blocks(x))
        return self.head(global_avg_pool(x))


@register_model("abdeldayem2025.dcrnet")
def abdeldayem_dcrnet(num_classes: int = 7, in_channels: int = 3, input_size: int = 224, **kwargs) -> nn.Module:
    """DCRNet; Table 8 rows and the SE variant are flag settings (see the module docstring)."""
    return DCRNet(num_classes, in_channels, input_size, **kwargs)
