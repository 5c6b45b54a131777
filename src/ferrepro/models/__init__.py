"""Model registry: one module per paper registers its factories by name.

A paper module decorates factories with ``@register_model("<paper>.<model>")``; configs refer to
models by that name. Every factory accepts ``num_classes``, ``in_channels`` and ``input_size``
keyword arguments and returns a plain ``nn.Module`` producing logits. Paper modules are
discovered automatically, so adding a paper means adding one module here and one config file.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

MODEL_REGISTRY: dict[str, Callable] = {}
_SKIP_MODULES = {"blocks", "init", "weights"}


def register_model(name: str) -> Callable[[Callable], Callable]:
    def decorate(factory: Callable) -> Callable:
        if name in MODEL_REGISTRY and MODEL_REGISTRY[name] is not factory:
            raise ValueError(f"model {name!r} registered twice")
        MODEL_REGISTRY[name] = factory
        return factory

    return decorate


def _discover() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name not in _SKIP_MODULES and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


def available_models() -> list[str]:
    _discover()
    return sorted(MODEL_REGISTRY)


def _import_owner(name: str) -> None:
    """Import only the module that registers ``<paper>.<model>`` (cheap: e.g. torchvision is needed
    by abdeldayem2025 alone); fall back to importing every module when that does not register it."""
    module = name.split(".", 1)[0]
    if name not in MODEL_REGISTRY and module not in _SKIP_MODULES and module.isidentifier():
        try:
            importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{module}":
                raise
    if name not in MODEL_REGISTRY:
        _discover()


def build_model(name: str, **kwargs):
    _import_owner(name)
    if name not in MODEL_REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered models: {sorted(MODEL_REGISTRY)}")
    return MODEL_REGISTRY[name](**kwargs)


def model_uses_features(model) -> bool:
    """Feature-fusion models (nauman2025) declare ``uses_features = True`` and take forward(x, features)."""
    return bool(getattr(model, "uses_features", False))
