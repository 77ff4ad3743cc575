"""Stage 1 screening: every inserted CMB of 2-10 mm reaches stage 2, blobs keep the CMB's own voxels, and the DoG
response is measured in the scan's noise units."""
import numpy as np
import pytest
from scipy import ndimage

from CMBQuantLib.detection.blobs import grow_blobs, label_map
from CMBQuantLib.detection.screening import Seed, dog_noise_gain
from CMBQuantLib.detection.two_stage import screen
from CMBQuantLib.phantoms.phantom import PhantomConfig, builtin_phantom


@pytest.fixture(scope="module")
def phantom_and_screen():
    ph = builtin_phantom(0, PhantomConfig(n_cmbs=10, diameter_mm=(2.0, 10.0)))
    return ph, screen(ph.image, ph.geometry)


def test_screen_finds_every_inserted_cmb_of_2_to_10_mm(phantom_and_screen):
    ph, scr = phantom_and_screen
    labels = label_map(scr.blobs, ph.image.shape)
    assert len(ph.cmbs) == 10 and min(c.diameter_mm for c in ph.cmbs) < 3.0
    missed = [c.diameter_mm for c in ph.cmbs if not (labels[ph.cmb_labels == c.cmb_id] > 0).any()]
    assert missed == []
    assert 50 < len(scr.blobs) <= 2500  # bounded by stage 2's cost, not by the screen


def test_each_cmb_gives_one_blob_centred_on_it(phantom_and_screen):
    ph, scr = phantom_and_screen
    labels = label_map(scr.blobs, ph.image.shape)
    sp = ph.geometry.spacing[::-1]
    for c in ph.cmbs:
        ids = np.unique(labels[ph.cmb_labels == c.cmb_id])
        ids = ids[ids > 0]
        best = max(ids, key=lambda i: int(((labels == i) & (ph.cmb_labels == c.cmb_id)).sum()))
        centre = scr.blobs[best - 1].voxels.mean(0)
        assert np.linalg.norm((centre - np.array([c.k, c.j, c.i])) * sp) < max(2.0, c.diameter_mm / 2)


def test_screen_sources_are_dark_spot_without_a_model(phantom_and_screen):
    _, scr = phantom_and_screen
    assert all(s == {"dark_spot"} for s in scr.sources)


def test_nnunet_components_are_united_with_the_screen(phantom_and_screen):
    ph, _ = phantom_and_screen
    prob = (ph.cmb_labels > 0).astype(np.float32) * 0.9
    scr = screen(ph.image, ph.geometry, prob=prob)
    labels = label_map(scr.blobs, ph.image.shape)
    for c in ph.cmbs:
        ids = np.unique(labels[ph.cmb_labels == c.cmb_id])
        assert any("nnunet" in scr.sources[i - 1] for i in ids if i > 0)


def test_dog_noise_gain_matches_white_noise():
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((60, 80, 80)).astype(np.float32)
    sp = np.array([2.0, 0.8, 0.8])
    a, b = 1.0 / sp, 1.6 / sp
    dog = ndimage.gaussian_filter(noise, b) - ndimage.gaussian_filter(noise, a)
    measured = float(dog[10:-10, 10:-10, 10:-10].std())
    assert dog_noise_gain(a, b) == pytest.approx(measured, rel=0.15)


def test_blob_holds_a_sphere_and_spills_along_a_tube():
    sp = np.array([1.0, 0.5, 0.5])
    img = np.ones((40, 80, 80), np.float32)
    kk, jj, ii = np.meshgrid(*[np.arange(n) * s for n, s in zip(img.shape, sp)], indexing="ij")
    sphere = (kk - 10) ** 2 + (jj - 20) ** 2 + (ii - 20) ** 2 <= 2.0 ** 2
    tube = ((jj - 20) ** 2 + (ii - 28) ** 2 <= 0.8 ** 2) & (kk > 0)  # along k, 8 mm from the sphere
    img[sphere] = 0.2
    img[tube] = 0.3
    seeds = [Seed((10, 40, 40), 10.0, 1.0), Seed((30, 40, 56), 8.0, 1.0)]
    blobs, sources = grow_blobs(img, seeds, sp)
    ball, vessel = blobs
    vol = len(ball.voxels) * float(np.prod(sp))
    assert vol == pytest.approx(4 / 3 * np.pi * 2.0 ** 3, rel=0.35)
    assert ball.spill_ratio == pytest.approx(1.0) and not ball.touches_box
    assert vessel.spill_ratio > 1.5 and vessel.touches_box
    assert sources == [{"dark_spot"}, {"dark_spot"}]


def test_a_cmb_seen_twice_is_kept_once():
    from CMBQuantLib.detection.blobs import Blob
    from CMBQuantLib.detection.two_stage import suppress_duplicates

    def blob(kji):
        return Blob(Seed(kji, 5.0, 1.0), np.array([kji]), 0.2, 1.0, 1.0, False, 2.0)

    p = suppress_duplicates([blob((10, 10, 10)), blob((10, 10, 11)), blob((10, 10, 30))], np.array([0.9, 0.8, 0.7]),
                            0.5, np.array([1.0, 1.0, 1.0]))
    assert p[0] == 0.9 and p[2] == 0.7  # the likelier one and a distant one stay
    assert p[1] < 0.5  # the second blob on the same CMB drops below the threshold (rejected, restorable)
