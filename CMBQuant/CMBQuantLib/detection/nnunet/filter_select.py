"""Which CMB filter a run uses: ``--filter auto|none|demo|PATH`` and ``--filter-threshold``.

``auto`` (default): the model folder's own ``cmb_filter/`` when it has one, else none, so a user's plain nnU-Net
model runs exactly as the seed study's one-stage nnU-Net. ``demo`` opts in to the shipped demo filter with any model.
"""
from __future__ import annotations

from pathlib import Path

from CMBQuantLib.detection.cmb_filter import CMBFilter, FilterError, has_filter, load_filter
from CMBQuantLib.detection.nnunet.model_store import ensure_demo_model, validate_model

FILTER_CHOICES = ("auto", "none", "demo")


def demo_filter_folder() -> Path:
    folder = validate_model(ensure_demo_model()).folder
    if not has_filter(folder):
        raise FilterError(f"{folder}: the shipped demo model has no cmb_filter/ folder. Reinstall CMBQuant.")
    return folder


def select_filter(choice: str | None, model_folder: str | Path | None, threshold: float | None = None) -> CMBFilter | None:
    """The filter for ``choice`` (None means ``auto``); raises :class:`FilterError` naming the file and the fix."""
    choice = choice or "auto"
    if choice == "none":
        return None
    if choice == "auto":
        if model_folder is None or not has_filter(model_folder):
            return None
        return load_filter(model_folder, threshold)
    if choice == "demo":
        return load_filter(demo_filter_folder(), threshold)
    path = Path(choice).expanduser()
    if not path.exists():
        raise FilterError(f"{path}: no such CMB filter folder. Pass --filter auto, none, demo or a folder holding "
                          f"filter.json and model.txt.")
    return load_filter(path, threshold)
