"""A reviewed case folder -> DICOM for PACS: a SEG (one segment per accepted CMB) and a TID 1500 SR, both
referencing the SWI series the case was made from.

``export_dicom(case_folder, out_dir, options)`` is the one entry point: ``cmbquant export-dicom`` and the Slicer
button call it. The review log is replayed first (as for every export), so the files carry the reader's decisions.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from CMBQuantLib.core.atomic import atomic_write_bytes
from CMBQuantLib.core.counts import count_case
from CMBQuantLib.core.segments import export_label_array
from CMBQuantLib.export.deidentify import deidentified_copies, mark_deidentified
from CMBQuantLib.export.dicom_options import DicomExportOptions
from CMBQuantLib.export.dicom_seg import build_segmentation, segmented_cmbs
from CMBQuantLib.export.dicom_source import DicomSourceError, load_source_series
from CMBQuantLib.export.dicom_sr import build_report
from CMBQuantLib.review.session import ReviewSession
from CMBQuantLib.volumes.case_open import OpenCase

log = logging.getLogger(__name__)


@dataclass
class DicomExport:
    """What was written: the SEG (None when no CMB was accepted: a SEG needs a segment), the SR, and the
    de-identified source copy when asked for."""

    sr: Path
    seg: Path | None
    source: Path | None
    n_segments: int
    n_pending: int

    @property
    def paths(self) -> list[Path]:
        return [p for p in (self.seg, self.sr, self.source) if p is not None]


def _write(ds: Any, path: Path) -> Path:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return atomic_write_bytes(path, buf.getvalue())


def _write_source(slices: list[Any], folder: Path) -> Path:
    for k, ds in enumerate(slices):
        _write(ds, folder / f"IM{k:05d}.dcm")
    return folder


def _source_slices(case: OpenCase, options: DicomExportOptions) -> list[Any]:
    """The source slices in case slice order, de-identified copies when asked for."""
    info = case.info
    if not info.dicom_source and not options.source:
        raise DicomSourceError(f"{case.folder}: was not made from a DICOM series (case.json has no dicom_source). "
                               "Pass --source the SWI DICOM series folder the input file was converted from.")
    folder = Path(options.source) if options.source else Path(info.input_file)
    slices = load_source_series(folder, info.dicom_source, case.geometry).datasets
    return slices if options.deidentify is None else deidentified_copies(slices, options.deidentify, case.case_id)


def export_dicom(case_folder: str | Path, out_dir: str | Path,
                 options: DicomExportOptions | None = None) -> DicomExport:
    """Write ``<case>_seg.dcm`` and ``<case>_sr.dcm`` (and ``<case>_source/`` with ``write_source``) to ``out_dir``.

    Only definite CMBs (and possible ones with ``include_possible``) become segments and SR measurement groups;
    the SR's counts are the case's full counts. Raises ``DicomSourceError`` when the source series is missing
    or is not the case's grid.
    """
    options = options or DicomExportOptions()
    out_dir = Path(out_dir)
    session = ReviewSession.open(case_folder, reviewer="export", require_image=False)
    case = session.case
    try:
        slices = _source_slices(case, options)
        records = session.records()
        cmbs = segmented_cmbs([r for r in records if r.status in options.statuses], str(slices[0].SeriesInstanceUID))
        seg = None
        if cmbs:
            labels = export_label_array(case.ctx, case.seg_node, case.volume_node, options.statuses)
            seg = build_segmentation(slices, labels, cmbs, options.seg_series_number)
    finally:
        case.ctx.scene.Clear(1)
    counts = count_case(records)
    sr = build_report(slices, seg, cmbs, counts, counts["n_pending"] == 0, options.sr_series_number)
    if options.deidentify is not None:
        for ds in [sr] + ([seg] if seg is not None else []):
            mark_deidentified(ds, options.deidentify)
    cid = case.case_id
    seg_path = _write(seg, out_dir / f"{cid}_seg.dcm") if seg is not None else None
    sr_path = _write(sr, out_dir / f"{cid}_sr.dcm")
    src_path = _write_source(slices, out_dir / f"{cid}_source") if options.write_source else None
    if counts["n_pending"]:
        log.warning("%s: %d CMBs still pending review: not exported", cid, counts["n_pending"])
    log.info("%s: DICOM SEG with %d segments, SR written to %s", cid, len(cmbs), out_dir)
    return DicomExport(sr_path, seg_path, src_path, len(cmbs), counts["n_pending"])
