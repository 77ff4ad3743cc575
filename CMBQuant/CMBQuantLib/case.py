"""The case folder: the single source of truth every interface reads and writes (see docs/case-folder.md).

Every write is atomic (temp file + fsync + rename) so a killed process never leaves half a file, and every read
failure names the file and says how to fix it: a reader in a clinic must not need a traceback to recover a case.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .atomic import atomic_write_json, sha256_file  # noqa: F401  (sha256_file re-exported)
from .candidates import CMBRecord, read_records_csv, write_records_csv
from .scene import SceneContext
from .volumes import Geometry

SCHEMA_VERSION = 1
CASE_JSON = "case.json"
IMAGE_FILE = "image.nii.gz"
SEG_FILE = "cmbs.seg.nrrd"
CMBS_CSV = "cmbs.csv"
REVIEW_LOG = "review.jsonl"
COUNTS_JSON = "counts.json"
COUNTS_CSV = "counts.csv"
STATUS_PROCESSING = "processing"  # the pipeline started writing the folder
STATUS_COMPLETE = "complete"  # the pipeline finished: every file is there, the case awaits (or has had) review


class CaseFolderError(ValueError):
    """A missing, corrupt or too-new case file; the message names the file and the fix."""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class CaseInfo:
    """``case.json``: where the case came from and how it was made (what a methods section needs)."""

    case_id: str
    input_file: str = ""
    input_sha256: str = ""
    geometry: dict[str, Any] = field(default_factory=dict)  # {"ijk_to_ras": 4x4, "shape": [k, j, i]}
    model: dict[str, Any] = field(default_factory=dict)  # name, sha256, device, step_size, mirroring
    region_source: str = ""
    detection: dict[str, Any] = field(default_factory=dict)  # threshold, min_confidence, n_candidates, seconds
    status: str = STATUS_PROCESSING
    schema_version: int = SCHEMA_VERSION
    software_version: str = __version__
    created: str = field(default_factory=utc_now)
    updated: str = field(default_factory=utc_now)

    @staticmethod
    def geometry_dict(geometry: Geometry) -> dict[str, Any]:
        return {"ijk_to_ras": np.asarray(geometry.ijk_to_ras).tolist(), "shape": [int(x) for x in geometry.shape]}

    def geometry_obj(self) -> Geometry | None:
        if not self.geometry:
            return None
        return Geometry(np.array(self.geometry["ijk_to_ras"], float), tuple(int(x) for x in self.geometry["shape"]))


def new_case_info(case_id: str, input_file: str | Path | None, geometry: Geometry | None,
                  model: dict[str, Any] | None = None, region_source: str = "") -> CaseInfo:
    """A fresh ``case.json`` record; hashes the input so a batch rerun can tell whether it changed."""
    inp = Path(input_file) if input_file else None
    return CaseInfo(
        case_id=case_id,
        input_file=str(inp.resolve()) if inp else "",
        input_sha256=sha256_file(inp) if inp and inp.exists() else "",
        geometry=CaseInfo.geometry_dict(geometry) if geometry is not None else {},
        model=dict(model or {}),
        region_source=region_source,
    )


def write_case_json(folder: str | Path, info: CaseInfo) -> Path:
    info.updated = utc_now()
    return atomic_write_json(Path(folder) / CASE_JSON, asdict(info))


def read_case_json(folder: str | Path) -> CaseInfo:
    path = Path(folder) / CASE_JSON
    if not path.exists():
        raise CaseFolderError(f"{path}: not found. This folder is not a CMBQuant case: point to a folder made by "
                              "`cmbquant run`/`cmbquant batch` (it holds case.json and cmbs.csv), or re-run the case.")
    fix = "Restore it from a backup, or re-run the case to rebuild it (review.jsonl keeps the decisions)."
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CaseFolderError(f"{path}: corrupt ({exc}). {fix}") from None
    if not isinstance(data, dict):
        raise CaseFolderError(f"{path}: corrupt (not a JSON object). {fix}")
    version = data.get("schema_version")
    if not isinstance(version, int):
        raise CaseFolderError(f"{path}: has no integer schema_version. Re-run the case to rebuild case.json.")
    if version > SCHEMA_VERSION:
        raise CaseFolderError(f"{path}: written by a newer CMBQuant (case schema {version}, this version reads up to "
                              f"{SCHEMA_VERSION}). Update CMBQuant to open this case.")
    known = set(CaseInfo.__dataclass_fields__)
    if "case_id" not in data:
        data["case_id"] = Path(folder).resolve().name
    return CaseInfo(**{k: v for k, v in data.items() if k in known})


def read_cmbs_csv(folder: str | Path) -> list[CMBRecord]:
    """The CMB table, with a clear error for a missing or unreadable one."""
    path = Path(folder) / CMBS_CSV
    if not path.exists():
        raise CaseFolderError(f"{path}: not found. Re-run the case (`cmbquant batch`) to rebuild the CMB table.")
    try:
        records = read_records_csv(path)
    except (ValueError, KeyError, TypeError) as exc:
        raise CaseFolderError(f"{path}: corrupt ({exc}). Restore it, or delete it and re-open the case in "
                              "Slicer to rewrite it from cmbs.seg.nrrd.") from None
    with open(path, encoding="utf-8") as fh:
        header = fh.readline()
    if "cmb_id" not in header.split(","):
        raise CaseFolderError(f"{path}: has no cmb_id column. It is not a CMBQuant table: re-run the case.")
    return records


def write_cmbs_csv(folder: str | Path, records: list[CMBRecord]) -> Path:
    return write_records_csv(sorted(records, key=lambda r: r.cmb_id), Path(folder) / CMBS_CSV)


def write_counts_json(folder: str | Path, counts: dict[str, Any]) -> Path:
    return atomic_write_json(Path(folder) / COUNTS_JSON, counts)


def case_image_path(folder: str | Path, info: CaseInfo | None = None) -> Path | None:
    """The SWI of the case: the copy in the folder, else the original input file if it still exists."""
    folder = Path(folder)
    if (folder / IMAGE_FILE).exists():
        return folder / IMAGE_FILE
    info = info or read_case_json(folder)
    if info.input_file and Path(info.input_file).exists():
        return Path(info.input_file)
    return None


def copy_input_image(folder: str | Path, input_file: str | Path, image: np.ndarray | None = None,
                     geometry: Geometry | None = None) -> Path:
    """``image.nii.gz`` in the case folder, so the case opens on another machine (byte copy when already .nii.gz)."""
    from .atomic import atomic_write_bytes
    from .volumes import write_image

    dest = Path(folder) / IMAGE_FILE
    src = Path(input_file)
    if src.is_file() and src.name.lower().endswith(".nii.gz"):
        atomic_write_bytes(dest, src.read_bytes())
    else:
        if image is None or geometry is None:
            from .volumes import read_image

            image, geometry = read_image(src)
        tmp = dest.with_name(".image.tmp.nii.gz")
        write_image(image, geometry, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    return dest


@dataclass
class OpenCase:
    """A case loaded into a scene: what the review session, the Slicer widget and the web app work on."""

    folder: Path
    info: CaseInfo
    ctx: SceneContext
    volume_node: Any
    seg_node: Any
    image: np.ndarray | None  # [k, j, i] SWI (None when the image file is gone and was not required)
    geometry: Geometry

    @property
    def case_id(self) -> str:
        return self.info.case_id


def open_case(folder: str | Path, ctx: SceneContext | None = None, require_image: bool = True) -> OpenCase:
    """Load a case folder's SWI and CMB segmentation into ``ctx`` (a new headless scene when None).

    Without the image (moved input, no copy) a blank volume on the case geometry stands in when
    ``require_image`` is False, so labels and counts can still be exported.
    """
    from .scene import headless_context
    from .segments import load_segmentation
    from .volumes import array_of, geometry_of_node, load_volume, volume_node_from_array

    folder = Path(folder)
    info = read_case_json(folder)
    ctx = ctx or headless_context()
    seg_path = folder / SEG_FILE
    if not seg_path.exists():
        raise CaseFolderError(f"{seg_path}: not found. Re-run the case (`cmbquant batch`) to rebuild the "
                              "segmentation; review.jsonl will be replayed onto it.")
    image_path = case_image_path(folder, info)
    image = None
    if image_path is not None:
        volume = load_volume(ctx, image_path, name=info.case_id)
        image = np.array(array_of(volume))
        geometry = geometry_of_node(volume)
    else:
        geometry = info.geometry_obj()
        if require_image or geometry is None:
            raise CaseFolderError(f"{folder / IMAGE_FILE}: not found, and the input {info.input_file or '(unknown)'} "
                                  "is gone. Copy the SWI into the case folder as image.nii.gz.")
        volume = volume_node_from_array(ctx, np.zeros(geometry.shape, np.float32), geometry, info.case_id)
    try:
        seg_node = load_segmentation(ctx, seg_path, name=f"{info.case_id} CMBs")
    except ValueError as exc:
        raise CaseFolderError(f"{exc} (or delete it and re-run the case)") from None
    seg_node.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    return OpenCase(folder, info, ctx, volume, seg_node, image, geometry)
