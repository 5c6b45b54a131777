"""Model registry: one module per paper registers its factories by name.

A paper module decorates factories with ``@register_model("<paper>.<model>")``; configs refer to
models by that name. Every factory accepts ``num_classes``, ``in_channels`` and ``input_size``
keyword arguments and returns a plain ``nn.Module`` producing logits. Paper modules are
discovered automatically, so adding a paper means adding one module here and one config file.
"""

from __future__ import annotations

from collections.abc import Callable

from ferrepro.plugins import PluginRegistry

# Modules of this package that are helpers, not papers (checkpoint: the model.pt format).
MODELS = PluginRegistry(__name__, __path__, "model", {"blocks", "checkpoint", "init", "weights"}, KeyError)


def register_model(name: str) -> Callable[[Callable], Callable]:
    def decorate(factory: Callable) -> Callable:
        MODELS.add(name, factory)
        return factory

    return decorate


def available_models() -> list[str]:
    return MODELS.names()


def build_model(name: str, **kwargs):
    return MODELS.get(name)(**kwargs)


def model_uses_features(model) -> bool:
    """Feature-fusion models (nauman2025) declare ``uses_features = True`` and take forward(x, features)."""
    return bool(getattr(model, "uses_features", False))
