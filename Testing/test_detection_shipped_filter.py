"""The shipped CMB filter (inside the demo model) on constructed phantoms: it rejects a vessel crossing the slices
and a symmetric pallidal calcification, and keeps the CMBs."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("lightgbm")

from CMBQuantLib.detection.nnunet import model_store
from CMBQuantLib.detection.two_stage import detect  # noqa: E402
from CMBQuantLib.phantoms.phantom import PhantomConfig, builtin_phantom

pytestmark = pytest.mark.skipif(not model_store.DEMO_MODEL_ZIP.is_file(), reason="demo model zip not shipped")


def _tube(image, geometry, start_ras, direction, length_mm, radius_mm=0.8, depth=0.75):
    """Darken a straight vessel: every voxel within ``radius_mm`` of the segment (a dot on each slice it crosses)."""
    kk, jj, ii = np.meshgrid(*[np.arange(n) for n in image.shape], indexing="ij")
    pts = geometry.ijk_to_ras_points(np.stack([ii.ravel(), jj.ravel(), kk.ravel()], 1))
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    rel = pts - np.asarray(start_ras)
    t = np.clip(rel @ d, 0.0, length_mm)
    dist = np.linalg.norm(rel - t[:, None] * d, axis=1).reshape(image.shape)
    image *= (1.0 - depth * np.clip(radius_mm + 0.5 - dist, 0.0, 1.0)).astype(image.dtype)


@pytest.fixture(scope="module")
def constructed(shipped_filter):
    cfg = PhantomConfig(n_cmbs=6, diameter_mm=(3.0, 8.0), pallidal_calcification=True, n_crossing_vessels=0)
    ph = builtin_phantom(3, cfg)
    image = ph.image.copy()
    wm = np.argwhere(np.isin(ph.anatomy, [2, 41]))
    ras_wm = ph.geometry.ijk_to_ras_points(wm[:, ::-1].astype(float))
    cmb_ras = np.array([[c.r, c.a, c.s] for c in ph.cmbs])
    far = np.min(np.linalg.norm(ras_wm[:, None] - cmb_ras[None], axis=2), axis=1) > 15
    start = ras_wm[far][len(ras_wm[far]) // 2] - np.array([0.0, 0.0, 8.0])
    direction = np.array([0.1, 0.05, 1.0])  # across the slices, slightly tilted
    _tube(image, ph.geometry, start, direction, 16.0)
    det = detect(image, ph.geometry, None, shipped_filter)
    return ph, det, start, direction / np.linalg.norm(direction)


def _kept(det):
    return [r for r in det.records if r.status == "pending"]


def test_vessel_crossing_the_slices_is_not_kept(constructed):
    ph, det, start, d = constructed
    for r in _kept(det):
        rel = r.ras - start
        t = np.clip(rel @ d, 0.0, 16.0)
        assert np.linalg.norm(rel - t * d) > 2.0, f"CMB {r.cmb_id} (p_cmb {r.p_cmb}) sits on the vessel"


def test_symmetric_pallidal_calcification_is_not_kept(constructed):
    ph, det, _, _ = constructed
    calc = [np.array([m["r"], m["a"], m["s"]]) for m in ph.mimics if m["kind"] == "pallidal_calcification"]
    assert len(calc) == 2 and np.sign(calc[0][0]) != np.sign(calc[1][0])
    for r in _kept(det):
        assert min(np.linalg.norm(r.ras - c) for c in calc) > 3.0, f"CMB {r.cmb_id} (p_cmb {r.p_cmb}) is a calcification"


def test_the_cmbs_are_kept(constructed):
    ph, det, _, _ = constructed
    kept = _kept(det)
    found = sum(any(np.linalg.norm(r.ras - np.array([c.r, c.a, c.s])) <= max(2.0, c.diameter_mm / 2) for r in kept)
                for c in ph.cmbs)
    assert found >= len(ph.cmbs) - 1, (found, len(ph.cmbs))
    assert len(kept) <= len(ph.cmbs) + 2  # and not many more
