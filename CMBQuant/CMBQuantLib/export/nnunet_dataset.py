"""Reviewed case folders -> an nnU-Net v2 raw dataset (definite and possible CMBs as label 1): training labels."""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from CMBQuantLib.core.atomic import atomic_write_text
from CMBQuantLib.core.segments import export_label_array
from CMBQuantLib.review.session import ReviewSession
from CMBQuantLib.volumes.images import write_image


@dataclass
class NnunetExport:
    folder: Path
    cases: list[str]
    skipped: list[str]  # "case_id: why"


def nnunet_dataset_name(dataset_id: int, name: str) -> str:
    if not 1 <= dataset_id <= 999:
        raise ValueError(f"nnU-Net dataset id must be 1..999, got {dataset_id}")
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"nnU-Net dataset name must be letters, digits, '_' or '-', got {name!r}")
    return f"Dataset{dataset_id:03d}_{name}"


def export_nnunet(folders: Iterable[str | Path], out_root: str | Path, dataset_id: int = 501, name: str = "CMB",
                  statuses: tuple[str, ...] = ("definite", "possible"), require_complete: bool = True) -> NnunetExport:
    """An nnU-Net v2 raw dataset from reviewed cases: ``imagesTr/<case>_0000.nii.gz``, ``labelsTr/<case>.nii.gz``
    (binary: CMBs whose status is in ``statuses`` = 1; rejected and pending = 0) and ``dataset.json``.

    Cases still holding pending CMBs are skipped when ``require_complete`` (unreviewed labels would teach the
    model the detector's own false positives).
    """

    if "rejected" in statuses or "pending" in statuses:
        raise ValueError("nnU-Net labels take definite and/or possible CMBs only (rejected/pending are background)")
    out = Path(out_root) / nnunet_dataset_name(dataset_id, name)
    (out / "imagesTr").mkdir(parents=True, exist_ok=True)
    (out / "labelsTr").mkdir(parents=True, exist_ok=True)
    done, skipped = [], []
    for folder in folders:
        session = ReviewSession.open(folder, reviewer="export", require_image=True)
        case = session.case
        cid = case.case_id
        if require_complete and any(r.status == "pending" for r in session.records()):
            skipped.append(f"{cid}: has pending CMBs (finish the review, or pass --include-incomplete)")
            continue
        labels = export_label_array(case.ctx, case.seg_node, case.volume_node, statuses)
        write_image(case.image.astype(np.float32), case.geometry, out / "imagesTr" / f"{cid}_0000.nii.gz")
        write_image((labels > 0).astype(np.uint8), case.geometry, out / "labelsTr" / f"{cid}.nii.gz")
        done.append(cid)
    dataset = {
        "channel_names": {"0": "SWI"},
        "labels": {"background": 0, "cmb": 1},
        "numTraining": len(done),
        "file_ending": ".nii.gz",
        "name": name,
        "description": f"CMBQuant reviewed CMBs; label 1 = status in {list(statuses)}; rejected = background",
        "overwrite_image_reader_writer": "SimpleITKIO",
    }
    for stale in (out / "imagesTr").glob("*_0000.nii.gz"):
        if stale.name[: -len("_0000.nii.gz")] not in done:
            stale.unlink()
    for stale in (out / "labelsTr").glob("*.nii.gz"):
        if stale.name[: -len(".nii.gz")] not in done:
            stale.unlink()
    atomic_write_text(out / "dataset.json", json.dumps(dataset, indent=2) + "\n")
    return NnunetExport(out, done, skipped)

