"""The source SWI DICOM series of a case: its slices in the case's slice order, checked against the case grid.

A DICOM SEG frame is tied to the source instance it was drawn on, so slice k of the case must be matched to its
instance exactly: by the SOP Instance UIDs ``case.json`` recorded (``dicom_source``), else by position along the
slice normal. The geometry rebuilt from the slices' headers must equal the case geometry (oblique grids included),
or the export stops rather than write a segmentation that lands beside the microbleeds.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from CMBQuantLib.core.geometry import Geometry

LPS = np.diag([-1.0, -1.0, 1.0])
GEOMETRY_TOLERANCE_MM = 1e-3


class DicomSourceError(ValueError):
    """The source series is missing, ambiguous or not the case's grid; the message says how to fix it."""


@dataclass
class SourceSeries:
    folder: Path
    datasets: list[Any]  # pydicom Datasets, index = slice k of the case grid
    geometry: Geometry

    @property
    def series_instance_uid(self) -> str:
        return str(self.datasets[0].SeriesInstanceUID)


def _read_folder(folder: Path) -> list[Any]:
    out = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            ds = dcmread(path)
        except (InvalidDicomError, OSError, ValueError):
            continue  # DICOMDIR siblings, thumbnails, notes: not slices
        if "SeriesInstanceUID" in ds and "ImagePositionPatient" in ds and "PixelData" in ds:
            out.append(ds)
    return out


def _one_series(datasets: list[Any], series_uid: str, folder: Path) -> list[Any]:
    by_series: dict[str, list[Any]] = {}
    for ds in datasets:
        by_series.setdefault(str(ds.SeriesInstanceUID), []).append(ds)
    if series_uid:
        if series_uid not in by_series:
            raise DicomSourceError(f"{folder}: does not hold the series this case was made from (its Series "
                                   "Instance UID is in case.json dicom_source). Pass --source the SWI series folder.")
        return by_series[series_uid]
    if len(by_series) != 1:
        raise DicomSourceError(f"{folder}: holds {len(by_series)} image series. Put the SWI series alone in a folder "
                               "and pass it as --source.")
    return next(iter(by_series.values()))


def _in_slice_order(datasets: list[Any], sop_uids: list[str], folder: Path) -> list[Any]:
    if sop_uids:
        by_uid = {str(ds.SOPInstanceUID): ds for ds in datasets}
        missing = [u for u in sop_uids if u not in by_uid]
        if missing:
            raise DicomSourceError(f"{folder}: {len(missing)} of the case's {len(sop_uids)} slices are missing. "
                                   "Copy the whole SWI series back, or pass --source a complete copy.")
        return [by_uid[u] for u in sop_uids]
    iop = np.array(datasets[0].ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    return sorted(datasets, key=lambda ds: float(np.dot(np.array(ds.ImagePositionPatient, float), normal)))


def geometry_of_slices(datasets: list[Any]) -> Geometry:
    """IJK-to-RAS of slices stacked in the given order: i along the rows' direction, j down the columns."""
    first = datasets[0]
    iop = np.array(first.ImageOrientationPatient, float)
    row_mm, col_mm = (float(v) for v in first.PixelSpacing)  # between rows (j), between columns (i)
    origin = np.array(first.ImagePositionPatient, float)
    if len(datasets) > 1:
        step = (np.array(datasets[-1].ImagePositionPatient, float) - origin) / (len(datasets) - 1)
    else:
        step = np.cross(iop[:3], iop[3:]) * float(getattr(first, "SliceThickness", 1.0) or 1.0)
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2], lps[:3, 3] = iop[:3] * col_mm, iop[3:] * row_mm, step, origin
    mat = np.eye(4)
    mat[:3, :] = LPS @ lps[:3, :]
    return Geometry(mat, (len(datasets), int(first.Rows), int(first.Columns)))


def load_source_series(folder: str | Path, recorded: dict[str, Any], case_geometry: Geometry) -> SourceSeries:
    """The series in ``folder`` matching the case (``recorded`` = case.json ``dicom_source``), in slice order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DicomSourceError(f"{folder}: not a folder. DICOM export needs the SWI DICOM series the case was made "
                               "from: pass --source FOLDER (the case input was not a DICOM folder, or it moved).")
    datasets = _read_folder(folder)
    if not datasets:
        raise DicomSourceError(f"{folder}: holds no DICOM image slices. Pass --source the SWI DICOM series folder.")
    series = _one_series(datasets, str(recorded.get("series_instance_uid", "")), folder)
    ordered = _in_slice_order(series, list(recorded.get("sop_instance_uids", [])), folder)
    geometry = geometry_of_slices(ordered)
    if not geometry.same_as(case_geometry, tol=GEOMETRY_TOLERANCE_MM):
        raise DicomSourceError(f"{folder}: the series grid {geometry.shape} does not match the case grid "
                               f"{case_geometry.shape} (or its position/orientation differs). Pass --source the "
                               "series the case was made from.")
    return SourceSeries(folder, ordered, geometry)
