"""The ring-artefact switch of the phantom generator: N round dark spots ringed bright, at recorded positions and
clear of every CMB; off (the default), the phantom is the one the generator made before the switch existed."""
from __future__ import annotations

import argparse

import numpy as np
import pytest
from scipy import ndimage

from CMBQuantLib.commands.phantom_cli import add_arguments, config_from_args
from CMBQuantLib.phantoms.mimics import ring_profile
from CMBQuantLib.phantoms.phantom import PhantomConfig, builtin_phantom

N_RINGS = 6
# builtin_phantom(4, PhantomConfig(n_cmbs=4, noise_sigma=0.0)) made by the generator before the switch existed
BEFORE_SUM = 852075.0362941409
BEFORE_SLICE40_SUM = 15820.712029766466


@pytest.fixture(scope="module")
def pair():
    off = builtin_phantom(4, PhantomConfig(n_cmbs=4, noise_sigma=0.0))
    on = builtin_phantom(4, PhantomConfig(n_cmbs=4, noise_sigma=0.0, n_ring_artefacts=N_RINGS))
    return off, on


def _rings(ph):
    return [m for m in ph.mimics if m["kind"] == "ring_artefact"]


def _inplane_mean(ph, centre, radius_mm):
    """Mean image value on a circle of ``radius_mm`` in the axial plane through ``centre`` (RAS)."""
    ang = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    pts = centre + radius_mm * np.stack([np.cos(ang), np.sin(ang), np.zeros_like(ang)], 1)
    ijk = ph.geometry.ras_to_ijk_points(pts)
    return float(ndimage.map_coordinates(ph.image, ijk[:, ::-1].T, order=1).mean())


@pytest.mark.slow
def test_switch_off_reproduces_the_phantom_made_before_the_switch(pair):
    off, _ = pair
    assert not _rings(off)
    assert float(off.image.astype(np.float64).sum()) == pytest.approx(BEFORE_SUM, rel=1e-9)
    assert float(off.image[40].astype(np.float64).sum()) == pytest.approx(BEFORE_SLICE40_SUM, rel=1e-9)
    assert [(c.r, c.a, c.s) for c in off.cmbs][:2] == [(-43.0, 6.0, -2.0), (-7.0, -63.0, -18.0)]


@pytest.mark.slow
def test_switch_on_records_n_rings_clear_of_the_cmbs_and_changes_nothing_else(pair):
    off, on = pair
    rings = _rings(on)
    assert len(rings) == N_RINGS
    assert [(c.r, c.a, c.s, c.diameter_mm) for c in on.cmbs] == [(c.r, c.a, c.s, c.diameter_mm) for c in off.cmbs]
    assert [m for m in on.mimics if m["kind"] != "ring_artefact"] == off.mimics
    np.testing.assert_array_equal(on.cmb_labels, off.cmb_labels)
    for m in rings:
        centre = np.array([m["r"], m["a"], m["s"]])
        assert 1.5 <= m["radius_mm"] <= 3.5
        for c in on.cmbs:
            assert np.linalg.norm(centre - np.array([c.r, c.a, c.s])) >= m["radius_mm"] + c.diameter_mm / 2 + 2.0
    # the change stays within the rings' reach (+ the resampling blur): beyond it, float rounding at most
    kk, jj, ii = np.nonzero(on.image != off.image)
    changed = on.geometry.ijk_to_ras_points(np.stack([ii, jj, kk], 1).astype(float))
    centres = np.array([[m["r"], m["a"], m["s"]] for m in rings])
    beyond = (np.linalg.norm(changed[:, None] - centres[None], axis=2)
              - np.array([m["radius_mm"] + 3.5 for m in rings])[None]).min(axis=1)
    delta = np.abs(on.image - off.image)[kk, jj, ii]
    assert len(changed) > 0 and beyond.max() < 5.0
    assert delta[beyond > 2.5].max(initial=0.0) < 1e-5


@pytest.mark.slow
def test_each_ring_is_a_dark_core_inside_a_bright_overshoot(pair):
    """Against the same phantom without rings, so the tissue around each spot drops out of the ratio."""
    off, on = pair
    for m in _rings(on):
        centre = np.array([m["r"], m["a"], m["s"]])
        r = m["radius_mm"]
        core = _inplane_mean(on, centre, 0.0) / _inplane_mean(off, centre, 0.0)
        ring = _inplane_mean(on, centre, r + 1.3) / _inplane_mean(off, centre, r + 1.3)
        far = _inplane_mean(on, centre, r + 6.0) / _inplane_mean(off, centre, r + 6.0)
        assert core < 1.0 - 0.5 * m["depth"], m
        assert ring > 1.0 + 0.3 * m["ring_amp"], m
        assert far == pytest.approx(1.0, abs=1e-6), m


def test_ring_profile_has_the_recorded_depth_and_overshoot():
    d = np.array([0.0, 2.0, 3.3, 8.0])
    prof = ring_profile(d, radius=2.0, depth=0.8, ring_amp=0.15)
    assert prof[0] == pytest.approx(0.2)
    assert prof[2] == pytest.approx(1.15)
    assert prof[3] == pytest.approx(1.0, abs=1e-6)


def test_the_phantom_command_switch_sets_the_ring_count_and_defaults_to_none():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert config_from_args(parser.parse_args(["--out", "x", "--ring-artefacts", "7"])).n_ring_artefacts == 7
    assert config_from_args(parser.parse_args(["--out", "x"])).n_ring_artefacts == 0
