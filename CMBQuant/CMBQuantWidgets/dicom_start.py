"""Starting a DICOM export from Slicer: highdicom and pydicom installed on first use (asked for), then the export."""
from __future__ import annotations

from pathlib import Path

import slicer

from CMBQuantLib.core.dependencies import Requirement, ensure
from CMBQuantLib.export.dicom_export import export_dicom
from CMBQuantWidgets.detection_start import pip_install

DICOM_REQUIREMENTS = (Requirement("highdicom", "highdicom>=0.28"), Requirement("pydicom", "pydicom>=3.0"))


def export_case_dicom(folder: Path, out_root: str) -> list[Path]:
    """DICOM SEG + SR of the case into ``<output folder>/<case>/dicom``; [] when the user declined installing."""
    if not ensure(DICOM_REQUIREMENTS, "DICOM export", slicer.util.confirmOkCancelDisplay, pip_install):
        return []
    return list(export_dicom(folder, Path(out_root) / Path(folder).name / "dicom").paths)
