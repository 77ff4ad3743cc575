"""Machine-level choices (the last model, the device) kept per user and computer, not per scene.

A scene travels between computers; the model cache and the GPU do not. So these two live in the application's
settings (``qt.QSettings`` in Slicer, any object with ``value``/``setValue`` in tests) and seed the parameter pack
wherever the scene has no value of its own.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol

from CMBQuantLib.pipeline.parameters import CMBQuantParameters

DEVICES = ("auto", "cuda", "mps", "cpu")


class SettingsStore(Protocol):
    """The part of ``QSettings`` used here."""

    def value(self, key: str, default: Any = None) -> Any: ...

    def setValue(self, key: str, value: Any) -> None: ...


@dataclass
class MachineSettings:
    store: SettingsStore
    prefix: str = "CMBQuant"

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def defaults(self, base: CMBQuantParameters | None = None) -> CMBQuantParameters:
        """``base`` (panel defaults) with this computer's last model and device; an unknown device reads as auto."""
        base = base or CMBQuantParameters()
        model = self.store.value(self._key("LastModel"), base.model)
        device = self.store.value(self._key("Device"), base.device)
        return replace(base, model=str(model or ""), device=str(device) if device in DEVICES else "auto")

    def remember(self, params: CMBQuantParameters) -> None:
        self.store.setValue(self._key("LastModel"), params.model)
        self.store.setValue(self._key("Device"), params.device)
