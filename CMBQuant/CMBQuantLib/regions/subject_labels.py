"""The deformable template path: the MNI aparc+aseg warped into the subject, then MARS rules in subject space.

Steps (timings and QC values go to case.json):
1. brain mask of the SWI (``brain_extraction``);
2. affine to ICBM152 (``template.register_to_template``, five pitch starts) and its failure checks;
3. the mask constrained by the affinely placed template intracranial volume (leaks and misses repaired);
4. SyN (``deformable``, default) or B-spline (``bspline``) of the T1-like label template onto the brain;
5. QC (``registration_qc``): brain Dice, normalised MI, brain in the field of view, brain cut by it;
6. the template labels pulled onto a 1 mm grid on the SWI's axes, their cortex / white-matter split re-drawn from
   the SWI's own intensities (``tissue_refine``), then ``region_map_from_labels``: the same table and white-matter
   rules as a subject parcellation, measured in the subject's millimetres.
A failed step never yields a region map: ``SubjectLabels.region_map`` is None and ``qc.reason`` says why.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from CMBQuantLib.core.geometry import Geometry, geometry_from_sitk, sitk_from_array
from CMBQuantLib.regions.brain_extraction import constrain_to_prior, extract_brain, grid_over
from CMBQuantLib.regions.bspline import BSplineConfig, register_bspline
from CMBQuantLib.regions.deformable import SynConfig, register_syn
from CMBQuantLib.regions.label_template import LabelTemplate, load_label_template
from CMBQuantLib.regions.mapping import MarsEntry
from CMBQuantLib.regions.overlay import overlay_png
from CMBQuantLib.regions.parcellation import RegionMap, RegionRules, region_map_from_labels
from CMBQuantLib.regions.registration_qc import QCThresholds, RegistrationQC, decide, dice, image_agreement
from CMBQuantLib.regions.template import RegistrationConfig, RegistrationError, check_registration, register_to_template
from CMBQuantLib.regions.tissue_refine import RefineConfig, refine_cortex

METHODS = ("syn", "bspline")
MIN_BRAIN_ML = 300.0  # a mask smaller than this is no brain (a neonate's is ~400 ml)


@dataclass(frozen=True)
class DeformableConfig:
    """Everything the deformable path can be tuned by; defaults as measured in docs/regions.md."""

    method: str = "syn"
    working_spacing_mm: float = 2.0
    label_spacing_mm: float = 1.0
    affine: RegistrationConfig = field(default_factory=lambda: RegistrationConfig(
        pitch_starts_deg=(-20.0, -10.0, 0.0, 10.0, 20.0)))
    syn: SynConfig = field(default_factory=SynConfig)
    bspline: BSplineConfig = field(default_factory=BSplineConfig)
    qc: QCThresholds = field(default_factory=QCThresholds)
    refine: RefineConfig = field(default_factory=RefineConfig)
    prior_inner_mm: float = 5.0
    prior_outer_mm: float = 10.0
    overlay: bool = True


@dataclass
class SubjectLabels:
    """Region map on the subject's 1 mm grid (None when QC failed), the QC record and the overlay PNG."""

    region_map: RegionMap | None
    qc: RegistrationQC
    overlay_png: bytes | None = None

    @property
    def source(self) -> str:
        return f"template:{self.qc.method}"


def template_labels_in_subject(image: np.ndarray, geometry: Geometry, config: DeformableConfig | None = None,
                               rules: RegionRules | None = None, template: LabelTemplate | None = None,
                               table: dict[int, MarsEntry] | None = None) -> SubjectLabels:
    """Warp the label template into this SWI and build its MARS region map there (or say why not)."""
    cfg = config or DeformableConfig()
    if cfg.method not in METHODS:
        raise ValueError(f"unknown deformable method {cfg.method!r} (use one of {METHODS})")
    qc = RegistrationQC(cfg.method)
    clock = _Clock(qc.seconds)
    brain = extract_brain(image, geometry, cfg.working_spacing_mm)
    clock.lap("brain_mask")
    qc.brain_volume_ml = round(brain.volume_ml, 1)
    qc.cut_cm2 = max(brain.cut_faces.values(), default=0.0)
    if brain.volume_ml < MIN_BRAIN_ML:
        return _failed(qc, f"no brain found in the image (mask {brain.volume_ml:.0f} ml)")
    if not decide(qc, cfg.qc).passed:  # a brain cut by the field of view: no registration is tried
        return SubjectLabels(None, qc)
    tpl = template or load_label_template()
    clock.lap("template")
    affine = register_to_template(image, geometry, cfg.affine, check=False)
    clock.lap("affine")
    qc.affine_scales = [round(float(v), 3) for v in affine.singular_values]
    qc.brain_in_fov = affine.brain_in_fov
    try:
        check_registration(affine, cfg.affine)
    except RegistrationError as exc:
        return _failed(qc, f"affine: {str(exc).split(' Check that')[0]}")
    to_template = affine.transform.GetInverse()  # subject points -> template points
    prior = sitk.Resample(tpl.brain, brain.fov_mask, to_template, sitk.sitkNearestNeighbor, 0)
    qc.affine_dice = dice(sitk.GetArrayViewFromImage(prior) > 0, sitk.GetArrayViewFromImage(brain.fov_mask) > 0)
    if not decide(qc, cfg.qc).passed:
        return SubjectLabels(None, qc)
    work = constrain_to_prior(brain, prior, cfg.prior_inner_mm, cfg.prior_outer_mm)
    qc.mask_prior = {"added_ml": round(work.prior_added_ml, 1), "removed_ml": round(work.prior_removed_ml, 1)}
    clock.lap("mask_prior")
    warp = _register(work.image, tpl, to_template, cfg)
    try:
        clock.lap(cfg.method)
        warped_brain = warp.pull(tpl.brain, work.mask, labels=True)
        warped_image = warp.pull(tpl.image, work.image, labels=False)
        qc.brain_dice, qc.similarity = image_agreement(work.image, work.mask, warped_image, warped_brain)
        qc.warp_p95_mm = float(np.percentile(warp.displacement_mm(work.mask), 95))
        decide(qc, cfg.qc)
        if not qc.passed:
            return SubjectLabels(None, qc)
        ref = grid_over(work.mask, work.mask, cfg.label_spacing_mm)
        labels = sitk.GetArrayFromImage(warp.pull(tpl.labels, ref, labels=True)).astype(np.int32)
    finally:
        warp.close()
    swi = _on_grid(image, geometry, ref)
    refined = refine_cortex(labels, swi, np.array(ref.GetSpacing())[::-1], cfg.refine)
    qc.refine = refined.notes
    clock.lap("refine")
    region_map = region_map_from_labels(refined.labels, geometry_from_sitk(ref), table, rules,
                                        source=f"template:{cfg.method}")
    clock.lap("region_map")
    png = overlay_png(swi, region_map.codes) if cfg.overlay else None
    clock.lap("overlay")
    qc.seconds["total"] = round(sum(qc.seconds.values()), 2)
    return SubjectLabels(region_map, qc, png)


def _register(fixed: sitk.Image, tpl: LabelTemplate, to_template: sitk.Transform, cfg: DeformableConfig):
    if cfg.method == "bspline":
        return register_bspline(fixed, tpl.image, to_template, cfg.bspline)
    return register_syn(fixed, tpl.image, to_template, cfg.syn)


def _on_grid(image: np.ndarray, geometry: Geometry, ref: sitk.Image) -> np.ndarray:
    swi = sitk.Resample(sitk.Cast(sitk_from_array(np.asarray(image, np.float32), geometry), sitk.sitkFloat32), ref,
                        sitk.Transform(), sitk.sitkLinear, 0.0)
    return sitk.GetArrayFromImage(swi)


def _failed(qc: RegistrationQC, reason: str) -> SubjectLabels:
    qc.passed, qc.reason = False, reason
    return SubjectLabels(None, qc)


class _Clock:
    """Seconds per step into ``store`` (no global timer)."""

    def __init__(self, store: dict):
        self.store, self.t = store, time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.store[name] = round(now - self.t, 2)
        self.t = now
