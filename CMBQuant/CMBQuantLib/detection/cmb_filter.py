"""The CMB filter: a LightGBM model over ``features.FEATURE_NAMES`` giving each candidate ``p_cmb``.

It lives in a model folder beside the nnU-Net results (``<trainer folder>/cmb_filter/``): ``filter.json`` (format,
version, feature list, threshold, screening settings, metrics, the model file's sha256) and ``model.txt``
(LightGBM's text format: parsed, never executed, so a shared filter cannot run code, unlike a pickle).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from CMBQuantLib.core.atomic import atomic_write_json, atomic_write_text, sha256_file
from CMBQuantLib.detection.features import FEATURE_NAMES
from CMBQuantLib.detection.screening import ScreenSettings
from CMBQuantLib.detection.seed_features import SEED_FEATURE_NAMES

FILTER_DIR = "cmb_filter"
FILTER_JSON = "filter.json"
FORMAT = "cmbquant-cmb-filter"
FORMAT_VERSION = 1


class FilterError(ValueError):
    """A CMB filter that cannot be used; the message names the file, what is wrong and the fix."""


@dataclass
class FilterSpec:
    """``filter.json``: what the filter needs and how it was made."""

    name: str
    threshold: float
    features: list[str] = field(default_factory=lambda: list(FEATURE_NAMES))
    model_file: str = "model.txt"
    model_sha256: str = ""
    prescreen_file: str = ""  # optional LightGBM text model over SEED_FEATURE_NAMES ranking raw seeds
    prescreen_sha256: str = ""
    prescreen_features: list[str] = field(default_factory=lambda: list(SEED_FEATURE_NAMES))
    screen: dict[str, Any] = field(default_factory=dict)  # ScreenSettings fields
    nnunet_screen_threshold: float = 0.3
    format: str = FORMAT
    version: int = FORMAT_VERSION
    created: str = ""
    parent: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)


@dataclass
class CMBFilter:
    """A loaded filter: ``predict(X)`` gives p_cmb per row of a feature matrix in ``FEATURE_NAMES`` order."""

    spec: FilterSpec
    booster: Any
    folder: Path | None = None
    prescreen: Any = None  # ranks raw seeds before blobs (None: by response)

    @property
    def threshold(self) -> float:
        return float(self.spec.threshold)

    @property
    def screen_settings(self) -> ScreenSettings:
        known = {k: (tuple(v) if isinstance(v, list) else v) for k, v in self.spec.screen.items()
                 if k in ScreenSettings.__dataclass_fields__}
        return ScreenSettings(**known)

    def predict(self, features: np.ndarray) -> np.ndarray:
        if len(features) == 0:
            return np.zeros(0, np.float64)
        return np.asarray(self.booster.predict(np.asarray(features, np.float64)), np.float64)

    def info(self) -> dict[str, Any]:
        """What case.json records: which filter, which version, at which threshold."""
        return {"name": self.spec.name, "version": self.spec.version, "sha256": self.spec.model_sha256,
                "threshold": self.threshold, "created": self.spec.created, "folder": str(self.folder or "")}


def filter_folder(model_folder: str | Path) -> Path:
    return Path(model_folder) / FILTER_DIR


def has_filter(model_folder: str | Path) -> bool:
    return filter_folder(model_folder).is_dir()


def load_filter(folder: str | Path, threshold: float | None = None) -> CMBFilter:
    """Validate and load ``folder`` (a ``cmb_filter`` folder, or a model folder holding one)."""
    folder = Path(folder)
    if (folder / FILTER_DIR).is_dir():
        folder = folder / FILTER_DIR
    spec = read_spec(folder)
    booster = _checked_booster(folder / spec.model_file, spec.model_sha256, len(spec.features))
    prescreen = None
    if spec.prescreen_file:
        prescreen = _checked_booster(folder / spec.prescreen_file, spec.prescreen_sha256, len(spec.prescreen_features))
    if threshold is not None:
        if not 0.0 <= threshold <= 1.0:
            raise FilterError(f"--filter-threshold must lie in [0, 1], got {threshold}.")
        spec.threshold = float(threshold)
    return CMBFilter(spec, booster, folder, prescreen)


def _checked_booster(model_path: Path, sha256: str, n_features: int) -> Any:
    """A LightGBM text model that exists, matches its recorded sha256 and takes ``n_features`` inputs."""
    if not model_path.is_file():
        raise FilterError(f"{model_path}: the CMB filter's model file is missing. Re-import the model zip, or run "
                          f"without a filter (--filter none).")
    digest = sha256_file(model_path)
    if sha256 and digest != sha256:
        raise FilterError(f"{model_path}: checksum {digest[:12]}... does not match filter.json "
                          f"({sha256[:12]}...): the file is corrupt or was changed. Re-import the model.")
    booster = _booster(model_path)
    if booster.num_feature() != n_features:
        raise FilterError(f"{model_path}: the model takes {booster.num_feature()} features, filter.json lists "
                          f"{n_features}. Re-import the model, or retrain the filter.")
    return booster


def read_spec(folder: Path) -> FilterSpec:
    path = folder / FILTER_JSON
    if not path.is_file():
        raise FilterError(f"{path}: no filter.json in the CMB filter folder. Re-import the model zip, or run "
                          f"without a filter (--filter none).")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FilterError(f"{path}: not valid JSON ({exc}). Re-import the model zip.") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise FilterError(f"{path}: not a CMBQuant CMB filter (format {raw.get('format') if isinstance(raw, dict) else None!r}).")
    if int(raw.get("version", 0)) > FORMAT_VERSION:
        raise FilterError(f"{path}: filter format version {raw.get('version')} is newer than this CMBQuant "
                          f"({FORMAT_VERSION}). Update CMBQuant.")
    known = {k: v for k, v in raw.items() if k in FilterSpec.__dataclass_fields__}
    spec = FilterSpec(**known)
    if spec.prescreen_file and list(spec.prescreen_features) != list(SEED_FEATURE_NAMES):
        raise FilterError(f"{path}: the prescreen was trained on seed features {spec.prescreen_features} that this "
                          f"CMBQuant does not compute in the same order. Retrain the filter.")
    unknown = [f for f in spec.features if f not in FEATURE_NAMES]
    if unknown or list(spec.features) != list(FEATURE_NAMES):
        raise FilterError(f"{path}: the filter was trained on features {unknown or spec.features} that this "
                          f"CMBQuant does not compute in the same order. Use the CMBQuant version it was made "
                          f"with, or retrain the filter.")
    return spec


def _booster(model_path: Path) -> Any:
    import lightgbm

    try:
        return lightgbm.Booster(model_str=model_path.read_text(encoding="utf-8"))
    except (lightgbm.basic.LightGBMError, UnicodeDecodeError, ValueError) as exc:
        raise FilterError(f"{model_path}: not a readable LightGBM text model ({exc}). The file is corrupt: "
                          f"re-import the model zip.") from exc


def save_filter(booster: Any, spec: FilterSpec, folder: str | Path, prescreen: Any = None) -> Path:
    """Write ``model.txt`` (and ``prescreen.txt``) and ``filter.json`` with their sha256 into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model_path = atomic_write_text(folder / spec.model_file, booster.model_to_string())
    spec.model_sha256 = sha256_file(model_path)
    if prescreen is not None:
        spec.prescreen_file = spec.prescreen_file or "prescreen.txt"
        spec.prescreen_sha256 = sha256_file(atomic_write_text(folder / spec.prescreen_file,
                                                              prescreen.model_to_string()))
    atomic_write_json(folder / FILTER_JSON, asdict(spec))
    return folder
