"""The ``evaluate`` command end to end on files written to tmp_path (NIfTI, NRRD, Slicer .seg.nrrd)."""
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from CMBQuantLib.commands.evaluate_command import main
from CMBQuantLib.detection.validation.inputs import GeometryMismatchError, InputError, case_id_of, load_pair
from CMBQuantLib.detection.validation.lesion_sizes import size_table

SHAPE_ZYX = (10, 20, 20)
SPACING = (0.5, 0.5, 2.0)  # x, y, z
ORIGIN = (-5.0, -5.0, 10.0)  # LPS
DIRECTION = (-1, 0, 0, 0, -1, 0, 0, 0, 1)  # LPS of an RAS-aligned volume (what Slicer writes)


def write(arr, path, spacing=SPACING, origin=ORIGIN, direction=DIRECTION):
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    img.SetDirection(direction)
    sitk.WriteImage(img, str(path))
    return Path(path)


def ref_volume():
    r = np.zeros(SHAPE_ZYX, np.uint8)
    r[2:4, 2:5, 2:5] = 1  # 18 voxels
    r[7, 15, 15] = 1  # 1 voxel
    return r


@pytest.fixture
def folders(tmp_path):
    p, r = tmp_path / "pred", tmp_path / "ref"
    p.mkdir()
    r.mkdir()
    ref = ref_volume()
    # c1: probability map, first CMB found (shifted one voxel in y = 0.5 mm), second missed, one FP
    prob = np.zeros(SHAPE_ZYX, np.float32)
    prob[2:4, 3:6, 2:5] = 0.9
    prob[5, 10, 10] = 0.7
    prob[6, 10, 10] = 0.3  # below threshold
    write(ref, r / "c1.nii.gz")
    write(prob, p / "c1.nii.gz")
    # c2: perfect label map, in NRRD
    write(ref, r / "c2.nii.gz")
    write(ref * 3, p / "c2.nrrd")
    # c3: empty reference, two false positives
    write(np.zeros_like(ref), r / "c3.nii.gz")
    write(ref, p / "c3.nii.gz")
    # IDs on one side only
    write(ref, r / "only_ref.nii.gz")
    write(ref, p / "only_pred.nii.gz")
    (p / "notes.txt").write_text("not an image")
    (p / "._c1.nii.gz").write_bytes(b"macOS resource fork")  # hidden files are not cases
    return p, r


def test_case_id_strips_image_extensions_and_seg_suffix():
    assert case_id_of(Path("sub-01.seg.nrrd")) == "sub-01"
    assert case_id_of(Path("sub-01.nii.gz")) == "sub-01"
    assert case_id_of(Path("a.b.NRRD")) == "a.b"
    assert case_id_of(Path("x.txt")) is None


def test_evaluate_end_to_end_on_nifti(folders, tmp_path, capsys):
    p, r = folders
    sites = tmp_path / "sites.csv"
    sites.write_text("case_id,site\nc1,internal\nc2,external\nc3,external\n")
    out = tmp_path / "out"
    rc = main([str(p), str(r), "--out", str(out), "--sites", str(sites), "--bootstrap", "100", "--seed", "3"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "only_pred" in err and "only_ref" in err

    pc = pd.read_csv(out / "per_case.csv").set_index("case_id")
    assert list(pc.index) == ["c1", "c2", "c3"]
    assert pc.loc["c1", ["tp", "fp", "fn"]].tolist() == [1, 1, 1]
    assert pc.loc["c1", "f1"] == pytest.approx(0.5)
    assert pc.loc["c1", "dice"] == pytest.approx(2 * 12 / (19 + 19))  # 18+1 vs 18+1 voxels, 12 shared
    assert pc.loc["c1", "volume_ref_mm3"] == pytest.approx(19 * 0.5)
    assert pc.loc["c2", ["tp", "fp", "fn"]].tolist() == [2, 0, 0] and pc.loc["c2", "dice"] == 1.0
    assert pc.loc["c3", ["tp", "fp", "fn"]].tolist() == [0, 2, 0]
    assert math.isnan(pc.loc["c3", "f1"]) and pc.loc["c3", "abs_count_difference"] == 2
    assert pc.loc["c1", "site"] == "internal"

    les = pd.read_csv(out / "lesions.csv")
    c1 = les[les.case_id == "c1"].set_index("status")
    assert sorted(les[les.case_id == "c1"].status) == ["FN", "FP", "TP"]
    assert c1.loc["TP", "distance_mm"] == pytest.approx(0.5)
    # missed voxel (i, j, k) = (15, 15, 7); RAS origin (5, 5, 10), RAS axes aligned: (5 + 7.5, 5 + 7.5, 10 + 14)
    assert c1.loc["FN", ["ref_i", "ref_j", "ref_k"]].tolist() == [15, 15, 7]
    assert c1.loc["FN", ["ref_r", "ref_a", "ref_s"]].tolist() == pytest.approx([12.5, 12.5, 24.0])

    summ = pd.read_csv(out / "summary.csv").set_index("group")
    assert list(summ.index) == ["all", "external", "internal"]
    assert summ.loc["all", "f1_pooled"] == pytest.approx(2 * 3 / (2 * 3 + 3 + 1))
    assert summ.loc["all", "fp_per_scan"] == pytest.approx(1.0)
    assert summ.loc["all", "n_bootstrap"] == 100 and summ.loc["all", "match_rule"] == "centroid"
    doc = json.loads((out / "summary.json").read_text())
    assert doc["only_reference"] == ["only_ref"] and doc["only_prediction"] == ["only_pred"]
    assert doc["n_scored"] == 3
    html = (out / "validation.html").read_text()
    assert html.count("data:image/png;base64,") == 3
    assert "only_ref" in html


def test_evaluate_is_reproducible_for_a_seed(folders, tmp_path):
    p, r = folders
    for name in ("a", "b"):
        assert main([str(p), str(r), "--out", str(tmp_path / name), "--bootstrap", "200", "--seed", "5",
                       "--no-html"]) == 0
    assert (tmp_path / "a" / "summary.csv").read_text() == (tmp_path / "b" / "summary.csv").read_text()
    assert not (tmp_path / "a" / "validation.html").exists()


def test_overlap_rule_and_distance_option_reach_the_metrics(folders, tmp_path):
    p, r = folders
    assert main([str(p), str(r), "--out", str(tmp_path / "o"), "--match", "overlap", "--bootstrap", "0"]) == 0
    assert pd.read_csv(tmp_path / "o" / "per_case.csv").set_index("case_id").loc["c1", "tp"] == 1
    assert main([str(p), str(r), "--out", str(tmp_path / "d"), "--distance-mm", "0.4", "--bootstrap", "0"]) == 0
    pc = pd.read_csv(tmp_path / "d" / "per_case.csv").set_index("case_id")
    assert pc.loc["c1", ["tp", "fp", "fn"]].tolist() == [0, 2, 2]  # the 0.5 mm shift is now a miss


def test_geometry_mismatch_names_both_files(tmp_path, capsys):
    p, r = tmp_path / "p", tmp_path / "r"
    p.mkdir()
    r.mkdir()
    ref = write(ref_volume(), r / "c1.nii.gz")
    pred = write(ref_volume(), p / "c1.nii.gz", spacing=(0.5, 0.5, 2.5))
    with pytest.raises(GeometryMismatchError) as exc:
        load_pair(pred, ref)
    assert str(pred) in str(exc.value) and str(ref) in str(exc.value) and "spacing" in str(exc.value)
    rc = main([str(p), str(r), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2
    assert str(pred) in err and str(ref) in err and "Resample" in err and "Traceback" not in err


@pytest.mark.parametrize("field", ["size", "origin", "direction"])
def test_geometry_check_covers_size_origin_and_direction(tmp_path, field):
    ref = write(ref_volume(), tmp_path / "r.nii.gz")
    kw = {"origin": (-5.0, -5.0, 10.1)} if field == "origin" else \
        {"direction": (1, 0, 0, 0, -1, 0, 0, 0, 1)} if field == "direction" else {}
    arr = np.zeros((10, 20, 21), np.uint8) if field == "size" else ref_volume()
    pred = write(arr, tmp_path / "p.nii.gz", **kw)
    with pytest.raises(GeometryMismatchError, match=field):
        load_pair(pred, ref)
    # within tolerance is fine
    write(ref_volume(), tmp_path / "q.nii.gz", origin=(-5.0, -5.0, 10.0004))
    load_pair(tmp_path / "q.nii.gz", ref)


def test_bad_inputs_exit_2_with_one_message(tmp_path, folders, capsys):
    p, r = folders
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "c1.nii.gz").write_bytes(b"garbage")
    assert main([str(bad), str(r), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert str(bad / "c1.nii.gz") in err and "Traceback" not in err and len(err.strip().splitlines()) == 1

    assert main([str(tmp_path / "missing"), str(r), "--out", str(tmp_path / "x")]) == 2
    assert "not a folder" in capsys.readouterr().err

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(empty), str(r), "--out", str(tmp_path / "x")]) == 2
    assert "no case ID in both" in capsys.readouterr().err

    write(ref_volume(), p / "c2.nii.gz")  # c2.nrrd already there
    assert main([str(p), str(r), "--out", str(tmp_path / "x")]) == 2
    assert "two files for case 'c2'" in capsys.readouterr().err


def test_unwritable_out_exits_2(folders, tmp_path, capsys):
    p, r = folders
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main([str(p), str(r), "--out", str(blocker / "out"), "--bootstrap", "0"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "Traceback" not in err


def test_bad_sites_csv_and_options_exit_2(folders, tmp_path, capsys):
    p, r = folders
    s = tmp_path / "s.csv"
    s.write_text("id,centre\nc1,a\n")
    assert main([str(p), str(r), "--out", str(tmp_path / "x"), "--sites", str(s)]) == 2
    assert "case_id,site" in capsys.readouterr().err
    assert main([str(p), str(r), "--out", str(tmp_path / "x"), "--threshold", "1.5"]) == 2
    assert "--threshold" in capsys.readouterr().err


def _write_slicer_seg(path, label_zyx, overlapping_extra=None):
    """A real .seg.nrrd written by Slicer's segmentation storage node (slicer-core), RAS-aligned like the refs."""
    slicer = pytest.importorskip("slicer")
    from vtkmodules.util import numpy_support
    from vtkmodules.vtkCommonDataModel import vtkImageData

    from CMBQuantLib.core.scene import headless_context

    ctx = headless_context()

    def labelmap(arr):
        node = slicer.vtkMRMLLabelMapVolumeNode()
        ctx.scene.AddNode(node)
        img = vtkImageData()
        img.SetDimensions(*arr.shape[::-1])
        img.GetPointData().SetScalars(numpy_support.numpy_to_vtk(np.ascontiguousarray(arr).ravel(), deep=True))
        node.SetAndObserveImageData(img)
        node.SetSpacing(*SPACING)
        node.SetOrigin(-ORIGIN[0], -ORIGIN[1], ORIGIN[2])  # RAS
        return node

    seg = slicer.vtkMRMLSegmentationNode()
    ctx.scene.AddNode(seg)
    assert ctx.segmentations_logic.ImportLabelmapToSegmentationNode(labelmap(label_zyx), seg)
    if overlapping_extra is not None:
        other = slicer.vtkMRMLSegmentationNode()
        ctx.scene.AddNode(other)
        ctx.segmentations_logic.ImportLabelmapToSegmentationNode(labelmap(overlapping_extra), other)
        seg.GetSegmentation().CopySegmentFromSegmentation(other.GetSegmentation(),
                                                          other.GetSegmentation().GetNthSegmentID(0))
    storage = slicer.vtkMRMLSegmentationStorageNode()
    ctx.scene.AddNode(storage)
    storage.SetFileName(str(path))
    assert storage.WriteData(seg)
    return seg.GetSegmentation().GetNumberOfLayers()


def test_evaluate_reads_a_slicer_seg_nrrd_prediction(tmp_path):
    p, r = tmp_path / "p", tmp_path / "r"
    p.mkdir()
    r.mkdir()
    ref = ref_volume()
    write(ref, r / "c1.nii.gz")
    labels = ref.copy()
    labels[7, 15, 15] = 2  # two segments: "CMB 001", "CMB 002"
    labels[5, 10, 10] = 3  # a false positive
    _write_slicer_seg(p / "c1.seg.nrrd", labels)
    # Slicer crops the file to the segments' extent: the reader must put it back on the reference grid
    assert sitk.ReadImage(str(p / "c1.seg.nrrd")).GetSize() != ref.shape[::-1]
    pred, _, _ = load_pair(p / "c1.seg.nrrd", r / "c1.nii.gz")
    assert np.array_equal(pred, labels > 0)
    assert main([str(p), str(r), "--out", str(tmp_path / "out"), "--bootstrap", "0"]) == 0
    pc = pd.read_csv(tmp_path / "out" / "per_case.csv").set_index("case_id")
    assert pc.loc["c1", ["tp", "fp", "fn"]].tolist() == [2, 1, 0]
    assert pc.loc["c1", "pred_file"] == "c1.seg.nrrd"


def test_seg_nrrd_with_overlapping_layers_is_collapsed_to_one_mask(tmp_path):
    ref = ref_volume()
    write(ref, tmp_path / "r.nii.gz")
    extra = np.zeros_like(ref)
    extra[3:5, 4:6, 4:6] = 1  # overlaps the first CMB -> Slicer stores a second layer
    assert _write_slicer_seg(tmp_path / "c.seg.nrrd", ref, overlapping_extra=extra) == 2
    pred, _, _ = load_pair(tmp_path / "c.seg.nrrd", tmp_path / "r.nii.gz")
    assert np.array_equal(pred, (ref > 0) | (extra > 0))


def test_empty_seg_nrrd_is_an_empty_prediction(tmp_path):
    ref = ref_volume()
    write(ref, tmp_path / "r.nii.gz")
    _write_slicer_seg(tmp_path / "c.seg.nrrd", np.zeros_like(ref))
    pred, _, _ = load_pair(tmp_path / "c.seg.nrrd", tmp_path / "r.nii.gz")
    assert pred.shape == ref.shape and not pred.any()


def test_seg_nrrd_on_another_grid_names_both_files(tmp_path):
    ref = ref_volume()
    ref_path = write(ref, tmp_path / "r.nii.gz", spacing=(0.6, 0.6, 2.0))
    _write_slicer_seg(tmp_path / "c.seg.nrrd", ref)
    with pytest.raises(GeometryMismatchError) as exc:
        load_pair(tmp_path / "c.seg.nrrd", ref_path)
    assert "c.seg.nrrd" in str(exc.value) and str(ref_path) in str(exc.value)


def test_regions_option_gives_per_region_counts(folders, tmp_path, capsys):
    p, r = folders
    reg = tmp_path / "regions"
    reg.mkdir()
    region_map = np.ones(SHAPE_ZYX, np.uint8)
    region_map[5:, :, :] = 2  # z >= 5: "deep"; the first CMB (z 2-3) is lobar, the second (z 7) deep
    for cid in ("c1", "c2", "c3"):
        write(region_map, reg / f"{cid}.nii.gz")
    names = tmp_path / "names.csv"
    names.write_text("label,region\n1,lobar\n2,deep\n")
    out = tmp_path / "out"
    assert main([str(p), str(r), "--out", str(out), "--regions", str(reg), "--region-names", str(names),
                   "--bootstrap", "0"]) == 0
    pc = pd.read_csv(out / "per_case.csv").set_index("case_id")
    # c1: lobar TP; deep FN (z 7) and FP (z 5)
    assert pc.loc["c1", ["lobar_tp", "lobar_fp", "lobar_fn", "deep_tp", "deep_fp", "deep_fn"]].tolist() == \
        [1, 0, 0, 0, 1, 1]
    assert pc.loc["c3", ["lobar_fp", "deep_fp", "lobar_tp"]].tolist() == [1, 1, 0]
    regions = pd.read_csv(out / "regions.csv").set_index("region")
    assert regions.loc["lobar", ["tp", "fp", "fn"]].tolist() == [2, 1, 0]  # c1 TP, c2 TP, c3 FP
    assert regions.loc["deep", ["tp", "fp", "fn"]].tolist() == [1, 2, 1]  # c2 TP; c1 FP, c3 FP; c1 FN
    les = pd.read_csv(out / "lesions.csv")
    assert set(les.loc[les.status == "FN", "ref_region"]) == {"deep"}

    (reg / "c3.nii.gz").unlink()
    assert main([str(p), str(r), "--out", str(out), "--regions", str(reg), "--bootstrap", "0"]) == 2
    assert "no region map for case 'c3'" in capsys.readouterr().err


def test_multichannel_float_prediction_is_refused_not_guessed(tmp_path):
    ref_path = write(ref_volume(), tmp_path / "r.nii.gz")
    soft = np.stack([1 - ref_volume(), ref_volume()], axis=-1).astype(np.float32)
    img = sitk.GetImageFromArray(soft, isVector=True)
    img.SetSpacing(SPACING)
    img.SetOrigin(ORIGIN)
    img.SetDirection(DIRECTION)
    sitk.WriteImage(img, str(tmp_path / "p.nrrd"))
    with pytest.raises(InputError, match="probability channel"):
        load_pair(tmp_path / "p.nrrd", ref_path)


def test_rejected_segments_of_a_reviewed_cmbquant_case_are_not_predictions(tmp_path):
    """A reviewed case's cmbs.seg.nrrd: the candidate the reader rejected is no longer a false positive."""
    pytest.importorskip("slicer")
    from CMBQuantLib.core.geometry import Geometry
    from CMBQuantLib.core.scene import headless_context
    from CMBQuantLib.core.segments import create_cmb_segmentation, read_records, save_segmentation, update_record
    from CMBQuantLib.detection.candidates import find_candidates
    from CMBQuantLib.volumes.images import volume_node_from_array, write_image

    geom = Geometry(np.diag([1.0, 1.0, 1.0, 1.0]), (20, 30, 30))
    ref = np.zeros(geom.shape, np.uint8)
    ref[5:8, 5:8, 5:8] = 1
    pred = ref.copy()
    pred[12:14, 20:22, 20:22] = 1  # a vessel the reader will reject
    ctx = headless_context()
    vol = volume_node_from_array(ctx, np.zeros(geom.shape, np.float32), geom, "swi")
    records, labels = find_candidates(pred, geom)
    seg = create_cmb_segmentation(ctx, vol, labels, records)
    rec = next(r for r in read_records(seg) if r.n_voxels == 8)
    rec.status, rec.reason = "rejected", "vessel"
    update_record(seg, rec)
    (tmp_path / "pred").mkdir()
    save_segmentation(seg, tmp_path / "pred" / "c1.seg.nrrd")
    write_image(ref, geom, tmp_path / "ref.nii.gz")
    pmask, rmask, _ = load_pair(tmp_path / "pred" / "c1.seg.nrrd", tmp_path / "ref.nii.gz")
    assert pmask.sum() == 27 and np.array_equal(pmask, rmask)


def test_sizes_table_bins_reference_cmbs_and_false_positives_by_diameter():
    vol = lambda d: 3.14159265 / 6 * d ** 3  # noqa: E731
    lesions = pd.DataFrame([
        {"status": "TP", "ref_volume_mm3": vol(2.5), "pred_volume_mm3": vol(2.4)},
        {"status": "FN", "ref_volume_mm3": vol(2.2), "pred_volume_mm3": float("nan")},
        {"status": "TP", "ref_volume_mm3": vol(4.0), "pred_volume_mm3": vol(4.0)},
        {"status": "TP", "ref_volume_mm3": vol(7.0), "pred_volume_mm3": vol(6.5)},
        {"status": "FP", "ref_volume_mm3": float("nan"), "pred_volume_mm3": vol(3.5)},
        {"status": "FP", "ref_volume_mm3": float("nan"), "pred_volume_mm3": vol(12.0)},
    ])
    t = size_table(lesions, n_scans=2).set_index("size_mm")
    assert t.loc["<3", "n_ref"] == 2 and t.loc["<3", "found"] == 1 and t.loc["<3", "sensitivity"] == 0.5
    assert t.loc["3-5", "found"] == 1 and t.loc["3-5", "false_positives"] == 1 and t.loc["3-5", "fp_per_scan"] == 0.5
    assert t.loc["5-10", "sensitivity"] == 1.0 and t.loc[">10", "false_positives"] == 1 and t.loc[">10", "n_ref"] == 0
