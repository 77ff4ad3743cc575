"""The case folder: the single source of truth every interface reads and writes (see docs/case-folder.md).

Every write is atomic (temp file + fsync + rename) so a killed process never leaves half a file, and every read
failure names the file and says how to fix it: a reader in a clinic must not need a traceback to recover a case.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from CMBQuantLib import __version__
from CMBQuantLib.core.atomic import atomic_write_json, sha256_file
from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.core.records import CMBRecord, read_records_csv, write_records_csv

SCHEMA_VERSION = 1


CASE_JSON = "case.json"


IMAGE_FILE = "image.nii.gz"


PHASE_FILE = "phase.nii.gz"  # optional: the SWI phase resampled to the magnitude grid (calcification vs CMB)


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
    # Provenance ("" in older case folders): the model store version (or name@checkpoint-sha256 prefix) and the CMB
    # filter version (store version or filter name, @ model.txt sha256 prefix) that produced the candidates.
    model_version: str = ""
    filter_version: str = ""
    region_source: str = ""
    parcellation_file: str = ""  # the subject label map the regions came from (a CMB added in review uses it too)
    region_qc: dict[str, Any] = field(default_factory=dict)  # region step: template registration QC (regions.md)
    detection: dict[str, Any] = field(default_factory=dict)  # threshold, min_confidence, n_candidates, seconds
    # The source DICOM series when the input was a DICOM folder ({} otherwise, and in older case folders):
    # study/series/frame-of-reference/SOP class UIDs and sop_instance_uids in slice (k) order; DICOM SEG/SR cite it.
    dicom_source: dict[str, Any] = field(default_factory=dict)
    # The phase image when one was given ({} otherwise, and in older case folders): {"file": "phase.nii.gz",
    # "input_file": original path, "input_sha256", "resampled": whether its grid differed from the magnitude's}.
    phase: dict[str, Any] = field(default_factory=dict)
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


def case_image_path(folder: str | Path, info: CaseInfo | None = None) -> Path | None:
    """The SWI of the case: the copy in the folder, else the original input file if it still exists."""
    folder = Path(folder)
    if (folder / IMAGE_FILE).exists():
        return folder / IMAGE_FILE
    info = info or read_case_json(folder)
    if info.input_file and Path(info.input_file).exists():
        return Path(info.input_file)
    return None


def case_phase_path(folder: str | Path) -> Path | None:
    """The phase image of the case (on the SWI grid), or None when the case has no phase."""
    path = Path(folder) / PHASE_FILE
    return path if path.exists() else None
