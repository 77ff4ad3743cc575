"""Which DICOM series a case was made from: its UIDs and its SOP instances in slice order (k), for ``case.json``.

Read with SimpleITK's GDCM (headers only), choosing the series and the slice order exactly as ``read_image`` does,
so ``sop_instance_uids[k]`` is the instance holding slice k of the case grid. A DICOM SEG and SR exported later
reference these instances, even when the export finds the files under other names (a PACS re-download).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import SimpleITK as sitk

_TAGS = {"study_instance_uid": "0020|000d", "series_instance_uid": "0020|000e",
         "frame_of_reference_uid": "0020|0052", "sop_class_uid": "0008|0016"}
_SOP_INSTANCE = "0008|0018"


def series_files(folder: str | Path) -> list[str]:
    """The files of the folder's first series in slice order (the order ``read_image`` stacks them)."""
    reader = sitk.ImageSeriesReader()
    series = reader.GetGDCMSeriesIDs(str(folder))
    return list(reader.GetGDCMSeriesFileNames(str(folder), series[0])) if series else []


def _header(path: str) -> sitk.ImageFileReader:
    reader = sitk.ImageFileReader()
    reader.SetFileName(path)
    reader.LoadPrivateTagsOff()
    reader.ReadImageInformation()
    return reader


def _value(reader: sitk.ImageFileReader, tag: str) -> str:
    return reader.GetMetaData(tag).strip().rstrip("\x00") if reader.HasMetaDataKey(tag) else ""


def dicom_series_identity(folder: str | Path) -> dict[str, Any]:
    """``{study_instance_uid, series_instance_uid, frame_of_reference_uid, sop_class_uid, sop_instance_uids}`` of
    the series in ``folder``; empty when the folder holds no DICOM series (the case came from a file)."""
    files = series_files(folder)
    if not files:
        return {}
    headers = [_header(f) for f in files]
    identity: dict[str, Any] = {key: _value(headers[0], tag) for key, tag in _TAGS.items()}
    identity["sop_instance_uids"] = [_value(h, _SOP_INSTANCE) for h in headers]
    return identity
