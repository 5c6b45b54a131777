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

from collections.abc import Callable
from dataclasses import dataclass

from ferrepro.plugins import PluginRegistry


@dataclass(frozen=True)
class Decoder:
    name: str
    detect: Callable
    decode: Callable


DECODERS = PluginRegistry(__name__, __path__, "decoder", {"common"}, ValueError)


def register_decoder(name: str, *, detect: Callable) -> Callable[[Callable], Callable]:
    def decorate(decode: Callable) -> Callable:
        DECODERS.add(name, Decoder(name, detect, decode))
        return decode

    return decorate


def available_decoders() -> list[str]:
    return DECODERS.names()


def decoder_module(name: str) -> Decoder:
    """The decoder registered as ``name`` (its module is imported on first use)."""
    return DECODERS.get(name)
