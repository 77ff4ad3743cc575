"""The model list a panel offers: the shipped demo model first (always there), then each imported model (a model
version with its parent: ``model_versions``).

A model that fails validation stays listed with the reason, so the reader sees why it cannot be chosen for a run
instead of it silently vanishing.
"""
from __future__ import annotations

from pathlib import Path

from CMBQuantLib.detection.nnunet.model_store import DEMO_MODEL_NAME, ModelError, list_models, models_dir
from CMBQuantLib.detection.nnunet.model_versions import read_version

DEMO_LABEL = "CMBQuant demo model (synthetic, not clinical)"


def model_choices(home: Path | None = None) -> list[tuple[str, str]]:
    """(label, model name) pairs; the demo model's name is "" (the run's default model)."""
    choices = [(DEMO_LABEL, "")]
    for info in list_models(home):
        if info.name != DEMO_MODEL_NAME:
            choices.append((_version_label(models_dir(home) / info.name, info.name) if not info.problem
                            else f"{info.name} (invalid: {info.problem})", info.name))
    return choices


def _version_label(entry: Path, name: str) -> str:
    """A model version shows its parent (``name (from parent, N reviewed cases)``); a root model its name."""
    try:
        return read_version(entry).label()
    except ModelError as exc:
        return f"{name} (version record unreadable: {exc})"
