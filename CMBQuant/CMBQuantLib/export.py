"""Exports: per-case files, the cohort table and an nnU-Net v2 raw dataset, all read from case folders.

Counting follows MARS: only definite and possible CMBs are counted per region; pending and rejected are counted
separately so a half-reviewed case is visible in the cohort table instead of silently under-counted.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_write_json, atomic_write_text
from .candidates import CMBRecord
from .regions.counts import count_case, count_columns, count_keys
from .regions.counts import counts_document as region_counts_document

COUNT_COLUMNS = count_columns() + ["review_complete"]
COHORT_COLUMNS = ["case_id"] + COUNT_COLUMNS + ["model", "reviewers"]


def case_counts(records: Iterable[CMBRecord]) -> dict[str, int]:
    """Counts for one case, keyed exactly by the cohort count columns (``COUNT_COLUMNS``).

    The region counting itself is ``regions.counts.count_case`` (one rule everywhere); ``review_complete`` is 1
    when no CMB is pending (a case with no candidates counts as complete).
    """
    counts = count_case(list(records))
    counts["review_complete"] = int(counts["n_pending"] == 0)
    return counts


def counts_document(records: list[CMBRecord]) -> dict[str, Any]:
    """``counts.json``: cohort-named counts, per side, and a region x status table including pending and rejected."""
    doc = region_counts_document(records)
    doc["counts"] = case_counts(records)
    by_region: dict[str, dict[str, int]] = {}
    for rec in records:
        status = rec.status or "pending"
        for region in count_keys(rec):
            by_region.setdefault(region, {}).setdefault(status, 0)
            by_region[region][status] += 1
    doc["by_region_status"] = by_region
    return doc


def one_row_csv(row: dict[str, Any], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerow({c: row.get(c, "") for c in columns})
    return buf.getvalue()


def write_counts(folder: str | Path, records: list[CMBRecord], case_id: str) -> tuple[Path, Path]:
    """``counts.json`` and the one-row ``counts.csv`` (``case_id`` + count columns) of a case, atomically."""
    from .case import COUNTS_CSV, COUNTS_JSON

    folder = Path(folder)
    doc = counts_document(records)
    j = atomic_write_json(folder / COUNTS_JSON, doc)
    c = atomic_write_text(folder / COUNTS_CSV, one_row_csv({"case_id": case_id, **doc["counts"]},
                                                           ["case_id"] + COUNT_COLUMNS))
    return j, c


# ---------------------------------------------------------------------------------------------------------------
# Per case


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
    from .candidates import write_records_csv
    from .review import ReviewSession
    from .segments import export_label_array, save_segmentation
    from .volumes import write_image

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
    doc = counts_document(records)
    cj = atomic_write_json(out_dir / f"{cid}_counts.json", doc)
    cc = atomic_write_text(out_dir / f"{cid}_counts.csv",
                           one_row_csv({"case_id": cid, **doc["counts"]}, ["case_id"] + COUNT_COLUMNS))
    return CaseExport(seg, lab_path, csv_path, cj, cc)


# ---------------------------------------------------------------------------------------------------------------
# Cohort


def is_case_folder(path: Path) -> bool:
    from .case import CASE_JSON

    return path.is_dir() and (path / CASE_JSON).exists()


def case_folders(root: str | Path) -> list[Path]:
    """Case folders directly under ``root`` (or ``root`` itself), sorted by name."""
    root = Path(root)
    if is_case_folder(root):
        return [root]
    return sorted(p for p in root.iterdir() if is_case_folder(p)) if root.is_dir() else []


def cohort_row(folder: str | Path) -> dict[str, Any]:
    """One cohort row from a case folder: ``cmbs.csv`` with ``review.jsonl`` replayed over it (the log wins)."""
    from .case import read_case_json
    from .review import effective_records, log_reviewers

    folder = Path(folder)
    info = read_case_json(folder)
    records = effective_records(folder)
    row: dict[str, Any] = {"case_id": info.case_id, **case_counts(records)}
    row["model"] = str(info.model.get("name", "")) if isinstance(info.model, dict) else ""
    row["reviewers"] = ";".join(log_reviewers(folder))
    return row


def write_cohort(folders: Iterable[str | Path], path: str | Path) -> Path:
    """``cohort.csv``: one row per case, columns exactly ``COHORT_COLUMNS``, sorted by case id, atomic."""
    rows = sorted((cohort_row(f) for f in folders), key=lambda r: r["case_id"])
    ids = [r["case_id"] for r in rows]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ValueError(f"{path}: case ids {dup} appear in more than one case folder; rename or remove duplicates.")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COHORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(r)
    return atomic_write_text(Path(path), buf.getvalue())


# ---------------------------------------------------------------------------------------------------------------
# nnU-Net v2 raw dataset


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
    from .review import ReviewSession
    from .segments import export_label_array
    from .volumes import write_image

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
