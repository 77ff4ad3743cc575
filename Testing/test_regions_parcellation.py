"""Path 1: region map from a label map (WM rules, snapping, unassigned, resampling) and accuracy on SynthSeg phantoms."""
import numpy as np
import pytest
from conftest import SHARED
from scipy import ndimage

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.phantoms.anatomy import builtin_head
from CMBQuantLib.phantoms.phantom import PARENCHYMA_EXCLUDED, PhantomConfig, load_label_map, place_cmbs
from CMBQuantLib.regions.assign import apply_region_map, assign_regions
from CMBQuantLib.regions.mapping import CODE_OF
from CMBQuantLib.regions.parcellation import (
    ParcellationError,
    RegionRules,
    check_overlap,
    region_map_from_labels,
    resample_nearest,
)
from CMBQuantLib.volumes.images import write_image

SYNTHSEG = SHARED / "data" / "synthseg"
needs_synthseg = pytest.mark.skipif(not (SYNTHSEG / "training_seg_01.nii.gz").is_file(),
                                    reason=f"SynthSeg label maps not found in {SYNTHSEG} (../shared absent)")


@pytest.fixture(scope="module")
def head():
    labels, geom = builtin_head(0)
    return labels, geom, region_map_from_labels(labels, geom)


@pytest.mark.parametrize("ras, region, lobe, side", [
    ((-10, -18, 5), "deep", "thalamus", "L"),
    ((-17, -8, 6), "deep", "internal_capsule", "L"),  # WM between thalamus and pallidum
    ((16, 2, 8), "deep", "internal_capsule", "R"),  # WM between caudate and putamen
    ((-30, 2, 2), "deep", "external_capsule", "L"),  # WM just lateral to the putamen
    ((0, 0, 14), "deep", "corpus_callosum", "M"),  # WM joining both hemispheres
    ((-40, 0, 30), "lobar", "frontal", "L"),
    ((-33, 2, 10), "lobar", "insula", "L"),
    ((0, -28, -30), "infratentorial", "brainstem", "M"),
])
def test_builtin_head_points(head, ras, region, lobe, side):
    a = head[2].lookup([ras])[0]
    assert (a.region, a.lobe, a.side) == (region, lobe, side)


def test_white_matter_rules(head):
    labels, geom, rm = head
    sp = geom.spacing[::-1]
    cortex = (labels >= 1000) & (labels < 3000)
    wm = np.isin(labels, [2, 41])
    d_ctx = ndimage.distance_transform_edt(~cortex, sampling=sp)
    lobar = np.isin(rm.codes, [CODE_OF[("lobar", lb)] for lb in ("frontal", "parietal", "temporal", "occipital",
                                                                   "insula", "")])
    # WM is lobar only within the juxtacortical band: periventricular/capsular WM is never insula (public-tool error).
    assert not (wm & lobar & (d_ctx > 3.0)).any()
    ic = rm.codes == CODE_OF[("deep", "internal_capsule")]
    assert ic.sum() > 1000 and (wm[ic]).all()
    # Juxtacortical WM takes the lobe of its cortex: WM 1-3 mm under frontal cortex only is frontal.
    frontal = np.isin(labels, [1028, 2028])
    others = cortex & ~frontal
    band = wm & (ndimage.distance_transform_edt(~frontal, sampling=sp) <= 3) & (
        ndimage.distance_transform_edt(~others, sampling=sp) > 6) & np.isin(rm.codes, list(range(9, 15)))
    assert band.sum() > 1000 and (rm.codes[band] == CODE_OF[("lobar", "frontal")]).all()
    # Deep WM far from cortex and nuclei stays deep WM.
    assert (rm.codes[wm & (d_ctx > 8)] != CODE_OF[("lobar", "frontal")]).all()


def test_juxtacortical_threshold_is_configurable(head):
    labels, geom, rm = head
    wide = region_map_from_labels(labels, geom, rules=RegionRules(juxtacortical_mm=6.0))
    n = lambda m: int((m.codes == CODE_OF[("deep", "deep_white_matter")]).sum())
    assert n(wide) < n(rm)


def _cube_map():
    """A 3 cm cube of left superior-frontal cortex (1028) in a 1 mm grid of background."""
    lab = np.zeros((60, 60, 60), np.int16)
    lab[15:45, 15:45, 15:45] = 1028
    return lab, Geometry(np.diag([1.0, 1.0, 1.0, 1.0]), lab.shape)


def test_snap_and_unassigned():
    lab, geom = _cube_map()
    rm = region_map_from_labels(lab, geom)
    inside, near, far, off_grid = (30, 30, 30), (30, 30, 46.0), (30, 30, 49.0), (30, 30, 500.0)
    a = rm.lookup([inside, near, far, off_grid], snap_mm=3.0)
    assert (a[0].region, a[0].lobe, a[0].side, a[0].distance_mm) == ("lobar", "frontal", "L", 0.0)
    assert (a[1].region, a[1].lobe) == ("lobar", "frontal") and a[1].distance_mm == pytest.approx(2.0)
    assert a[2].region == "unassigned" and a[3].region == "unassigned"
    recs = [CMBRecord(cmb_id=i + 1, r=p[0], a=p[1], s=p[2]) for i, p in enumerate([inside, far])]
    out = apply_region_map(recs, rm)
    assert [r.region for r in out] == ["lobar", "unassigned"] and len(out) == 2  # never dropped
    assert recs[0].region == ""  # inputs untouched


def test_resample_nearest_and_overlap_check():
    lab, geom = _cube_map()
    half = Geometry(np.diag([2.0, 2.0, 2.0, 1.0]), (30, 30, 30))
    down = resample_nearest(lab, geom, half)
    assert down.shape == (30, 30, 30) and down[15, 15, 15] == 1028 and down[2, 2, 2] == 0
    assert (resample_nearest(lab, geom, geom) == lab).all()
    rm = region_map_from_labels(lab, geom)
    check_overlap(rm, half)
    far = np.diag([1.0, 1.0, 1.0, 1.0])
    far[:3, 3] = 500.0
    with pytest.raises(ParcellationError, match="not registered to this SWI"):
        check_overlap(rm, Geometry(far, (60, 60, 60)))


def test_assign_regions_from_file(tmp_path):
    lab, geom = _cube_map()
    path = write_image(lab, geom, tmp_path / "aparc+aseg.nii.gz")
    out = assign_regions([CMBRecord(cmb_id=1, r=30, a=30, s=30)], parcellation_path=path, swi_geometry=geom)
    assert (out[0].region, out[0].lobe, out[0].side, out[0].region_source) == (
        "lobar", "frontal", "L", "parcellation:aparc+aseg.nii.gz")


# ---- accuracy on real anatomy (the 14 SynthSeg training maps) ----

def _truth(placement: str) -> str:
    return "lobar" if placement in ("lobar", "juxtacortical") else placement


def _place(map_id: str, n: int):
    """CMB centres drawn by the phantom module's own placement (no image synthesis), on the brain-cropped map."""
    labels, geom = load_label_map(SYNTHSEG / f"training_seg_{map_id}.nii.gz")
    brain = ~np.isin(labels, list(PARENCHYMA_EXCLUDED)) & (labels < 500)
    idx = [np.flatnonzero(brain.any(axis=tuple(a for a in range(3) if a != d))) for d in range(3)]
    sl = tuple(slice(max(int(i[0]) - 5, 0), int(i[-1]) + 6) for i in idx)
    crop = labels[sl]
    m = geom.ijk_to_ras.copy()
    m[:3, 3] = geom.ijk_to_ras_points([[s.start for s in sl[::-1]]])[0]
    cgeom = Geometry(m, crop.shape)
    # no veins: placement is then limited only by the anatomy
    cmbs, swi_geom = place_cmbs(crop, cgeom, seed=int(map_id), config=PhantomConfig(n_cmbs=n, shape=None))
    return crop, cgeom, cmbs, swi_geom


def _path1_accuracy(map_ids, n):
    """Correct / total, on the 1 mm map and on the map resampled (nearest) to a 0.9 x 0.9 x 2 mm SWI grid."""
    ok = {"1mm": 0, "swi": 0}
    total = 0
    for m in map_ids:
        crop, cgeom, cmbs, swi_geom = _place(m, n)
        recs = [CMBRecord(cmb_id=c.cmb_id, r=c.r, a=c.a, s=c.s) for c in cmbs]
        maps = {"1mm": region_map_from_labels(crop, cgeom),
                "swi": region_map_from_labels(resample_nearest(crop, cgeom, swi_geom), swi_geom)}
        for key, rm in maps.items():
            out = apply_region_map(recs, rm)
            ok[key] += sum(r.region == _truth(c.placement) for r, c in zip(out, cmbs))
        total += len(cmbs)
    return {k: v / total for k, v in ok.items()}, total


@needs_synthseg
def test_path1_accuracy_on_synthseg_phantoms():
    acc, n = _path1_accuracy(["01", "13"], 25)
    print(f"path 1 accuracy on {n} CMBs: {acc}")
    assert n == 50
    assert acc["1mm"] >= 0.95 and acc["swi"] >= 0.95


@pytest.mark.slow
@needs_synthseg
def test_path1_accuracy_on_seven_more_maps():
    # every other map of the 14 (01 and 13 are in the test above); all 14 cost ~2 min of CI for the same rule
    acc, n = _path1_accuracy([f"{i:02d}" for i in range(2, 15, 2)], 25)
    print(f"path 1 accuracy on {n} CMBs (7 maps): {acc}")
    assert n == 175
    assert acc["1mm"] >= 0.95 and acc["swi"] >= 0.95
