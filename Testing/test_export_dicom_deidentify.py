"""De-identified DICOM export: no patient data in the exported files or in the logs, and UIDs that stay
consistent: the SEG and SR reference the de-identified source copy, and the same salt gives the same UIDs."""
from __future__ import annotations

import logging

import pytest

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("highdicom")

from dicom_series_fixture import PATIENT_ID, PATIENT_NAME, reviewed_dicom_case  # noqa: E402

from CMBQuantLib.commands.cli import main  # noqa: E402
from CMBQuantLib.core.case_folder import read_case_json  # noqa: E402
from CMBQuantLib.export.deidentify import DeidentifyOptions  # noqa: E402
from CMBQuantLib.export.dicom_export import export_dicom  # noqa: E402
from CMBQuantLib.export.dicom_options import DicomExportOptions  # noqa: E402
from CMBQuantLib.volumes.images import read_image  # noqa: E402

PHI = (PATIENT_NAME, PATIENT_ID, "19500101", "Test Hospital", "ACC123", "Smith^John", "20240102")


def _export(case, out, salt="s3cret", remap=True):
    args = ["-v", "export-dicom", str(case), "--out", str(out), "--include-possible", "--deidentify",
            "--patient-name", "Anon^001", "--with-source"]
    return main(args + (["--remap-uids", "--uid-salt", salt] if remap else []))


def test_deidentified_files_and_logs_hold_no_patient_data_and_uids_are_remapped(tmp_path, caplog, capsys):
    _, case = reviewed_dicom_case()
    src = read_case_json(case).dicom_source
    caplog.set_level(logging.DEBUG)
    assert _export(case, tmp_path / "a") == 0
    printed = capsys.readouterr()
    files = sorted((tmp_path / "a").rglob("*.dcm"))
    assert len(files) == 2 + len(src["sop_instance_uids"])
    secrets = PHI + (src["study_instance_uid"], src["series_instance_uid"], src["sop_instance_uids"][0],
                     src["frame_of_reference_uid"])
    for path in files:
        data = path.read_bytes()
        assert not [s for s in secrets if s.encode() in data], path.name
    assert not [s for s in PHI if s in printed.out + printed.err + caplog.text]
    seg = pydicom.dcmread(tmp_path / "a" / "case01_seg.dcm", stop_before_pixels=True)
    assert (str(seg.PatientName), seg.PatientID, seg.PatientBirthDate, seg.PatientIdentityRemoved) == (
        "Anon^001", "case01", "", "YES")


def test_deidentified_seg_references_the_deidentified_source_copy(tmp_path):
    _, case = reviewed_dicom_case()
    out = export_dicom(case, tmp_path, DicomExportOptions(
        include_possible=True, write_source=True, deidentify=DeidentifyOptions(remap_uids=True, uid_salt="k")))
    copies = [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(out.source.iterdir())]
    seg = pydicom.dcmread(out.seg, stop_before_pixels=True)
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == copies[0].SeriesInstanceUID
    assert (seg.StudyInstanceUID, seg.FrameOfReferenceUID) == (copies[0].StudyInstanceUID,
                                                               copies[0].FrameOfReferenceUID)
    referenced = {i.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
                  for i in seg.PerFrameFunctionalGroupsSequence}
    assert referenced <= {str(ds.SOPInstanceUID) for ds in copies}
    assert all(ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID for ds in copies)
    geometry = read_image(out.source)[1]  # the de-identified series still has the case grid, exactly
    assert geometry.same_as(read_case_json(case).geometry_obj(), tol=1e-4)
    assert str(copies[0].PatientName) == "case01^" and "InstitutionName" not in copies[0]


def test_the_same_salt_gives_the_same_uids_and_keeping_uids_keeps_the_pacs_references(tmp_path):
    _, case = reviewed_dicom_case()
    src = read_case_json(case).dicom_source
    assert _export(case, tmp_path / "a") == 0 and _export(case, tmp_path / "b") == 0
    assert _export(case, tmp_path / "c", salt="other") == 0
    assert _export(case, tmp_path / "kept", remap=False) == 0
    series = {name: pydicom.dcmread(tmp_path / name / "case01_seg.dcm", stop_before_pixels=True)
              .ReferencedSeriesSequence[0].SeriesInstanceUID for name in ("a", "b", "c", "kept")}
    assert series["a"] == series["b"] != series["c"]
    assert series["kept"] == src["series_instance_uid"]
    kept = pydicom.dcmread(tmp_path / "kept" / "case01_sr.dcm")
    assert str(kept.PatientName) == "Anon^001" and PATIENT_NAME.encode() not in (
        tmp_path / "kept" / "case01_sr.dcm").read_bytes()


@pytest.mark.skipif(__import__("shutil").which("dciodvfy") is None,
                    reason="dciodvfy (dicom3tools) not installed: ./dev.sh test installs it as root")
def test_deidentified_seg_sr_and_source_copy_pass_dciodvfy(tmp_path):
    from dicom_series_fixture import dciodvfy_errors

    _, case = reviewed_dicom_case()
    assert _export(case, tmp_path) == 0
    for path in (tmp_path / "case01_seg.dcm", tmp_path / "case01_sr.dcm",
                 sorted((tmp_path / "case01_source").iterdir())[0]):
        errors, _ = dciodvfy_errors(path)
        assert errors == [], f"{path.name}: {errors}"
