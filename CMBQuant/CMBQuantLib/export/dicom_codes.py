"""The coded concepts the DICOM SEG and SR use: standard codes (SNOMED CT, DCM, LOINC, UCUM) where one exists,
and CMBQuant's own private scheme ``99CMBQ`` for what has none (the MARS region, the review status, the cohort
count columns), declared in each file's Coding Scheme Identification Sequence so a reader can resolve it.

Standard codes come from pydicom's code dictionary, so their values and meanings are never typed by hand.
"""
from __future__ import annotations

import hashlib

from highdicom.sr import CodedConcept
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from CMBQuantLib.core.records import CMBRecord

SCHEME = "99CMBQ"
CATEGORY = codes.SCT.MorphologicallyAbnormalStructure
FINDING = codes.SCT.Hemorrhage  # a cerebral microbleed is a small haemorrhage; the segment label says "CMB"
PROCEDURE = codes.LN.MRIHeadReport
MM3 = CodedConcept("mm3", "UCUM", "cubic millimeter")
MM = CodedConcept("mm", "UCUM", "millimeter")
COUNT_UNIT = CodedConcept("{CMBs}", "UCUM", "CMBs")

_LOBE_SITE = {"frontal": codes.SCT.FrontalLobe, "parietal": codes.SCT.ParietalLobe,
              "temporal": codes.SCT.TemporalLobe, "occipital": codes.SCT.OccipitalLobe, "insula": codes.SCT.Insula,
              "thalamus": codes.SCT.Thalamus, "corpus_callosum": codes.SCT.CorpusCallosum,
              "deep_white_matter": codes.SCT.CerebralWhiteMatter, "cerebellum": codes.SCT.Cerebellum,
              "brainstem": codes.SCT.BrainStem}
_SIDE = {"L": codes.SCT.Left, "R": codes.SCT.Right}
REGIONS = ("lobar", "deep", "infratentorial", "unassigned")


def private(value: str, meaning: str) -> CodedConcept:
    return CodedConcept(value, SCHEME, meaning)


REGION_CONCEPT = private("mars_region", "MARS region")
STATUS_CONCEPT = codes.DCM.CertaintyOfFinding
EQUIVALENT_SPHERE = private("equivalent_sphere", "Equivalent-sphere diameter (6V/pi)^(1/3)")
STATUS_VALUES = {"definite": private("definite", "Definite CMB"), "possible": private("possible", "Possible CMB")}


def region_value(rec: CMBRecord) -> CodedConcept:
    region = rec.region if rec.region in REGIONS else "unassigned"
    return private(region, region.capitalize())


def anatomic_site(rec: CMBRecord):
    """The most specific standard anatomy code for the CMB's lobe / sub-region (Brain when there is none)."""
    return _LOBE_SITE.get(rec.lobe, codes.SCT.Brain)


def laterality(rec: CMBRecord):
    return _SIDE.get(rec.side)


def count_concept(column: str) -> CodedConcept:
    """A cohort count column (``lobar_definite``, ``n_pending`` ...) as a code whose value is the column name."""
    return private(column, column.replace("_", " ").capitalize() + " CMB count")


def derived_uid(*parts: str) -> str:
    """A stable UID from its parts (``2.25.<128-bit hash>``): the same CMB gets the same tracking UID every export."""
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]
    return f"2.25.{int(digest, 16)}"


def coding_scheme_item() -> Dataset:
    item = Dataset()
    item.CodingSchemeDesignator = SCHEME
    item.CodingSchemeName = "CMBQuant cerebral microbleed codes"
    item.CodingSchemeResponsibleOrganization = "CMBQuant"
    return item
