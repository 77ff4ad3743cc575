"""Phantoms carry known CMBs; candidates recover every one of them with its centroid, size and flags."""
import numpy as np
import pytest
from conftest import SHARED

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.core.records import FLAG_LOW_CONF, FLAG_TOO_BIG, read_records_csv, write_records_csv
from CMBQuantLib.detection.candidates import CandidateLimits, find_candidates, max_diameter_mm
from CMBQuantLib.phantoms.anatomy import builtin_head
from CMBQuantLib.phantoms.phantom import PhantomConfig, builtin_phantom, load_label_map, read_cmb_table, synthesize


@pytest.fixture(scope="module")
def phantom():
    return builtin_phantom(seed=4, config=PhantomConfig(n_cmbs=10))


def _match(phantom, records):
    """Each true CMB -> the record whose centroid is nearest (mm)."""
    out = []
    for c in phantom.cmbs:
        d = [np.linalg.norm(r.ras - [c.r, c.a, c.s]) for r in records]
        out.append((c, records[int(np.argmin(d))], float(min(d))))
    return out


def test_phantom_is_deterministic_by_seed():
    labels, geom = builtin_head(0, spacing=2.0)  # coarse anatomy: same code path, 8x fewer voxels
    cfg = PhantomConfig(n_cmbs=3, spacing=(1.8, 1.8, 2.0), diameter_mm=(4.0, 8.0))
    a = synthesize(labels, geom, seed=11, config=cfg)
    b = synthesize(labels, geom, seed=11, config=cfg)
    c = synthesize(labels, geom, seed=12, config=cfg)
    np.testing.assert_array_equal(a.image, b.image)
    assert [x.r for x in a.cmbs] == [x.r for x in b.cmbs]
    assert not np.array_equal(a.image, c.image)


def test_phantom_has_swi_contrast_and_clinical_geometry(phantom):
    np.testing.assert_allclose(phantom.geometry.spacing, [0.9, 0.9, 2.0])
    img, anat = phantom.image, phantom.anatomy
    csf = img[np.isin(anat, [4, 43])].mean()
    wm = img[np.isin(anat, [2, 41]) & (phantom.cmb_labels == 0)].mean()
    pallidum = img[np.isin(anat, [13, 52])].mean()
    assert csf > wm > pallidum  # CSF bright, iron-rich pallidum dark
    for c in phantom.cmbs:
        core = img[phantom.cmb_labels == c.cmb_id]
        assert core.mean() < 0.75 * wm and core.min() < 0.5 * wm, f"CMB {c.cmb_id} is not dark"
        assert 2.0 <= c.diameter_mm <= 10.0


def test_every_inserted_cmb_is_found_with_centroid_within_one_voxel(phantom):
    records, labels = find_candidates(phantom.cmb_labels > 0, phantom.geometry, image=phantom.image)
    assert len(records) == len(phantom.cmbs) == 10
    for c, rec, dist in _match(phantom, records):
        assert dist <= phantom.geometry.spacing.max(), f"CMB {c.cmb_id} centroid off by {dist:.2f} mm"
        assert rec.diameter_eq_mm == pytest.approx(c.diameter_mm, rel=0.35)
        assert rec.intensity_mean < np.median(phantom.image[phantom.anatomy == 2])
    assert sorted(np.unique(labels)[1:].tolist()) == list(range(1, 11))


@pytest.mark.slow
def test_real_anatomy_phantom_cmbs_are_all_recovered():
    path = SHARED / "data/synthseg/training_seg_03.nii.gz"
    if not path.exists():
        pytest.skip(f"{path} not present (../shared reference data)")
    labels, geom = load_label_map(path)
    ph = synthesize(labels, geom, seed=2, config=PhantomConfig(n_cmbs=8, rotation_deg=(8.0, 0.0, 5.0)))
    records, _ = find_candidates(ph.cmb_labels > 0, ph.geometry)
    assert len(records) == 8
    for c, rec, dist in _match(ph, records):
        assert dist <= ph.geometry.spacing.max()
        assert ph.anatomy[int(round(c.k)), int(round(c.j)), int(round(c.i))] == c.label or c.label in (2, 41, 3, 42)


def test_probability_map_gives_confidence_and_flags_not_drops():
    geom = Geometry(np.diag([1.0, 1.0, 1.0, 1.0]), (30, 40, 40))
    prob = np.zeros(geom.shape, np.float16)
    prob[5:8, 5:8, 5:8] = 0.9  # 27 mm3
    prob[6, 6, 6] = 1.0
    prob[20:22, 20:22, 20:22] = 0.55  # weak one
    prob[10:25, 25:38, 25:38] = 0.8  # 15x13x13 blob: far above 10 mm
    lim = CandidateLimits(min_confidence=0.6)
    records, labels = find_candidates(prob, geom, limits=lim)
    assert len(records) == 3
    by_vox = {r.n_voxels: r for r in records}
    strong = by_vox[27]
    assert strong.confidence_max == pytest.approx(1.0)
    assert strong.confidence_mean == pytest.approx((26 * 0.9 + 1.0) / 27, abs=1e-3)
    assert (strong.i, strong.j, strong.k) == (6.0, 6.0, 6.0)
    assert FLAG_LOW_CONF in by_vox[8].flags
    assert FLAG_TOO_BIG in by_vox[15 * 13 * 13].flags
    assert strong.flags == []


def test_max_diameter_is_corner_to_corner_extent():
    geom = Geometry(np.diag([0.5, 0.5, 2.0, 1.0]), (10, 10, 10))
    kji = np.array([[0, 0, 0], [0, 0, 3]])  # 4 voxels apart along i
    assert max_diameter_mm(kji, geom) == pytest.approx(np.sqrt((4 * 0.5) ** 2 + 0.5 ** 2 + 2.0 ** 2))


def test_records_round_trip_through_csv(tmp_path, phantom):
    records, _ = find_candidates(phantom.cmb_labels > 0, phantom.geometry, image=phantom.image)
    records[0].flags = ["exceeds_cmb_size", "added_by_reader"]
    records[1].status, records[1].reason = "rejected", "vessel"
    path = write_records_csv(records, tmp_path / "cmbs.csv")
    back = read_records_csv(path)
    assert [r.cmb_id for r in back] == [r.cmb_id for r in records]
    assert back[0].flags == ["exceeds_cmb_size", "added_by_reader"]
    assert (back[1].status, back[1].reason) == ("rejected", "vessel")
    assert back[2].r == pytest.approx(records[2].r, abs=1e-4)
    assert back[2].confidence_mean is None


def test_phantom_files_are_written_and_table_reads_back(tmp_path, phantom):
    paths = phantom.write(tmp_path, "p1")
    assert all(p.exists() for p in paths.values())
    table = read_cmb_table(paths["table"])
    assert [c.cmb_id for c in table] == [c.cmb_id for c in phantom.cmbs]
    assert table[0].diameter_mm == pytest.approx(phantom.cmbs[0].diameter_mm)
