"""Jump-to: the three real slice views are centred on the CMB centroid at the requested field of view."""
from __future__ import annotations

import numpy as np
import pytest

from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.core.scene import add_slice_nodes, headless_context
from CMBQuantLib.review.navigation import jump_to_cmb, slice_nodes


def slice_to_ras(node) -> np.ndarray:
    m = node.GetSliceToRAS()
    return np.array([[m.GetElement(r, c) for c in range(4)] for r in range(4)])


def test_jump_centres_red_yellow_green_on_the_centroid_at_the_requested_fov():
    ctx = headless_context()
    nodes = add_slice_nodes(ctx)
    rec = CMBRecord(cmb_id=7, r=12.5, a=-31.25, s=18.0)
    assert np.allclose(jump_to_cmb(ctx, rec, fov_mm=30.0), [12.5, -31.25, 18.0])
    for name in ("Red", "Yellow", "Green"):
        node = nodes[name]
        assert np.allclose(slice_to_ras(node)[:3, 3], [12.5, -31.25, 18.0])
        assert node.GetFieldOfView()[:2] == pytest.approx((30.0, 30.0))
        assert node.GetXYZOrigin() == pytest.approx((0.0, 0.0, 0.0))
    # slice offset = the centroid's position along each view's normal (Slicer's sagittal normal points left)
    for node in nodes.values():
        normal = slice_to_ras(node)[:3, 2]
        assert node.GetSliceOffset() == pytest.approx(float(normal @ [12.5, -31.25, 18.0]))
    assert nodes["Red"].GetSliceOffset() == pytest.approx(18.0)
    assert abs(nodes["Yellow"].GetSliceOffset()) == pytest.approx(12.5)
    assert abs(nodes["Green"].GetSliceOffset()) == pytest.approx(31.25)
    # orientations untouched
    assert np.allclose(slice_to_ras(nodes["Red"])[:3, 2], [0, 0, 1])
    assert np.allclose(np.abs(slice_to_ras(nodes["Yellow"])[:3, 2]), [1, 0, 0])
    assert np.allclose(np.abs(slice_to_ras(nodes["Green"])[:3, 2]), [0, 1, 0])


def test_wide_view_shows_the_fov_across_its_shorter_side_and_a_second_jump_moves_it():
    ctx = headless_context()
    red = add_slice_nodes(ctx, ("Red",))["Red"]
    red.SetDimensions(800, 400, 1)
    jump_to_cmb(ctx, CMBRecord(cmb_id=1, r=1.0, a=2.0, s=3.0), fov_mm=20.0, names=("Red",))
    assert red.GetFieldOfView()[:2] == pytest.approx((40.0, 20.0))
    jump_to_cmb(ctx, CMBRecord(cmb_id=2, r=-5.0, a=7.0, s=-9.0), fov_mm=20.0, names=("Red",))
    assert np.allclose(slice_to_ras(red)[:3, 3], [-5.0, 7.0, -9.0])


def test_slice_nodes_are_created_in_a_headless_scene_and_bad_fov_refused():
    ctx = headless_context()
    assert [n.GetName() for n in slice_nodes(ctx)] == ["Red", "Yellow", "Green"]
    with pytest.raises(ValueError, match="field of view"):
        jump_to_cmb(ctx, CMBRecord(cmb_id=1), fov_mm=0.0)
