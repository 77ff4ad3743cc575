"""Which region path a case takes: the subject's own parcellation when the reader picked one, else the template.

The subject's label map (registered to the SWI) is the more accurate path and always wins; without one the SWI is
registered to the MNI template and the region atlas is read there (``assign_regions``' template path).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from CMBQuantLib.core.geometry import Geometry, geometry_of_node
from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.regions.assign import apply_region_map, assign_regions
from CMBQuantLib.regions.parcellation import region_map_from_labels
from CMBQuantLib.volumes.images import array_of


@dataclass(frozen=True)
class SubjectParcellation:
    """A FreeSurfer/SynthSeg label map in the SWI's world space, with the name recorded as the region source."""

    labels: np.ndarray  # [k, j, i]
    geometry: Geometry
    name: str


def parcellation_of_node(node: Any | None) -> SubjectParcellation | None:
    """The label-map volume node the reader selected as a parcellation (None when none is selected)."""
    if node is None:
        return None
    return SubjectParcellation(np.array(array_of(node)), geometry_of_node(node), node.GetName())


def assign_case_regions(records: list[CMBRecord], swi_image: np.ndarray | None, swi_geometry: Geometry | None,
                        parcellation: SubjectParcellation | None = None,
                        template_path: Callable[..., list[CMBRecord]] = assign_regions) -> list[CMBRecord]:
    """Copies of ``records`` with regions, by the subject's parcellation when given, else by the template path."""
    if parcellation is not None:
        region_map = region_map_from_labels(parcellation.labels, parcellation.geometry,
                                            source=f"parcellation:{parcellation.name}")
        return apply_region_map(records, region_map)
    return template_path(records, swi_image=swi_image, swi_geometry=swi_geometry)


def counts_text(counts: dict[str, int]) -> str:
    """The non-zero counts as one line for the panel ("total: 3, lobar: 2, ...")."""
    return ", ".join(f"{k}: {v}" for k, v in counts.items() if v)
