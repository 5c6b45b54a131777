"""Registries of named plugins that register themselves: models (``ferrepro.models``) and decoders
(``ferrepro.data.decoders``).

A plugin package holds one module per plugin (a paper's models, a dataset layout's decoder); each module
registers its entries by name when it is imported. The package makes one ``PluginRegistry`` of itself
(``PluginRegistry(__name__, __path__, ...)``), so adding a plugin means adding one module. Looking a name
up imports only the module named by its first dotted part (``majeed2025`` for ``majeed2025.cnn``,
``ferplus`` for ``ferplus``), so one lookup never pays for the other plugins' dependencies; listing every
name imports every module.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from typing import Any


class PluginRegistry:
    """name -> entry of one plugin package; ``entries`` is the plain dict (tests may patch it)."""

    def __init__(
        self, package: str, path: Iterable[str], kind: str, not_plugins: Iterable[str], error: type[Exception]
    ):
        self.package, self.path, self.kind = package, list(path), kind
        self.not_plugins = frozenset(not_plugins)  # helper modules of the package that register nothing
        self.error = error  # raised for an unknown name (KeyError for models, ValueError for decoders)
        self.entries: dict[str, Any] = {}

    def add(self, name: str, entry: Any) -> None:
        known = self.entries.get(name)
        if known is not None and known is not entry and known != entry:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        self.entries[name] = entry

    def names(self) -> list[str]:
        """Every registered name, sorted (imports every plugin module)."""
        self._import_all()
        return sorted(self.entries)

    def get(self, name: str) -> Any:
        """The entry registered as ``name``, importing its own module first (then every module)."""
        if name not in self.entries:
            self._import_owner(name)
        if name not in self.entries:
            self._import_all()
        try:
            return self.entries[name]
        except KeyError:
            raise self.error(f"unknown {self.kind} {name!r}; registered {self.kind}s: {sorted(self.entries)}") from None

    def _import_owner(self, name: str) -> None:
        module = name.split(".", 1)[0]
        if module in self.not_plugins or not module.isidentifier():
            return
        try:
            importlib.import_module(f"{self.package}.{module}")
        except ModuleNotFoundError as err:
            if err.name != f"{self.package}.{module}":
                raise  # the plugin module exists but one of its own imports is missing

    def _import_all(self) -> None:
        for info in pkgutil.iter_modules(self.path):
            if info.name not in self.not_plugins and not info.name.startswith("_"):
                importlib.import_module(f"{self.package}.{info.name}")
