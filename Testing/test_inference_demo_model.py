"""The shipped demo model, end to end on phantoms it never saw: CMBs found where they are, confidences that are the
probabilities, and a segmentation on exactly the input grid (oblique and anisotropic included)."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("nnunetv2")

from CMBQuantLib.detection.nnunet import model_store

pytestmark = pytest.mark.skipif(not model_store.DEMO_MODEL_ZIP.is_file(), reason="demo model zip not shipped")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def predictor(home):
    from CMBQuantLib.detection.nnunet.prediction import load_predictor
    from CMBQuantLib.pipeline.run_options import RunOptions

    mp = pytest.MonkeyPatch()
    mp.setenv("CMBQUANT_HOME", str(home))
    try:
        pred, record = load_predictor(RunOptions(device="cpu"))
    finally:
        mp.undo()
    return pred, record


def _run_phantom(tmp_path, predictor, seed, config):
    from CMBQuantLib.core.scene import headless_context
    from CMBQuantLib.core.segments import load_segmentation
    from CMBQuantLib.phantoms.phantom import builtin_phantom
    from CMBQuantLib.pipeline.run_case import process_case
    from CMBQuantLib.pipeline.run_options import RunOptions

    ph = builtin_phantom(seed, config)
    src = ph.write(tmp_path / "in", f"ph{seed}")["image"]
    ctx = headless_context()
    pred, record = predictor
    t0 = time.perf_counter()
    # filter="none": these tests check the nnU-Net stage itself (one candidate per component); the two-stage
    # detector with the shipped filter is tested in test_detection_shipped_filter.py
    res = process_case(pred, record, src, tmp_path / "out", RunOptions(device="cpu", regions="none", filter="none"))
    secs = time.perf_counter() - t0
    seg_node = load_segmentation(ctx, f"{res.out_dir}/cmbs.seg.nrrd")  # the case folder is the product
    return ph, src, res, seg_node, ctx, secs


def test_demo_model_is_imported_into_the_cache_with_a_checksum(home, predictor):
    _, record = predictor
    assert (home / "models" / "CMBQuantDemo").is_dir()
    assert record["dataset"] == "Dataset501_CMBQuantDemo" and len(record["sha256"]) == 64
    assert record["weights_only"] is True and record["device"] == "cpu"
    assert [m.name for m in model_store.list_models(home)] == ["CMBQuantDemo"]


@pytest.mark.slow
def test_demo_model_finds_phantom_cmbs_at_their_centres(tmp_path, predictor):
    from CMBQuantLib.core.records import read_records_csv
    from CMBQuantLib.core.segments import read_records
    from CMBQuantLib.phantoms.phantom import PhantomConfig
    from CMBQuantLib.volumes.images import read_image

    cfg = PhantomConfig(n_cmbs=5, diameter_mm=(6.0, 9.0), spacing=(0.9, 0.9, 2.0), pallidal_calcification=False)
    ph, src, res, seg_node, ctx, secs = _run_phantom(tmp_path, predictor, 4242, cfg)
    records = read_records_csv(f"{res.out_dir}/cmbs.csv")
    assert seg_node.GetSegmentation().GetNumberOfSegments() == len(records) == res.n_cmbs
    assert [r.cmb_id for r in read_records(seg_node)] == [r.cmb_id for r in records]
    # every true CMB has a candidate whose centroid is within 2 voxels (i, j, k) of the truth
    found = 0
    for c in ph.cmbs:
        d = [np.abs(np.array([r.i - c.i, r.j - c.j, r.k - c.k])).max() for r in records]
        found += bool(d) and min(d) <= 2.0
    assert found == len(ph.cmbs), (found, len(ph.cmbs))
    # measured: 5/5 found, centroids within 0.5 voxel, plus ~15 false positives (vessel dots; see MODEL_CARD.md)
    assert len(records) >= found
    # confidences are the probabilities inside each component (prob.nii.gz holds the map they came from)
    from CMBQuantLib.detection.candidates import CandidateLimits, find_candidates

    prob, pgeom = read_image(f"{res.out_dir}/prob.nii.gz")
    again, comp = find_candidates(prob.astype(np.float32), pgeom, None, CandidateLimits())
    assert len(again) == len(records)
    for r, r2 in zip(records, again):
        p = prob[comp == r2.cmb_id]
        assert 0.5 <= r.confidence_mean <= r.confidence_max <= 1.0
        assert r.confidence_max == pytest.approx(float(p.max()), abs=1e-4)
        assert r.confidence_mean == pytest.approx(float(p.mean()), abs=1e-4)
        assert ("low_confidence" in r.flags) == (r.confidence_mean < 0.6)
    doc = json.loads(open(f"{res.out_dir}/case.json").read())
    assert doc["model"]["name"] == "CMBQuantDemo" and doc["detection"]["n_candidates"] == len(records)
    print(f"demo model on a {ph.image.shape} phantom: {secs:.1f} s, {found}/{len(ph.cmbs)} found, {len(records)} candidates")


@pytest.mark.slow
def test_oblique_anisotropic_input_keeps_its_exact_geometry(tmp_path, predictor):
    from CMBQuantLib.core.geometry import geometry_of_node
    from CMBQuantLib.core.segments import export_label_array, load_segmentation
    from CMBQuantLib.detection.candidates import CandidateLimits, find_candidates
    from CMBQuantLib.phantoms.phantom import PhantomConfig
    from CMBQuantLib.volumes.images import load_volume, read_image

    cfg = PhantomConfig(n_cmbs=4, diameter_mm=(5.0, 8.0), spacing=(0.8, 1.0, 2.5), rotation_deg=(15.0, 0.0, 10.0))
    ph, src, res, _, _, _ = _run_phantom(tmp_path, predictor, 77, cfg)
    from CMBQuantLib.core.scene import headless_context

    ctx = headless_context()
    vol = load_volume(ctx, src)
    assert geometry_of_node(vol).same_as(ph.geometry)
    prob, pgeom = read_image(f"{res.out_dir}/prob.nii.gz")
    assert pgeom.same_as(ph.geometry)
    _, comp = find_candidates(prob.astype(np.float32), pgeom, None, CandidateLimits())
    seg = load_segmentation(ctx, f"{res.out_dir}/cmbs.seg.nrrd")
    exported = export_label_array(ctx, seg, vol)
    assert exported.shape == ph.image.shape
    assert np.array_equal(exported > 0, comp > 0)
    assert res.n_cmbs >= 1
