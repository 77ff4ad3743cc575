"""An SWI DICOM series built from a phantom goes through the pipeline and a review, and comes back out as a DICOM
SEG + TID 1500 SR that pass dciodvfy and read back (highdicom and pydicom) to the reviewed CMBs: the same count,
centroids within a voxel, volumes, and references to the source series and instances."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

hd = pytest.importorskip("highdicom")
pydicom = pytest.importorskip("pydicom")

from dicom_series_fixture import REVIEW, dciodvfy_errors, reviewed_dicom_case  # noqa: E402

from CMBQuantLib.core.case_folder import read_case_json, read_cmbs_csv  # noqa: E402
from CMBQuantLib.export.dicom_export import export_dicom  # noqa: E402
from CMBQuantLib.export.dicom_options import DicomExportOptions  # noqa: E402

LPS = np.diag([-1.0, -1.0, 1.0])
# the fixture's lobes -> SNOMED CT finding site (no SNOMED code for basal ganglia in pydicom's dictionary: Brain)
SITE = {"frontal": "Frontal lobe", "thalamus": "Thalamus", "cerebellum": "Cerebellum", "": "Brain",
        "basal_ganglia": "Brain", "occipital": "Occipital lobe"}
ACCEPTED = sorted(i for i, s in REVIEW.items() if s in ("definite", "possible"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    series, case = reviewed_dicom_case()
    out = export_dicom(case, tmp_path_factory.mktemp("dicom_out"), DicomExportOptions(include_possible=True))
    info = read_case_json(case)
    records = {r.cmb_id: r for r in read_cmbs_csv(case)}
    return series, case, out, info, records


@pytest.mark.skipif(shutil.which("dciodvfy") is None,
                    reason="dciodvfy (dicom3tools) not installed: ./dev.sh test installs it as root")
def test_exported_seg_and_sr_pass_dciodvfy_without_errors(exported):
    _, _, out, _, _ = exported
    for path in (out.seg, out.sr):
        errors, _ = dciodvfy_errors(path)
        assert errors == [], f"{path.name}: {errors}"


def test_case_json_records_the_source_series_in_slice_order(exported):
    series, _, _, info, _ = exported
    slices = [pydicom.dcmread(p, stop_before_pixels=True) for p in series.iterdir()]
    normal = np.cross(*np.reshape(np.array(slices[0].ImageOrientationPatient, float), (2, 3)))
    slices.sort(key=lambda ds: float(np.dot(np.array(ds.ImagePositionPatient, float), normal)))
    src = info.dicom_source
    assert src["sop_instance_uids"] == [str(ds.SOPInstanceUID) for ds in slices]
    assert (src["study_instance_uid"], src["series_instance_uid"], src["frame_of_reference_uid"]) == (
        slices[0].StudyInstanceUID, slices[0].SeriesInstanceUID, slices[0].FrameOfReferenceUID)
    assert src["sop_class_uid"] == "1.2.840.10008.5.1.4.1.1.4"


def test_seg_reads_back_with_highdicom_to_the_accepted_cmbs(exported):
    _, _, out, info, records = exported
    seg = hd.seg.segread(out.seg)
    assert out.n_segments == len(ACCEPTED) == len(seg.get_segment_numbers())
    labels = {n: seg.get_segment_description(n).segment_label for n in seg.get_segment_numbers()}
    assert labels == {n: f"CMB {cmb_id:03d}" for n, cmb_id in enumerate(ACCEPTED, 1)}
    volume = seg.get_volume(combine_segments=True, relabel=False)
    geometry = info.geometry_obj()
    for n, cmb_id in enumerate(ACCEPTED, 1):
        rec = records[cmb_id]
        idx = np.argwhere(volume.array == n).astype(float)
        assert len(idx) == rec.n_voxels
        assert len(idx) * geometry.voxel_volume == pytest.approx(rec.volume_mm3, rel=1e-4)
        ras = LPS @ (volume.affine @ np.append(idx.mean(axis=0), 1.0))[:3]
        offset_voxels = geometry.ras_to_ijk_points(ras)[0] - np.array([rec.i, rec.j, rec.k])
        assert np.all(np.abs(offset_voxels) < 1.0), (cmb_id, offset_voxels)
        assert np.linalg.norm(ras - rec.ras) < 1e-3  # in fact exact: the same voxels on the same grid


def test_seg_frames_reference_the_source_instances_pydicom(exported):
    _, _, out, info, records = exported
    ds = pydicom.dcmread(out.seg)
    src = info.dicom_source
    assert (ds.StudyInstanceUID, ds.FrameOfReferenceUID) == (src["study_instance_uid"],
                                                             src["frame_of_reference_uid"])
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == src["series_instance_uid"]
    k_of = {uid: k for k, uid in enumerate(src["sop_instance_uids"])}
    pixels = ds.pixel_array.reshape(-1, int(ds.Rows), int(ds.Columns))
    geometry = info.geometry_obj()
    voxels: dict[int, list] = {}
    for frame, item in zip(pixels, ds.PerFrameFunctionalGroupsSequence):
        uid = item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        number = int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        for j, i in np.argwhere(frame > 0):
            voxels.setdefault(number, []).append((i, j, k_of[uid]))
    for n, cmb_id in enumerate(ACCEPTED, 1):
        ijk = np.array(voxels[n], float)
        assert len(ijk) == records[cmb_id].n_voxels
        assert np.linalg.norm(geometry.ijk_to_ras_points(ijk.mean(axis=0))[0] - records[cmb_id].ras) < 1e-3


def _groups(path):
    return hd.sr.srread(path).content.get_volumetric_roi_measurement_groups()


def test_sr_holds_each_cmb_volume_diameter_region_status_and_its_segment(exported):
    _, _, out, _, records = exported
    seg = pydicom.dcmread(out.seg, stop_before_pixels=True)
    groups = _groups(out.sr)
    assert [g.tracking_identifier for g in groups] == [f"CMB {i:03d}" for i in ACCEPTED]
    for n, (group, cmb_id) in enumerate(zip(groups, ACCEPTED), 1):
        rec = records[cmb_id]
        ref = group.referenced_segment
        assert (ref.referenced_sop_instance_uid, ref.referenced_segment_numbers) == (seg.SOPInstanceUID, [n])
        values = [(m.name.value, m.value) for m in group.get_measurements()]
        assert values[0] == ("118565006", pytest.approx(rec.volume_mm3))
        assert values[1:] == [("81827009", pytest.approx(rec.diameter_max_mm)),
                              ("81827009", pytest.approx(rec.diameter_eq_mm))]
        evaluations = {q.name.value: q.value.value for q in group.get_qualitative_evaluations()}
        assert evaluations == {"111012": rec.status, "mars_region": rec.region,
                               "276214006": "49755003"}  # finding category: morphologically abnormal structure
        site = group.finding_sites[0]
        assert (site.value.scheme_designator, site.value.meaning) == ("SCT", SITE[rec.lobe])
        assert {"L": "Left", "R": "Right"}[rec.side] == site.laterality.meaning
    assert [records[i].status for i in ACCEPTED].count("possible") == 1


def test_sr_counts_by_region_equal_counts_json_and_mark_the_review_partial(exported):
    _, case, out, _, _ = exported
    sr = hd.sr.srread(out.sr)
    (counts_group,) = sr.content.get_image_measurement_groups()
    got = {m.name.value: int(m.value) for m in counts_group.get_measurements()}
    expected = json.loads((case / "counts.json").read_text())["counts"]
    expected.pop("review_complete")
    assert got == expected
    assert (got["total_definite"], got["total_possible"], got["n_rejected"], got["n_pending"]) == (5, 1, 1, 1)
    assert sr.CompletionFlag == "PARTIAL"  # CMB 8 is still pending
    evidence = {s.SeriesInstanceUID: {i.ReferencedSOPInstanceUID for i in s.ReferencedSOPSequence}
                for st in sr.CurrentRequestedProcedureEvidenceSequence for s in st.ReferencedSeriesSequence}
    src = read_case_json(case).dicom_source
    seg = pydicom.dcmread(out.seg, stop_before_pixels=True)
    assert evidence == {src["series_instance_uid"]: set(src["sop_instance_uids"]),
                        seg.SeriesInstanceUID: {seg.SOPInstanceUID}}


def test_only_definite_cmbs_become_segments_by_default(exported, tmp_path):
    _, case, _, _, _ = exported
    out = export_dicom(case, tmp_path)
    definite = [i for i in ACCEPTED if REVIEW[i] == "definite"]
    seg = hd.seg.segread(out.seg)
    assert [seg.get_segment_description(n).tracking_id for n in seg.get_segment_numbers()] == [
        f"CMB {i:03d}" for i in definite]
    assert [g.tracking_identifier for g in _groups(out.sr)] == [f"CMB {i:03d}" for i in definite]
