"""Which model version and which CMB filter version made a case (``case.json`` ``model_version`` /
``filter_version``), so a cohort processed by a retrained model can be told apart from one processed by its parent.

The model version is the model store entry's version name (``version.json``, written by ``train-filter`` and
``train``) when the entry has one, else the model's name + the first 12 hex digits of its checkpoint's sha256. The
filter version is the same store version name (or the filter's own name) + the first 12 hex digits of the filter
model file's sha256: two filters with the same name but different weights never share a version id.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from CMBQuantLib.detection.nnunet.model_store import ModelError
from CMBQuantLib.detection.nnunet.model_versions import VERSION_JSON, read_version

SHA_PREFIX = 12


def store_version_name(folder: str | Path | None, levels: int = 4) -> str:
    """The version name of the store entry holding ``folder`` (a trainer or filter folder); "" outside the store
    or for an entry without ``version.json``."""
    if not folder:
        return ""
    path = Path(folder)
    for candidate in [path, *list(path.parents)[:levels]]:
        if (candidate / VERSION_JSON).is_file():
            try:
                return read_version(candidate).name
            except ModelError:
                return ""
    return ""


def model_version(model: dict[str, Any]) -> str:
    """``case.json`` ``model_version`` from the run's model record (name, folder, sha256)."""
    name = store_version_name(model.get("folder"))
    if name:
        return name
    sha = str(model.get("sha256") or "")[:SHA_PREFIX]
    return f"{model.get('name', '')}@{sha}" if sha else str(model.get("name", ""))


def filter_version(filter_info: dict[str, Any] | None) -> str:
    """``case.json`` ``filter_version`` from ``CMBFilter.info()``; "" for a one-stage run (no filter)."""
    if not filter_info:
        return ""
    name = store_version_name(filter_info.get("folder")) or str(filter_info.get("name", ""))
    sha = str(filter_info.get("sha256") or "")[:SHA_PREFIX]
    return f"{name}@{sha}" if sha else name
