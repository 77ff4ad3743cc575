"""Test material for the DICOM export: an SWI DICOM series (MR Image Storage, one file per slice) written with
pydicom from a small oblique phantom, and a case folder made from it by the real pipeline with an ORACLE
segmenter (the phantom's ground truth), so the exported SEG can be checked against known CMBs."""
from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import numpy as np
from review_helpers import OracleGroundTruthSegmenter

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.pipeline.process_case import BatchInput, process_case

PATIENT_NAME = "Doe^Jane"  # test-only identifiers: must never appear in logs or de-identified files
PATIENT_ID = "PAT-0042"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
LPS = np.diag([-1.0, -1.0, 1.0])


@functools.lru_cache(maxsize=1)
def small_phantom():
    """64 x 64 x 20 voxels, 2 x 2 x 4 mm, tilted (oblique): 8 CMBs of 4-8 mm (about 7 s to build)."""
    from CMBQuantLib.phantoms.phantom import PhantomConfig, builtin_phantom

    cfg = PhantomConfig(n_cmbs=8, diameter_mm=(4.0, 8.0), spacing=(2.0, 2.0, 4.0), shape=(64, 64, 20),
                        rotation_deg=(8.0, 0.0, 5.0), n_sulcal_veins=10, n_medullary_veins=5, n_crossing_vessels=2)
    return builtin_phantom(3, cfg)


def _ds(value: float) -> str:
    from pydicom.valuerep import format_number_as_ds

    return format_number_as_ds(float(value))


def write_swi_series(image: np.ndarray, geometry: Geometry, folder: Path, uid_root: str = "1.2.826.0.1.3680043.10.9999"
                     ) -> list[Path]:
    """One MR Image Storage file per slice k (file names shuffled against slice order, as PACS exports are)."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    lps = LPS @ geometry.ijk_to_ras[:3, :]
    row, col, slc = (lps[:, n] / np.linalg.norm(lps[:, n]) for n in range(3))
    if np.dot(np.cross(row, col), slc) <= 0:
        raise ValueError("fixture needs slices stacked along the row x column normal")
    spacing = geometry.spacing
    study, series, frame = (generate_uid(prefix=f"{uid_root}.{n}.") for n in (1, 2, 3))
    pixels = np.clip(np.rint(image * 1000.0), 0, 65535).astype(np.uint16)
    paths = []
    for k in range(geometry.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
        meta.MediaStorageSOPInstanceUID = generate_uid(prefix=f"{uid_root}.4.")
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = _slice_dataset(meta, pixels[k], study, series, frame, k)
        ds.ImageOrientationPatient = [_ds(v) for v in (*row, *col)]
        ds.ImagePositionPatient = [_ds(v) for v in lps @ np.array([0.0, 0.0, k, 1.0])]
        ds.PixelSpacing = [_ds(spacing[1]), _ds(spacing[0])]
        ds.SliceThickness = _ds(spacing[2])
        ds.SpacingBetweenSlices = _ds(spacing[2])
        path = folder / f"IM{(k * 7) % geometry.shape[0]:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _slice_dataset(meta, pixels: np.ndarray, study: str, series: str, frame: str, k: int):
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = PATIENT_NAME, PATIENT_ID, "19500101", "F"
    ds.StudyInstanceUID, ds.StudyDate, ds.StudyTime, ds.StudyID = study, "20240102", "101500", "S1"
    ds.ReferringPhysicianName, ds.AccessionNumber, ds.InstitutionName = "Smith^John", "ACC123", "Test Hospital"
    ds.Modality, ds.SeriesInstanceUID, ds.SeriesNumber, ds.SeriesDescription = "MR", series, 5, "SWI"
    ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = frame, ""
    ds.Manufacturer, ds.InstanceNumber = "PhantomScanner", k + 1
    ds.ImageType, ds.PatientPosition, ds.BodyPartExamined = ["ORIGINAL", "PRIMARY", "OTHER"], "HFS", "BRAIN"
    ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions, ds.MRAcquisitionType = "GR", "SP", "", "3D"
    ds.RepetitionTime, ds.EchoTime, ds.EchoTrainLength, ds.MagneticFieldStrength = "28", "20", 1, "3"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = (int(n) for n in pixels.shape)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    return ds


# TEST STAND-IN for the region stage: regions by CMB id, so every MARS region, lobe and side is exported.
TEST_REGIONS = (("lobar", "frontal", "L"), ("deep", "thalamus", "R"), ("infratentorial", "cerebellum", "L"),
                ("lobar", "", "R"), ("deep", "basal_ganglia", "L"), ("lobar", "occipital", "R"))


def regions_by_id(records: list[CMBRecord], image: np.ndarray, geometry: Geometry) -> list[CMBRecord]:
    for rec in records:
        rec.region, rec.lobe, rec.side = TEST_REGIONS[(rec.cmb_id - 1) % len(TEST_REGIONS)]
        rec.region_source = "test"
    return records


def dicom_case(tmp_path: Path, case_id: str = "case01") -> tuple[Path, Path]:
    """(DICOM series folder, case folder made from it by ``process_case`` with the phantom's oracle)."""
    p = small_phantom()
    series = tmp_path / "dicom" / case_id
    write_swi_series(p.image, p.geometry, series)
    case = process_case(BatchInput(case_id, series), tmp_path / "cases", OracleGroundTruthSegmenter(p.cmb_labels),
                        regions=regions_by_id)
    return series, case


def dciodvfy_errors(path: Path) -> tuple[list[str], list[str]]:
    """(errors, warnings) that dicom3tools' ``dciodvfy`` reports for one file."""
    exe = shutil.which("dciodvfy")
    assert exe, "dciodvfy not installed"
    out = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=120)
    lines = (out.stdout + out.stderr).splitlines()
    return [ln for ln in lines if ln.startswith("Error")], [ln for ln in lines if ln.startswith("Warning")]


# The review every round-trip test starts from: by CMB id (1-based, in cmb_id order).
REVIEW = {1: "definite", 2: "definite", 3: "definite", 4: "definite", 5: "possible", 6: "definite", 7: "rejected"}


@functools.lru_cache(maxsize=1)
def reviewed_dicom_case() -> tuple[Path, Path]:
    """(series, case) built and reviewed once per process (CMB 8 left pending); tests copy what they change."""
    import atexit
    import tempfile

    from CMBQuantLib.review.session import ReviewSession

    work = Path(tempfile.mkdtemp(prefix="cmbq-dicom-"))
    atexit.register(shutil.rmtree, work, True)
    series, case = dicom_case(work)
    session = ReviewSession.open(case, "alice", auto_advance=False)
    for cmb_id, status in REVIEW.items():
        session.decide(status, reason="vessel" if status == "rejected" else "", cmb_id=cmb_id)
    return series, case
