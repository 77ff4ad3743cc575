"""Domain-rule flags on hand-built arrays: ``tubular`` (vessel-shaped) and ``outside_brain`` (centroid outside an
intracranial mask). Flags never drop a candidate."""
import numpy as np
import pytest

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.core.records import FLAG_LOW_CONF, FLAG_OUTSIDE_BRAIN, FLAG_TOO_BIG, FLAG_TUBULAR
from CMBQuantLib.detection.candidates import (
    CandidateLimits,
    apply_limits,
    brain_mask,
    find_candidates,
    otsu_threshold,
    unflagged,
)


def _ball(shape, centre, radius_vox):
    k, j, i = np.indices(shape)
    return (k - centre[0]) ** 2 + (j - centre[1]) ** 2 + (i - centre[2]) ** 2 <= radius_vox ** 2


def _by_centre(records):
    return {(round(r.k), round(r.j), round(r.i)): r for r in records}


def test_sphere_is_not_tubular_but_a_vessel_piece_is():
    geom = Geometry(np.diag([0.5, 0.5, 0.5, 1.0]), (40, 60, 60))
    mask = np.zeros(geom.shape, bool)
    mask |= _ball(geom.shape, (20, 15, 15), 6)  # 6 mm sphere
    mask[20, 40, 10:46] = True  # 1 voxel thick, 18 mm long in-plane vessel
    mask[20:22, 50:52, 40:50] = True  # 1 x 1 x 5 mm: short, thick vessel piece
    records, _ = find_candidates(mask, geom)
    assert len(records) == 3
    by = _by_centre(records)
    sphere = by[(20, 15, 15)]
    assert FLAG_TUBULAR not in sphere.flags and sphere.flags == []
    long_vessel = next(r for r in records if r.n_voxels == 36)
    assert FLAG_TUBULAR in long_vessel.flags
    short = next(r for r in records if r.n_voxels == 2 * 2 * 10)
    assert FLAG_TUBULAR in short.flags


def test_vessel_across_thick_slices_is_tubular_a_dot_is_not():
    """A vessel crossing 0.5 x 0.5 x 3 mm slices is a dot in-plane but a tube through the slices."""
    geom = Geometry(np.diag([0.5, 0.5, 3.0, 1.0]), (20, 40, 40))
    mask = np.zeros(geom.shape, bool)
    mask[2:8, 10:12, 10:12] = True  # 1 x 1 mm in-plane, 18 mm through-plane
    mask[10, 30:34, 30:34] = True  # 2 x 2 x 3 mm: one slice, round in-plane (a CMB on thick slices)
    records, _ = find_candidates(mask, geom)
    by = {r.n_voxels: r for r in records}
    assert FLAG_TUBULAR in by[24].flags
    assert FLAG_TUBULAR not in by[16].flags


def test_single_voxels_are_never_judged_tubular():
    geom = Geometry(np.diag([0.5, 0.5, 3.0, 1.0]), (10, 10, 10))
    mask = np.zeros(geom.shape, bool)
    mask[5, 5, 5] = True  # 0.5 x 0.5 x 3 mm voxel: elongated only by the grid
    records, _ = find_candidates(mask, geom)
    assert records[0].flags == []


def test_tubular_can_be_disabled_and_other_flags_stay():
    geom = Geometry(np.diag([1.0, 1.0, 1.0, 1.0]), (20, 20, 40))
    prob = np.zeros(geom.shape, np.float32)
    prob[10, 10, 5:30] = 0.55  # weak, 25 mm long: tubular + low confidence + too big? (eq diam 3.6 mm: no)
    records, _ = find_candidates(prob, geom, limits=CandidateLimits(min_confidence=0.6))
    assert set(records[0].flags) == {FLAG_TUBULAR, FLAG_LOW_CONF}
    rec = records[0]
    apply_limits(rec, CandidateLimits(min_confidence=0.6, tubular_ratio=0))
    assert rec.flags == [FLAG_LOW_CONF]
    apply_limits(rec, CandidateLimits(max_diameter_mm=3.0))
    assert rec.flags == [FLAG_TOO_BIG, FLAG_TUBULAR]


def test_outside_brain_flag_from_a_given_mask():
    geom = Geometry(np.diag([1.0, 1.0, 1.0, 1.0]), (30, 30, 30))
    brain = np.zeros(geom.shape, bool)
    brain[5:25, 5:25, 5:25] = True
    mask = np.zeros(geom.shape, bool)
    mask[14:17, 14:17, 14:17] = True  # inside
    mask[0:2, 0:2, 0:2] = True  # in the corner, outside
    records, _ = find_candidates(mask, geom, brain_mask=brain)
    by = _by_centre(records)
    assert by[(15, 15, 15)].flags == []
    outside = next(r for r in records if r is not by[(15, 15, 15)])
    assert outside.flags == [FLAG_OUTSIDE_BRAIN]
    assert len(records) == 2  # flagged, not dropped
    assert unflagged(records) == [by[(15, 15, 15)]]
    # apply_limits keeps the mask-based flag (it cannot recompute it)
    apply_limits(outside, CandidateLimits())
    assert outside.flags == [FLAG_OUTSIDE_BRAIN]
    # no mask given: no outside_brain flag at all
    records, _ = find_candidates(mask, geom)
    assert all(FLAG_OUTSIDE_BRAIN not in r.flags for r in records)


def _head(shape=(40, 80, 80), spacing=(2.0, 1.0, 1.0), seed=0):
    """Hand-built SWI-like head: air ~0.02, dark 'skull' shell 0.15, bright brain 0.7 with CSF 0.9, a dark CMB
    inside, noise."""
    rng = np.random.default_rng(seed)
    sp = np.array(spacing)
    k, j, i = np.indices(shape).astype(float)
    c = (np.array(shape) - 1) / 2
    r = np.sqrt(((k - c[0]) * sp[0]) ** 2 + ((j - c[1]) * sp[1]) ** 2 + ((i - c[2]) * sp[2]) ** 2)
    img = np.full(shape, 0.02, np.float32)
    img[r < 36] = 0.5  # scalp
    img[r < 33] = 0.15  # skull (dark on SWI)
    img[r < 30] = 0.9  # CSF
    img[r < 27] = 0.7  # brain
    cmb = ((k - c[0]) * sp[0]) ** 2 + ((j - c[1]) * sp[1]) ** 2 + ((i - c[2] - 15) * sp[2]) ** 2 < 9
    img[cmb] = 0.1  # a dark 6 mm CMB inside the brain: a hole the mask must fill
    img += rng.normal(0, 0.02, shape).astype(np.float32)
    return img, sp, r, cmb


def test_brain_mask_covers_the_brain_fills_dark_lesions_and_excludes_air_and_scalp():
    img, sp, r, cmb = _head()
    assert 0.05 < otsu_threshold(img) < 0.6
    m = brain_mask(img, sp, erode_mm=3.0)
    assert m[r < 24].mean() > 0.99  # brain (minus the eroded rim) inside
    assert m[cmb].all()  # dark CMB filled, not a hole
    assert not m[r > 30].any()  # skull, scalp, air outside
    m0 = brain_mask(img, sp, erode_mm=0.0)
    assert m0.sum() > m.sum()


def test_brain_mask_then_flags_on_a_probability_map():
    img, sp, _, cmb = _head()
    geom = Geometry(np.diag([sp[2], sp[1], sp[0], 1.0]), img.shape)
    prob = np.zeros(img.shape, np.float32)
    prob[cmb] = 0.9
    prob[20, 3:6, 40:43] = 0.8  # a dot in the air in front of the head
    records, _ = find_candidates(prob, geom, img, brain_mask=brain_mask(img, sp))
    inside = [r for r in records if FLAG_OUTSIDE_BRAIN not in r.flags]
    assert len(records) == 2 and len(inside) == 1 and inside[0].n_voxels == int(cmb.sum())


def test_brain_mask_degenerate_inputs():
    assert not brain_mask(np.zeros((4, 5, 6), np.float32), (1, 1, 1)).any()
    assert brain_mask(np.zeros((4, 5, 6), np.float32), (1, 1, 1)).shape == (4, 5, 6)


@pytest.mark.parametrize("ratio", [1.5, 2.0, 3.0])
def test_tubular_threshold_is_a_limit(ratio):
    geom = Geometry(np.diag([1.0, 1.0, 1.0, 1.0]), (10, 10, 30))
    mask = np.zeros(geom.shape, bool)
    mask[5, 5, 5:20] = True  # 15 x 1 x 1 mm: max/eq = sqrt(227)/3.06 = 4.9
    records, _ = find_candidates(mask, geom, limits=CandidateLimits(tubular_ratio=ratio))
    assert FLAG_TUBULAR in records[0].flags
