"""Framework-faithful weight initialisation (the ``init`` run setting).

PyTorch, Keras and MATLAB start the same layer from different weights. A paper trained in Keras or
MATLAB was tuned from *their* defaults, and a reproduction that silently uses PyTorch's can train
differently: on majeed2025's CNN the relative gradient reaching the 1x1 first convolution is about 73x
smaller with PyTorch's default than with Glorot, which lengthens the majority-class plateau.

Schemes:

- ``torch_default``: leave every layer as PyTorch built it (Kaiming-uniform with a=sqrt(5), uniform
  biases; BatchNorm momentum 0.1, eps 1e-5).
- ``keras_glorot``: Keras' layer defaults. Conv and Dense kernels Glorot-uniform
  (``kernel_initializer="glorot_uniform"``), biases zero, BatchNorm gamma 1 / beta 0 with Keras'
  ``momentum=0.99, epsilon=1e-3`` (PyTorch momentum 0.01: PyTorch weighs the new batch, Keras the
  running value).
- ``matlab_glorot``: MATLAB's ``convolution2dLayer``/``fullyConnectedLayer`` defaults
  (``WeightsInitializer="glorot"``, ``BiasInitializer="zeros"``); ``batchNormalizationLayer``'s
  defaults (epsilon 1e-5, mean/variance decay 0.1) equal PyTorch's, so BatchNorm is left as built.

Modules a model loaded from pretrained weights are never touched: a model lists their name prefixes
in ``pretrained_prefixes`` (e.g. DCRNet's ImageNet backbone).
"""

from __future__ import annotations

from torch import nn

INIT_SCHEMES = ("torch_default", "keras_glorot", "matlab_glorot")
_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
# Keras BatchNormalization(momentum=0.99, epsilon=1e-3), in PyTorch's terms.
KERAS_BN_MOMENTUM = 0.01
KERAS_BN_EPS = 1e-3


def apply_init(model: nn.Module, scheme: str) -> nn.Module:
    """Re-initialise ``model`` in place with ``scheme`` (see the module docstring) and return it."""
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; use one of {list(INIT_SCHEMES)}")
    if scheme == "torch_default":
        return model
    skip = tuple(getattr(model, "pretrained_prefixes", ()))
    for name, module in model.named_modules():
        if skip and name.startswith(skip):
            continue
        if isinstance(module, _WEIGHTED):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, _NORMS) and scheme == "keras_glorot":
            module.momentum = KERAS_BN_MOMENTUM
            module.eps = KERAS_BN_EPS
            if module.affine:
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
    return model
