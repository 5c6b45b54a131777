"""One decoder module per native dataset layout.

Each module exposes ``detect(root, layout) -> bool`` (does this folder hold the layout?) and
``decode(ctx) -> Decoded``. The registry (``config/datasets.yaml``) names the decoder of each
layout; ``ferrepro.data.decode.decode_dataset`` picks the layout and runs it. Modules are imported
lazily so that decoding one dataset never imports the others' dependencies.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# decoder name (as used in config/datasets.yaml) -> module
DECODERS: dict[str, str] = {
    "fer2013_csv": "ferrepro.data.decoders.fer2013_csv",
    "image_folders": "ferrepro.data.decoders.image_folders",
    "ferplus": "ferrepro.data.decoders.ferplus",
    "ckplus": "ferrepro.data.decoders.ckplus",
    "jaffe": "ferrepro.data.decoders.jaffe",
    "kdef": "ferrepro.data.decoders.kdef",
    "affectnet": "ferrepro.data.decoders.affectnet",
    "rafdb": "ferrepro.data.decoders.rafdb",
    "ferg": "ferrepro.data.decoders.ferg",
    "utkface": "ferrepro.data.decoders.utkface",
}


def decoder_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(DECODERS[name])
    except KeyError:
        raise ValueError(f"unknown decoder {name!r}; available: {sorted(DECODERS)}") from None
