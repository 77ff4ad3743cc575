"""The region of a CMB the reader adds, by the path the case's own CMBs took (``case.json`` ``region_source``).

Without this an added CMB has no region and the regional counts miss it. The region map is built once per open
case, on the first add (a parcellation: read in a second; the template path: one registration), and reused for
every later add; a path that cannot be followed leaves the CMB ``unassigned`` with the reason, never a guess.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.regions.assign import apply_region_map, assign_in_template
from CMBQuantLib.regions.atlas import load_region_atlas
from CMBQuantLib.regions.mapping import load_mapping
from CMBQuantLib.regions.parcellation import RegionMap, load_label_map, region_map_from_labels
from CMBQuantLib.regions.subject_labels import METHODS, DeformableConfig, template_labels_in_subject
from CMBQuantLib.regions.template import TemplateRegistration, register_to_template
from CMBQuantLib.volumes.case_open import OpenCase

REGION_ERRORS = (ValueError, OSError, RuntimeError)  # ParcellationError, AtlasError, RegistrationError among them


@dataclass
class AddedCMBRegions:
    """``annotate`` for ``ReviewSession``: fills region, lobe, side and region_source of one added record."""

    source: str  # the case's region_source: "" (regions off), "parcellation:<name>", "template:<method>", a failure
    parcellation_file: str
    image: np.ndarray | None
    geometry: Geometry
    _map: RegionMap | None = field(default=None, repr=False)
    _registration: TemplateRegistration | None = field(default=None, repr=False)
    _failure: str = field(default="", repr=False)

    @classmethod
    def for_case(cls, case: OpenCase) -> AddedCMBRegions:
        info = case.info
        return cls(info.region_source or "", getattr(info, "parcellation_file", "") or "", case.image, case.geometry)

    def __call__(self, record: CMBRecord) -> CMBRecord:
        if not self.source or self.source == "regions":  # the case has no regions (--regions none, plug-in): none
            return record
        if self._map is None and not self._failure:
            try:
                self._build()
            except REGION_ERRORS as exc:
                self._failure = f"region of an added CMB: {str(exc).splitlines()[0]}"
        if self._failure:
            return replace(record, region="unassigned", lobe="", side="", region_source=self._failure)
        if self._registration is not None:
            return assign_in_template([record], self._registration, self._map)[0]
        return apply_region_map([record], self._map)[0]

    def _build(self) -> None:
        """The case's region map (and, on the affine template path, its registration)."""
        if self.source.startswith("parcellation:"):
            path = Path(self.parcellation_file) if self.parcellation_file else None
            if path is None or not path.exists():
                raise ValueError(f"the case's parcellation {path or self.source.split(':', 1)[1]} is not at hand; "
                                 "run `cmbquant regions` with --parcellation on the case to assign it")
            labels, geometry = load_label_map(path)
            self._map = region_map_from_labels(labels, geometry, load_mapping(None), source=self.source)
            return
        if not self.source.startswith("template:"):  # the case's own registration failed: so does this one
            raise ValueError(self.source)
        if self.image is None:
            raise ValueError("the template path needs the case's SWI (image.nii.gz), which is not at hand")
        method = self.source.split(":", 1)[1]
        if method in METHODS:
            found = template_labels_in_subject(self.image, self.geometry, DeformableConfig(method=method))
            if found.region_map is None:
                raise ValueError(f"template registration failed QC: {found.qc.reason}")
            self._map = found.region_map
            return
        self._map = load_region_atlas(method)
        self._registration = register_to_template(self.image, self.geometry)
