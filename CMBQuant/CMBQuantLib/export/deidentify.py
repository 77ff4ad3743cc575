"""De-identification of the exported DICOM files: applied to copies of the source slices before the SEG and SR are
built from them, so every exported file (SEG, SR and the optional source copy) carries the same pseudonym and,
when UIDs are remapped, the same new UIDs: the references between them still resolve.

A subset of PS3.15's Basic Application Confidentiality Profile (names, IDs, dates, institutions, private tags),
not a certified implementation: ``DeidentificationMethod`` says exactly what was done. Patient data never goes
into a log or an error message.
"""
from __future__ import annotations

import copy
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

DICOM_ROOT = "1.2.840.10008."  # well-known UIDs (SOP classes, transfer syntaxes): never remapped
KEPT_UIDS = ("ImplementationClassUID", "CodingSchemeUID", "ContextUID", "MappingResourceUID")  # name software/codes
EMPTIED = ("PatientBirthDate", "PatientSex", "ReferringPhysicianName", "AccessionNumber", "StudyID")
REMOVED = ("PatientAge", "PatientBirthTime", "PatientAddress", "PatientTelephoneNumbers", "OtherPatientIDs",
           "OtherPatientIDsSequence", "OtherPatientNames", "PatientMotherBirthName", "MedicalRecordLocator",
           "IssuerOfPatientID", "PatientComments", "AdditionalPatientHistory", "EthnicGroup", "Occupation",
           "MilitaryRank", "BranchOfService", "CountryOfResidence", "RegionOfResidence", "ResponsiblePerson",
           "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "StationName", "OperatorsName",
           "PerformingPhysicianName", "PhysiciansOfRecord", "NameOfPhysiciansReadingStudy", "RequestingPhysician",
           "DeviceSerialNumber", "RequestAttributesSequence", "ReferencedPatientSequence", "StudyDescription",
           "AdmittingDiagnosesDescription", "ProtocolName", "RequestedProcedureDescription")
DATES = ("StudyDate", "StudyTime")  # type 2: emptied
OTHER_DATES = ("SeriesDate", "SeriesTime", "AcquisitionDate", "AcquisitionTime", "ContentDate", "ContentTime",
               "AcquisitionDateTime", "InstanceCreationDate", "InstanceCreationTime")


@dataclass(frozen=True)
class DeidentifyOptions:
    """What to change in the exported files. Empty ``patient_name``/``patient_id`` become the case id (the
    name as ``<case id>^``).

    ``remap_uids``: replace study/series/instance/frame-of-reference UIDs by ``2.25.<hash(salt, uid)>``; the same
    ``uid_salt`` (keep it secret) gives the same UIDs in every export, so exports of one study still match; no salt
    draws a random one (consistent within this export only). ``remap_uids=False`` keeps the UIDs, so the SEG and SR
    still attach to the original series in the hospital's PACS.
    """

    patient_name: str = ""
    patient_id: str = ""
    keep_dates: bool = False
    remap_uids: bool = False
    uid_salt: str = ""


def deidentified_copies(datasets: list[Any], options: DeidentifyOptions, case_id: str) -> list[Any]:
    """De-identified deep copies of the source slices (the originals are not touched)."""
    salt = options.uid_salt or secrets.token_hex(16)
    out = []
    for ds in datasets:
        ds = copy.deepcopy(ds)
        _replace_identity(ds, options, case_id)
        if options.remap_uids:
            remap_uids(ds, salt)
        out.append(ds)
    return out


def _replace_identity(ds: Any, options: DeidentifyOptions, case_id: str) -> None:
    ds.remove_private_tags()
    ds.PatientName = options.patient_name or f"{case_id}^"  # a one-component person name
    ds.PatientID = options.patient_id or case_id
    for keyword in EMPTIED + (() if options.keep_dates else DATES):
        setattr(ds, keyword, "")
    for keyword in REMOVED + (() if options.keep_dates else OTHER_DATES):
        if keyword in ds:
            delattr(ds, keyword)
    mark_deidentified(ds, options)


def mark_deidentified(ds: Any, options: DeidentifyOptions) -> None:
    """The Patient module's de-identification attributes (also set on the SEG and SR built from the copies)."""
    ds.PatientIdentityRemoved = "YES"
    ds.LongitudinalTemporalInformationModified = "UNMODIFIED" if options.keep_dates else "REMOVED"
    ds.DeidentificationMethod = describe(options)


def describe(options: DeidentifyOptions) -> str:
    """The ``DeidentificationMethod`` text (LO, at most 64 characters)."""
    parts = ["CMBQuant: name/ID replaced", "PHI removed"]
    parts.append("dates kept" if options.keep_dates else "dates removed")
    parts.append("UIDs remapped" if options.remap_uids else "UIDs kept")
    return "; ".join(parts)[:64]


def new_uid(uid: str, salt: str) -> str:
    digest = hashlib.sha256(f"{salt}|{uid}".encode()).hexdigest()[:32]
    return f"2.25.{int(digest, 16)}"


def remap_uids(ds: Any, salt: str) -> None:
    """Every UID element (nested sequences and file meta included) except the standard's own well-known UIDs."""
    elements = list(ds.iterall())
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        elements += list(meta.iterall())
    for elem in elements:
        if elem.VR == "UI" and elem.value and elem.keyword not in KEPT_UIDS:
            if elem.VM > 1:
                elem.value = [v if str(v).startswith(DICOM_ROOT) else new_uid(str(v), salt) for v in elem.value]
            elif not str(elem.value).startswith(DICOM_ROOT):
                elem.value = new_uid(str(elem.value), salt)
