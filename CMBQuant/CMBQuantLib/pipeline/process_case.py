"""One SWI into one case folder: the stages in flow order (detection -> candidates -> segments -> regions -> counts),
resumable (a ``complete`` case with the same input sha256 is skipped) and never overwriting a reviewed case.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from CMBQuantLib.core.atomic import atomic_write_bytes
from CMBQuantLib.core.case_folder import (
    REVIEW_LOG,
    SEG_FILE,
    STATUS_COMPLETE,
    CaseFolderError,
    new_case_info,
    read_case_json,
    write_case_json,
    write_cmbs_csv,
)
from CMBQuantLib.core.counts import write_counts
from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.core.scene import headless_context
from CMBQuantLib.core.segments import create_cmb_segmentation, save_segmentation
from CMBQuantLib.detection.candidates import CandidateLimits, find_candidates
from CMBQuantLib.detection.candidates import brain_mask as intracranial_mask
from CMBQuantLib.detection.two_stage import detect
from CMBQuantLib.pipeline.case_staging import staged_case_folder
from CMBQuantLib.pipeline.provenance import filter_version, model_version
from CMBQuantLib.regions.assign import assign_with_qc, with_parcellation
from CMBQuantLib.regions.overlay import OVERLAY_FILE
from CMBQuantLib.volumes.case_open import copy_input_image
from CMBQuantLib.volumes.dicom_series import dicom_series_identity
from CMBQuantLib.volumes.images import read_image, volume_node_from_array, write_image
from CMBQuantLib.volumes.phase_image import phase_into_case


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
    parcellation: Path | None = None  # the subject's own label map (BIDS derivatives): used instead of the template
    phase: Path | None = None  # the SWI phase (--phase, BIDS part-phase): resampled into the case as phase.nii.gz


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
    """SWI -> segmenter -> candidates -> (regions) -> a complete case folder. The case is written into a hidden
    sibling folder and renamed into place (``case_staging``), so a crash or a killed worker never leaves a half
    case folder, and the next run redoes it. Every producer of case folders (``cmbquant run``, ``batch``, the
    Slicer worker) comes through here, so they all write the same files.

    ``stage(name, fraction, message)`` reports progress; ``write_probability`` keeps ``prob.nii.gz``;
    ``brain_mask`` flags (never drops) candidates outside an intracranial mask computed from the image.
    """
    final = Path(out_root) / inp.case_id
    with staged_case_folder(final) as folder:
        _write_case(inp, folder, segmenter, regions, limits, copy_image, stage, write_probability, brain_mask)
    return final


def _write_case(inp: BatchInput, folder: Path, segmenter: Segmenter, regions: RegionAssigner | None,
                limits: CandidateLimits | None, copy_image: bool, stage: Callable[[str, float, str], None] | None,
                write_probability: bool, brain_mask: bool) -> None:
    """The stages in flow order, into ``folder``; ``case.json`` is marked complete last."""
    stage = stage or (lambda name, fraction, message: None)
    t0 = time.perf_counter()
    stage("read", 0.0, f"reading {inp.path}")
    image, geometry = read_image(inp.path)
    model = dict(getattr(segmenter, "model_info", None) or {"name": type(segmenter).__name__})
    info = new_case_info(inp.case_id, inp.path, geometry, model=model)
    cmb_filter = getattr(segmenter, "cmb_filter", None)
    info.model_version = model_version(model)
    info.filter_version = filter_version(cmb_filter.info() if cmb_filter is not None else None)
    info.dicom_source = dicom_series_identity(inp.path) if Path(inp.path).is_dir() else {}
    write_case_json(folder, info)  # status: processing
    if inp.phase is not None:  # checked before detection: a bad phase file fails in seconds, not after the model
        stage("read", 0.01, f"phase: resampling {inp.phase} to the SWI grid")
        info.phase = phase_into_case(inp.phase, geometry, folder)
    output = np.asarray(segmenter.segment(image, geometry))
    if output.shape != geometry.shape:
        raise ValueError(f"{inp.path}: the segmenter returned shape {output.shape}, the image is {geometry.shape}")
    limits = limits or CandidateLimits()
    if cmb_filter is not None:
        stage("postprocess", 0.82, "screening dark spots and scoring candidates (CMB filter)")
        detection = detect(image, geometry, output, cmb_filter, limits)
        records, labels, two_stage = detection.records, detection.labels, detection.summary
    else:
        stage("postprocess", 0.82, "finding candidates")
        records, labels = one_stage_candidates(output, image, geometry, limits, brain_mask)
        two_stage = {"two_stage": False}
    if write_probability and np.issubdtype(output.dtype, np.floating):

        write_image(output.astype(np.float32), geometry, folder / "prob.nii.gz")
    if regions is not None:
        stage("regions", 0.85, f"{len(records)} candidates: MARS regions")
        assigner = with_parcellation(regions, inp.parcellation)
        outcome = assign_with_qc(assigner, records, image, geometry)
        parcellation = getattr(assigner, "parcellation_path", None)  # kept: a CMB added in review is looked up there
        info.parcellation_file = str(Path(parcellation).resolve()) if parcellation else ""
        records = outcome.records
        info.region_source = next((r.region_source for r in records if r.region_source), "") or "regions"
        info.region_qc = outcome.qc  # template path: registration QC (docs/regions.md)
        if outcome.overlay_png:
            atomic_write_bytes(folder / OVERLAY_FILE, outcome.overlay_png)
    if copy_image:
        copy_input_image(folder, inp.path, image, geometry)
    stage("write", 0.9, f"{len(records)} candidates: writing {folder.parent / inp.case_id}")
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


def one_stage_candidates(output: np.ndarray, image: np.ndarray, geometry: Geometry, limits: CandidateLimits,
                         brain_mask: bool) -> tuple[list[CMBRecord], np.ndarray]:
    """The seed study's path: one candidate per nnU-Net component (no filter), ``outside_brain`` flagged."""
    mask = intracranial_mask(image, geometry.spacing[::-1]) if brain_mask else None
    return find_candidates(output, geometry, image=image, limits=limits, brain_mask=mask)

