"""A TID 1500 Measurement Report of a reviewed case (Comprehensive 3D SR, highdicom).

One volumetric measurement group (TID 1411) per exported CMB, referencing its SEG segment: volume, largest
diameter, equivalent-sphere diameter, finding site (lobe / sub-region and side), MARS region and review status.
One image-level group (TID 1501) holds the case's counts, one measurement per cohort count column
(``lobar_definite`` ... ``n_rejected``), so the PACS report shows the same numbers as ``counts.json``.
"""
from __future__ import annotations

from typing import Any

import highdicom as hd
from pydicom.sr.codedict import codes

from CMBQuantLib import __version__
from CMBQuantLib.export.dicom_codes import (
    CATEGORY,
    COUNT_UNIT,
    EQUIVALENT_SPHERE,
    FINDING,
    MM,
    MM3,
    PROCEDURE,
    REGION_CONCEPT,
    STATUS_CONCEPT,
    STATUS_VALUES,
    anatomic_site,
    coding_scheme_item,
    count_concept,
    derived_uid,
    laterality,
    region_value,
)
from CMBQuantLib.export.dicom_seg import MANUFACTURER, SegmentedCMB

COUNTS_TRACKING_ID = "CMB counts by region"


def _algorithm() -> hd.sr.AlgorithmIdentification:
    return hd.sr.AlgorithmIdentification(name="CMBQuant", version=__version__)


def _cmb_group(cmb: SegmentedCMB, seg: Any) -> hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations:
    rec = cmb.record
    site = hd.sr.FindingSite(anatomic_location=anatomic_site(rec), laterality=laterality(rec))
    measurements = [
        hd.sr.Measurement(name=codes.SCT.Volume, value=float(rec.volume_mm3), unit=MM3, algorithm_id=_algorithm()),
        hd.sr.Measurement(name=codes.SCT.Diameter, value=float(rec.diameter_max_mm), unit=MM,
                          derivation=codes.SCT.Maximum, algorithm_id=_algorithm()),
        hd.sr.Measurement(name=codes.SCT.Diameter, value=float(rec.diameter_eq_mm), unit=MM,
                          method=EQUIVALENT_SPHERE, algorithm_id=_algorithm()),
    ]
    evaluations = [hd.sr.QualitativeEvaluation(STATUS_CONCEPT, STATUS_VALUES[rec.status]),
                   hd.sr.QualitativeEvaluation(REGION_CONCEPT, region_value(rec))]
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=cmb.tracking_uid, identifier=cmb.tracking_id),
        referenced_segment=hd.sr.ReferencedSegment.from_segmentation(seg, cmb.segment_number),
        finding_type=FINDING, finding_category=CATEGORY, finding_sites=[site], measurements=measurements,
        qualitative_evaluations=evaluations)


def _counts_group(counts: dict[str, int], series_uid: str) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    measurements = [hd.sr.Measurement(name=count_concept(col), value=float(n), unit=COUNT_UNIT)
                    for col, n in counts.items()]
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=derived_uid(series_uid, "counts"),
                                                     identifier=COUNTS_TRACKING_ID),
        finding_type=FINDING, finding_sites=[hd.sr.FindingSite(codes.SCT.Brain)], algorithm_id=_algorithm(),
        measurements=measurements)


def _observer() -> hd.sr.ObservationContext:
    device = hd.sr.DeviceObserverIdentifyingAttributes(uid=derived_uid("CMBQuant", __version__), name="CMBQuant",
                                                       manufacturer_name=MANUFACTURER, model_name="CMBQuant")
    return hd.sr.ObservationContext(observer_device_context=hd.sr.ObserverContext(
        observer_type=codes.DCM.Device, observer_identifying_attributes=device))


def build_report(source_slices: list[Any], seg: Any | None, cmbs: list[SegmentedCMB], counts: dict[str, int],
                 review_complete: bool, series_number: int = 902) -> hd.sr.Comprehensive3DSR:
    """The SR; ``seg`` is None for a case without accepted CMBs (then only the counts, all zero or possible)."""
    series_uid = str(source_slices[0].SeriesInstanceUID)
    groups: list[Any] = [_cmb_group(c, seg) for c in cmbs] if seg is not None else []
    groups.append(_counts_group(counts, series_uid))
    report = hd.sr.MeasurementReport(observation_context=_observer(), procedure_reported=PROCEDURE,
                                     imaging_measurements=groups, referenced_images=source_slices)
    evidence = list(source_slices) + ([seg] if seg is not None else [])
    sr = hd.sr.Comprehensive3DSR(
        evidence=evidence, content=report[0], series_instance_uid=hd.UID(), series_number=series_number,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer=MANUFACTURER, is_complete=review_complete,
        is_final=False, is_verified=False)
    sr.SeriesDescription = "CMBQuant CMB measurements"
    sr.CodingSchemeIdentificationSequence = [coding_scheme_item()]
    return sr
