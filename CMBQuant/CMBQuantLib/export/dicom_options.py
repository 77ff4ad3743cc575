"""What ``export_dicom`` writes: which CMBs become segments, where the source series is, and de-identification.

Kept free of pydicom/highdicom so the command line and the Slicer panel can build options before they are installed.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from CMBQuantLib.export.deidentify import DeidentifyOptions


@dataclass(frozen=True)
class DicomExportOptions:
    """``include_possible``: possible CMBs become segments too (definite ones always do; pending and rejected
    never). ``source``: the SWI DICOM series folder when it moved since the case was made (default: the case's
    input folder). ``deidentify``: None keeps the patient data of the source; ``write_source`` also writes the
    (de-identified) source slices the SEG and SR reference, for sharing outside the hospital."""

    include_possible: bool = False
    source: Path | None = None
    deidentify: DeidentifyOptions | None = None
    write_source: bool = False
    seg_series_number: int = 901
    sr_series_number: int = 902

    @property
    def statuses(self) -> tuple[str, ...]:
        return ("definite", "possible") if self.include_possible else ("definite",)
