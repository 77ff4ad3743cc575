"""A DICOM SEG of a reviewed case: one segment per accepted CMB, drawn on the source SWI instances (highdicom).

Segment n is ``CMB <id>`` with the CMB's tracking id and a tracking UID derived from the source series and the
CMB id, so the SR's measurement groups and a later export name the same lesion. Frames are the source slices
(empty ones omitted), so a PACS viewer overlays each CMB on exactly the slices it was found on.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import highdicom as hd
import numpy as np
from pydicom.sr.codedict import codes

from CMBQuantLib import __version__
from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.core.segments import segment_name
from CMBQuantLib.export.dicom_codes import CATEGORY, FINDING, anatomic_site, coding_scheme_item, derived_uid

MANUFACTURER = "CMBQuant"


@dataclass
class SegmentedCMB:
    """One exported segment: the record it came from and its number and tracking UID in the SEG."""

    record: CMBRecord
    segment_number: int
    tracking_uid: str

    @property
    def tracking_id(self) -> str:
        return segment_name(self.record.cmb_id)


def segmented_cmbs(records: list[CMBRecord], series_uid: str) -> list[SegmentedCMB]:
    """Segment numbers 1..N in CMB id order (DICOM needs them consecutive; CMB ids have gaps after deletions)."""
    ordered = sorted(records, key=lambda r: r.cmb_id)
    return [SegmentedCMB(r, n, derived_uid(series_uid, "cmb", str(r.cmb_id))) for n, r in enumerate(ordered, 1)]


def algorithm() -> hd.AlgorithmIdentificationSequence:
    return hd.AlgorithmIdentificationSequence(name="CMBQuant", family=codes.cid7162.ArtificialIntelligence,
                                              version=__version__)


def _description(cmb: SegmentedCMB) -> hd.seg.SegmentDescription:
    # Every accepted CMB was confirmed by a reader: the detector proposed it, a person decided (semi-automatic).
    return hd.seg.SegmentDescription(
        segment_number=cmb.segment_number, segment_label=cmb.tracking_id, segmented_property_category=CATEGORY,
        segmented_property_type=FINDING, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC,
        algorithm_identification=algorithm(), tracking_uid=cmb.tracking_uid, tracking_id=cmb.tracking_id,
        anatomic_regions=[anatomic_site(cmb.record)])


def build_segmentation(source_slices: list[Any], labels: np.ndarray, cmbs: list[SegmentedCMB],
                       series_number: int = 901) -> hd.seg.Segmentation:
    """``labels`` [k, j, i] holds CMB ids on the case grid; slice k is ``source_slices[k]``."""
    if labels.shape != (len(source_slices), int(source_slices[0].Rows), int(source_slices[0].Columns)):
        raise ValueError(f"label map {labels.shape} does not match the {len(source_slices)} source slices")
    lut = np.zeros(int(labels.max()) + 1, np.uint16)
    for cmb in cmbs:
        lut[cmb.record.cmb_id] = cmb.segment_number
        if not (labels == cmb.record.cmb_id).any():
            raise ValueError(f"CMB {cmb.record.cmb_id} has no voxels in the case segmentation")
    seg = hd.seg.Segmentation(
        source_images=source_slices, pixel_array=lut[labels], segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[_description(c) for c in cmbs], series_instance_uid=hd.UID(), series_number=series_number,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer=MANUFACTURER, manufacturer_model_name="CMBQuant",
        software_versions=__version__, device_serial_number="none", content_label="CMB",
        content_description="Cerebral microbleeds (CMBQuant, reader-reviewed)", omit_empty_frames=True)
    seg.CodingSchemeIdentificationSequence = [coding_scheme_item()]
    return seg
