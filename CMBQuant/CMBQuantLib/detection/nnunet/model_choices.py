"""The model list a panel offers: the shipped demo model first (always there), then each imported model.

A model that fails validation stays listed with the reason, so the reader sees why it cannot be chosen for a run
instead of it silently vanishing.
"""
from __future__ import annotations

from pathlib import Path

from CMBQuantLib.detection.nnunet.model_store import DEMO_MODEL_NAME, list_models

DEMO_LABEL = "CMBQuant demo model (synthetic, not clinical)"


def model_choices(home: Path | None = None) -> list[tuple[str, str]]:
    """(label, model name) pairs; the demo model's name is "" (the run's default model)."""
    choices = [(DEMO_LABEL, "")]
    for info in list_models(home):
        if info.name != DEMO_MODEL_NAME:
            choices.append((info.name if not info.problem else f"{info.name} (invalid: {info.problem})", info.name))
    return choices
