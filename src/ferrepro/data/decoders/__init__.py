"""Decoder registry: one module per native dataset layout registers its decoder by name.

A decoder module decorates its ``decode(ctx) -> Decoded`` with ``@register_decoder("<name>",
detect=detect)``, where ``detect(root, layout) -> bool`` says whether a folder holds the layout; the
registry (``config/datasets.yaml``) names the decoder of each layout, and
``ferrepro.data.decode.decode_dataset`` picks the layout and runs it. Modules are found by
themselves (as models are, ``ferrepro.models``): adding a layout means adding one module. Looking a
decoder up imports only the module of that name first, so decoding one dataset never imports the
others' dependencies.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

_NOT_DECODERS = {"common"}


@dataclass(frozen=True)
class Decoder:
    name: str
    detect: Callable
    decode: Callable


DECODER_REGISTRY: dict[str, Decoder] = {}


def register_decoder(name: str, *, detect: Callable) -> Callable[[Callable], Callable]:
    def decorate(decode: Callable) -> Callable:
        known = DECODER_REGISTRY.get(name)
        if known is not None and known.decode is not decode:
            raise ValueError(f"decoder {name!r} registered twice")
        DECODER_REGISTRY[name] = Decoder(name, detect, decode)
        return decode

    return decorate


def _discover() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name not in _NOT_DECODERS and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


def available_decoders() -> list[str]:
    _discover()
    return sorted(DECODER_REGISTRY)


def decoder_module(name: str) -> Decoder:
    """The decoder registered as ``name`` (its module is imported on first use)."""
    if name not in DECODER_REGISTRY and name.isidentifier() and name not in _NOT_DECODERS:
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{name}":
                raise
    if name not in DECODER_REGISTRY:
        _discover()
    try:
        return DECODER_REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown decoder {name!r}; available: {sorted(DECODER_REGISTRY)}") from None
