"""Headless batch: a folder or BIDS dataset of SWI volumes -> one case folder each, awaiting review.

Resumable (a case whose ``case.json`` says ``complete`` for the same input sha256 is skipped), shardable across
machines (``--shard I/N`` over the sorted case ids), and the cohort table is rebuilt from the case folders by
``merge``: the folders stay the single source of truth, a shard never writes a shared file.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from .candidates import CandidateLimits, CMBRecord, find_candidates
from .candidates import brain_mask as intracranial_mask
from .case import (
    CASE_JSON,
    REVIEW_LOG,
    SEG_FILE,
    STATUS_COMPLETE,
    CaseFolderError,
    copy_input_image,
    new_case_info,
    read_case_json,
    sha256_file,
    write_case_json,
    write_cmbs_csv,
)
from .detection.two_stage import detect
from .volumes import SUPPORTED, Geometry, case_id_from_path

COHORT_FILE = "cohort.csv"


@runtime_checkable
class Segmenter(Protocol):
    """Anything that turns an SWI [k, j, i] array into a foreground probability map (float in [0, 1]) or a binary
    mask on the same grid. ``model_info`` (optional attribute) goes into case.json: name, sha256, device ..."""

    def segment(self, image: np.ndarray, geometry: Geometry) -> np.ndarray: ...


# regions(records, image, geometry) -> records with region/lobe/side/region_source filled (colleague's module)
RegionAssigner = Callable[[list[CMBRecord], np.ndarray, Geometry], list[CMBRecord]]


@dataclass(frozen=True)
class BatchInput:
    case_id: str
    path: Path


def _is_image(p: Path) -> bool:
    name = p.name.lower()
    return p.is_file() and any(name.endswith(ext) for ext in SUPPORTED) and not name.startswith(".")


def is_bids(root: Path) -> bool:
    return (root / "dataset_description.json").exists() or any(p.is_dir() for p in root.glob("sub-*"))


def bids_case_id(path: Path) -> str:
    """``sub-01_ses-2_swi.nii.gz`` -> ``sub-01_ses-2`` (acq-/run- entities kept, so two SWIs never collide)."""
    stem = case_id_from_path(path)
    return re.sub(r"_swi$", "", stem, flags=re.IGNORECASE)


def discover_inputs(root: str | Path) -> list[BatchInput]:
    """SWI inputs sorted by case id: a BIDS dataset (``sub-*/[ses-*/]anat/*_swi.nii.gz`` or names holding ``SWI``)
    or a plain folder of image files; duplicate case ids are an error (they would share one case folder)."""
    root = Path(root)
    if not root.is_dir():
        raise CaseFolderError(f"{root}: not a folder. Pass a folder of SWI NIfTI/NRRD files or a BIDS dataset.")
    if is_bids(root):
        found = [p for pat in ("sub-*/anat/*", "sub-*/ses-*/anat/*") for p in root.glob(pat)
                 if _is_image(p) and ("_swi." in p.name.lower() or "swi" in p.name.lower())]
        inputs = [BatchInput(bids_case_id(p), p) for p in found]
    else:
        inputs = [BatchInput(case_id_from_path(p), p) for p in root.iterdir() if _is_image(p)]
    inputs.sort(key=lambda x: x.case_id)
    ids = [x.case_id for x in inputs]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise CaseFolderError(f"{root}: case ids {dup} occur more than once (same file name in two places). "
                              "Rename the files so each case id is unique.")
    return inputs


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` (I counts from 1) -> (I, N)."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ValueError(f"--shard must be I/N with 1 <= I <= N (e.g. 2/4), got {text!r}")
    return int(m.group(1)), int(m.group(2))


def shard(inputs: list[BatchInput], index: int, count: int) -> list[BatchInput]:
    """Cases of shard ``index`` of ``count`` (1-based): every count-th case of the sorted ids, so shards are
    disjoint, cover everything, and are the same on every machine."""
    ordered = sorted(inputs, key=lambda x: x.case_id)
    return [x for n, x in enumerate(ordered) if n % count == index - 1]


def is_finished(folder: Path, input_sha256: str) -> bool:
    """True when the case folder is complete for exactly this input (resume skips it)."""
    try:
        info = read_case_json(folder)
    except CaseFolderError:
        return False
    return info.status == STATUS_COMPLETE and info.input_sha256 == input_sha256 and (folder / SEG_FILE).exists()


def _has_decisions(folder: Path) -> bool:
    log = folder / REVIEW_LOG
    return log.exists() and log.stat().st_size > 0


def process_case(inp: BatchInput, out_root: str | Path, segmenter: Segmenter,
                 regions: RegionAssigner | None = None, limits: CandidateLimits | None = None,
                 copy_image: bool = True, stage: Callable[[str, float, str], None] | None = None,
                 write_probability: bool = False, brain_mask: bool = True) -> Path:
    """SWI -> segmenter -> candidates -> (regions) -> a complete case folder; ``case.json`` is marked complete
    last, so a crash leaves a folder that the next run redoes. Every producer of case folders (``cmbquant run``,
    ``batch``, the Slicer worker) comes through here, so they all write the same files.

    ``stage(name, fraction, message)`` reports progress; ``write_probability`` keeps ``prob.nii.gz``;
    ``brain_mask`` flags (never drops) candidates outside an intracranial mask computed from the image.
    """
    stage = stage or (lambda name, fraction, message: None)
    t0 = time.perf_counter()
    from .export import write_counts
    from .scene import headless_context
    from .segments import create_cmb_segmentation, save_segmentation
    from .volumes import read_image, volume_node_from_array

    folder = Path(out_root) / inp.case_id
    folder.mkdir(parents=True, exist_ok=True)
    stage("read", 0.0, f"reading {inp.path}")
    image, geometry = read_image(inp.path)
    model = dict(getattr(segmenter, "model_info", None) or {"name": type(segmenter).__name__})
    info = new_case_info(inp.case_id, inp.path, geometry, model=model)
    write_case_json(folder, info)  # status: processing
    output = np.asarray(segmenter.segment(image, geometry))
    if output.shape != geometry.shape:
        raise ValueError(f"{inp.path}: the segmenter returned shape {output.shape}, the image is {geometry.shape}")
    limits = limits or CandidateLimits()
    cmb_filter = getattr(segmenter, "cmb_filter", None)
    if cmb_filter is not None:
        stage("postprocess", 0.82, "screening dark spots and scoring candidates (CMB filter)")
        detection = detect(image, geometry, output, cmb_filter, limits)
        records, labels, two_stage = detection.records, detection.labels, detection.summary
    else:
        stage("postprocess", 0.82, "finding candidates")
        records, labels = one_stage_candidates(output, image, geometry, limits, brain_mask)
        two_stage = {"two_stage": False}
    if write_probability and np.issubdtype(output.dtype, np.floating):
        from .volumes import write_image

        write_image(output.astype(np.float32), geometry, folder / "prob.nii.gz")
    if regions is not None:
        stage("regions", 0.85, f"{len(records)} candidates: MARS regions")
        records = regions(records, image, geometry)
        info.region_source = next((r.region_source for r in records if r.region_source), "") or "regions"
    if copy_image:
        copy_input_image(folder, inp.path, image, geometry)
    stage("write", 0.9, f"{len(records)} candidates: writing {folder}")
    ctx = headless_context()
    volume = volume_node_from_array(ctx, image, geometry, inp.case_id)
    seg = create_cmb_segmentation(ctx, volume, labels, records, name=f"{inp.case_id} CMBs")
    save_segmentation(seg, folder / SEG_FILE)
    write_cmbs_csv(folder, records)
    write_counts(folder, records, inp.case_id)
    info.detection = {"threshold": limits.threshold, "min_confidence": limits.min_confidence, "brain_mask": brain_mask,
                      "max_diameter_mm": limits.max_diameter_mm, "n_candidates": len(records),
                      "seconds": round(time.perf_counter() - t0, 2), **two_stage}
    info.status = STATUS_COMPLETE
    write_case_json(folder, info)
    ctx.scene.Clear(1)
    stage("case_done", 1.0, f"{len(records)} CMB candidates in {info.detection['seconds']} s")
    return folder


def one_stage_candidates(output: np.ndarray, image: np.ndarray, geometry: Geometry, limits: CandidateLimits,
                         brain_mask: bool) -> tuple[list[CMBRecord], np.ndarray]:
    """The seed study's path: one candidate per nnU-Net component (no filter), ``outside_brain`` flagged."""
    mask = intracranial_mask(image, geometry.spacing[::-1]) if brain_mask else None
    return find_candidates(output, geometry, image=image, limits=limits, brain_mask=mask)


@dataclass
class BatchReport:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already finished for the same input
    failed: dict[str, str] = field(default_factory=dict)  # case_id -> message
    cohort: Path | None = None
    seconds: float = 0.0


def run_batch(root: str | Path, out_root: str | Path, segmenter: Segmenter, shard_spec: tuple[int, int] = (1, 1),
              regions: RegionAssigner | None = None, limits: CandidateLimits | None = None, force: bool = False,
              progress: Callable[[int, int, str], None] | None = None, write_cohort: bool | None = None,
              copy_image: bool = True) -> BatchReport:
    """Process every (shard's) input not already finished; one case failing never stops the others.

    The cohort table is written only by an unsharded run (``write_cohort`` None); shards leave it to ``merge``.
    A case with review decisions is never redone (its decisions would no longer match), even with ``force``.
    """
    t0 = time.monotonic()
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    todo = shard(discover_inputs(root), *shard_spec)
    report = BatchReport()
    for n, inp in enumerate(todo):
        if progress:
            progress(n, len(todo), inp.case_id)
        folder = out_root / inp.case_id
        try:
            finished = is_finished(folder, sha256_file(inp.path))
            if finished and not force:
                report.skipped.append(inp.case_id)
                continue
            if _has_decisions(folder):
                raise CaseFolderError(f"{folder / REVIEW_LOG}: the case has review decisions but its input changed "
                                      "or the run was forced. Move the case folder away to redo it.")
            process_case(inp, out_root, segmenter, regions, limits, copy_image)
            report.done.append(inp.case_id)
        except Exception as exc:  # noqa: BLE001 - a batch reports every failure and goes on
            report.failed[inp.case_id] = str(exc)
    if progress:
        progress(len(todo), len(todo), "")
    if write_cohort if write_cohort is not None else shard_spec[1] == 1:
        report.cohort = merge(out_root)
    report.seconds = time.monotonic() - t0
    return report


def merge(out_root: str | Path, cohort_path: str | Path | None = None) -> Path:
    """One ``cohort.csv`` from every complete case folder under ``out_root`` (after all shards finished)."""
    from .export import case_folders
    from .export import write_cohort as write

    out_root = Path(out_root)
    folders = [f for f in case_folders(out_root) if _complete(f)]
    return write(folders, cohort_path or out_root / COHORT_FILE)


def _complete(folder: Path) -> bool:
    try:
        return read_case_json(folder).status == STATUS_COMPLETE
    except CaseFolderError:
        return False


def incomplete_cases(out_root: str | Path) -> list[str]:
    """Case folders a batch started but did not finish (crash, or still running in another shard)."""
    from .export import case_folders

    return [f.name for f in case_folders(out_root) if not _complete(f)]


__all__ = [
    "CASE_JSON",
    "BatchInput",
    "BatchReport",
    "RegionAssigner",
    "Segmenter",
    "discover_inputs",
    "incomplete_cases",
    "is_finished",
    "merge",
    "parse_shard",
    "process_case",
    "run_batch",
    "shard",
]
