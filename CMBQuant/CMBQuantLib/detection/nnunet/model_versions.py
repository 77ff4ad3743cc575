"""Model versions: which model came from which, on which reviewed cases, with which result (``version.json``).

A model the reader's decisions retrained (``cmbquant train-filter``: a new CMB filter; ``cmbquant train``: a new
nnU-Net) is a NEW entry of the model store (``<home>/models/<name>/``) with ``version.json`` beside its
``DatasetXXX_Name/`` folder: name, parent, created, kind, cases, label counts, the filter's sha256 and metrics. The
parent entry is never touched, so both stay usable; an entry without ``version.json`` (an imported or the shipped
model) is a root version. Plain JSON: reading a version runs no code.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from CMBQuantLib.core.atomic import atomic_write_json
from CMBQuantLib.detection.cmb_filter import FilterError, has_filter, read_spec
from CMBQuantLib.detection.cmb_filter import filter_folder as cmb_filter_folder
from CMBQuantLib.detection.nnunet.model_store import (
    ModelError,
    find_trainer_folders,
    models_dir,
)

VERSION_JSON = "version.json"
VERSION_FORMAT = "cmbquant-model-version"
VERSION_KINDS = ("filter", "nnunet", "root")
LEARNING_DIR = "learning"  # a version's own train-filter report: never carried into a child
STAMP_FILE = ".source_sha256"  # the store's "imported from this zip" stamp: never carried into a child


@dataclass
class ModelVersion:
    """``version.json`` of one store entry (``kind`` root: an entry without one, e.g. the shipped model)."""

    name: str
    parent: str = ""
    created: str = ""
    kind: str = "root"  # filter (train-filter), nnunet (train) or root
    cases: list[str] = field(default_factory=list)
    labels: dict[str, Any] = field(default_factory=dict)  # label counts by kind
    filter_sha256: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    format: str = VERSION_FORMAT

    def label(self) -> str:
        """How the model picker shows it: ``name (from parent, N cases)``."""
        if not self.parent:
            return self.name
        return f"{self.name} (from {self.parent}, {len(self.cases)} reviewed case{'s' * (len(self.cases) != 1)})"


def utc_stamp() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def entry_filter_sha256(model_dir: str | Path) -> str:
    """sha256 of the CMB filter model (``cmb_filter/model.txt``) of the entry's trainer folder ("" without one)."""
    for folder in [Path(model_dir), *find_trainer_folders(Path(model_dir))]:
        if has_filter(folder):
            try:
                return read_spec(cmb_filter_folder(folder)).model_sha256
            except FilterError:
                return ""
    return ""


def record_version(model_dir: str | Path, name: str, parent: str, cases: list[str], metrics: dict[str, Any],
                   kind: str = "filter", labels: dict[str, Any] | None = None,
                   notes: dict[str, Any] | None = None) -> ModelVersion:
    """Write ``<model_dir>/version.json`` (a store entry); refuses to overwrite one: versions are never rewritten."""
    model_dir = Path(model_dir)
    if kind not in VERSION_KINDS:
        raise ValueError(f"version kind must be one of {VERSION_KINDS}, got {kind!r}")
    if not model_dir.is_dir():
        raise ModelError(f"{model_dir}: no such model folder; import or create the model before recording it.")
    path = model_dir / VERSION_JSON
    if path.exists():
        raise ModelError(f"{path}: this model already has a version record; versions are never overwritten. "
                         f"Write the new model under a new name.")
    version = ModelVersion(name=name, parent=parent, created=utc_stamp(), kind=kind, cases=[str(c) for c in cases],
                           labels=dict(labels or {}), filter_sha256=entry_filter_sha256(model_dir),
                           metrics=dict(metrics or {}), notes=dict(notes or {}))
    atomic_write_json(path, asdict(version))
    return version


def read_version(model_dir: str | Path) -> ModelVersion:
    """The entry's version record; an entry without one is a root version named after its folder."""
    model_dir = Path(model_dir)
    path = model_dir / VERSION_JSON
    if not path.is_file():
        return ModelVersion(name=model_dir.name, filter_sha256=entry_filter_sha256(model_dir))
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: not valid JSON ({exc}). Delete the model and retrain it.") from exc
    if not isinstance(raw, dict) or raw.get("format") != VERSION_FORMAT:
        raise ModelError(f"{path}: not a CMBQuant model version record. Delete the file or the model.")
    return ModelVersion(**{k: v for k, v in raw.items() if k in ModelVersion.__dataclass_fields__})


def list_versions(home: Path | None = None) -> list[ModelVersion]:
    """Every store entry's version (sorted by name); an unreadable record is listed as a root with a note."""
    root = models_dir(home)
    if not root.is_dir():
        return []
    out = []
    for entry in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            out.append(read_version(entry))
        except ModelError as exc:
            out.append(ModelVersion(name=entry.name, notes={"problem": str(exc)}))
    return out


def lineage(name: str, home: Path | None = None) -> list[str]:
    """``name``, its parent, its parent's parent ... (stops at a root or a loop)."""
    by_name = {v.name: v for v in list_versions(home)}
    chain: list[str] = []
    while name and name not in chain:
        chain.append(name)
        name = by_name[name].parent if name in by_name else ""
    return chain


def _link_or_copy(src: str, dst: str) -> str:
    """Hard link (a child shares its parent's nnU-Net checkpoint bytes), else copy. Store files are replaced by
    rename, never written in place, so a link cannot let a child change its parent."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst


def check_new_name(name: str, home: Path | None = None) -> Path:
    """The store path for a NEW model ``name``; raises when the name is unusable or taken (checked before work)."""
    if not name or "/" in name or "\\" in name or name.startswith(".") or name == "CMBQuantDemo":
        raise ModelError(f"'{name}': not a valid new model name. Use letters, digits, '_' or '-', not an existing "
                         f"model's name.")
    target = models_dir(home) / name
    if target.exists():
        raise ModelError(f"{target}: a model named '{name}' already exists. Choose another --out name; versions "
                         f"are never overwritten.")
    return target


def stage_entry_from(parent_dir: str | Path, name: str, home: Path | None = None) -> Path:
    """A hidden staging copy of the parent entry for the new model ``name`` (its ``cmb_filter/`` and JSON files
    copied, the rest linked), to be completed and then published by :func:`publish_entry`. Refuses an existing
    name: nothing in the store is overwritten."""
    target = check_new_name(name, home)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".new-{name}")
    shutil.rmtree(staging, ignore_errors=True)

    def copy(src: str, dst: str) -> str:
        if "cmb_filter" in Path(src).parts or src.endswith(".json"):
            return shutil.copy2(src, dst)
        return _link_or_copy(src, dst)

    shutil.copytree(Path(parent_dir), staging, copy_function=copy,
                    ignore=shutil.ignore_patterns(STAMP_FILE, VERSION_JSON, LEARNING_DIR))
    return staging


def publish_entry(staging: Path, name: str, home: Path | None = None) -> Path:
    """Rename a completed staging entry into place (refusing, again, a name that appeared meanwhile)."""
    target = models_dir(home) / name
    if target.exists():
        shutil.rmtree(staging, ignore_errors=True)
        raise ModelError(f"{target}: a model named '{name}' appeared while training. Choose another --out name.")
    os.replace(staging, target)
    return target
