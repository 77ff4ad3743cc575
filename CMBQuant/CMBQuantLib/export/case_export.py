"""Per-case exports: the segmentation, a label map keeping CMB ids, ``cmbs.csv`` and the counts, into one folder."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from CMBQuantLib.core.counts import write_counts
from CMBQuantLib.core.records import write_records_csv
from CMBQuantLib.core.segments import export_label_array, save_segmentation
from CMBQuantLib.review.session import ReviewSession
from CMBQuantLib.volumes.images import write_image


@dataclass
class CaseExport:
    seg: Path
    labels: Path
    cmbs_csv: Path
    counts_json: Path
    counts_csv: Path


def export_case(folder: str | Path, out_dir: str | Path,
                statuses: tuple[str, ...] = ("definite", "possible")) -> CaseExport:
    """Write a reviewed case's files to ``out_dir``: ``<case>.seg.nrrd`` (all segments and tags),
    ``<case>_cmb_labels.nii.gz`` (voxel = cmb_id, only CMBs with ``statuses``), ``<case>_cmbs.csv``, and
    ``<case>_counts.json``/``.csv``. The review log is replayed first, so a stale table never leaks out.
    """

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    session = ReviewSession.open(folder, reviewer="export", require_image=False)
    case = session.case
    cid = case.case_id
    records = session.records()
    seg = save_segmentation(case.seg_node, out_dir / f"{cid}.seg.nrrd")
    labels = export_label_array(case.ctx, case.seg_node, case.volume_node, statuses)
    lab_path = out_dir / f"{cid}_cmb_labels.nii.gz"
    write_image(labels.astype(np.uint16), case.geometry, lab_path)
    csv_path = write_records_csv(records, out_dir / f"{cid}_cmbs.csv")
    cj, cc = write_counts(out_dir, records, cid, names=(f"{cid}_counts.json", f"{cid}_counts.csv"),
                          case_folder=case.folder)
    return CaseExport(seg, lab_path, csv_path, cj, cc)

