"""The review view state (zoom, window/level, overlay, minIP slab) and how it lands on real MRML nodes: keys change
only the view (nothing written), a case opens with a robust window, and ``apply_view_state`` sets exactly the slice,
volume display, segmentation display and crosshair properties both UIs rely on."""
from __future__ import annotations

import numpy as np
import pytest
from review_helpers import fresh_case

from CMBQuantLib.core.scene import add_slice_nodes, headless_context
from CMBQuantLib.review.controller import ReviewController
from CMBQuantLib.review.navigation import slice_nodes
from CMBQuantLib.review.slice_view_setup import SLAB_MIN, apply_view_state, crosshair_node, slab_sampling
from CMBQuantLib.review.view_state import (
    DEFAULT_FOV_MM,
    DEFAULT_VIEWS,
    FOV_RANGE_MM,
    SLAB_RANGE_MM,
    ViewState,
    robust_window,
    view_action,
)


def test_defaults_show_anatomy_in_three_views_with_an_outline():
    v = ViewState()
    assert 60.0 <= v.fov_mm == DEFAULT_FOV_MM <= 100.0
    assert v.overlay == "outline" and not v.minip and v.slab_mm == 8.0
    assert v.views == DEFAULT_VIEWS == ("Red", "Green", "Yellow")
    with pytest.raises(ValueError, match="overlay"):
        ViewState(overlay="opaque")


def test_zoom_slab_and_overlay_keys_step_and_clamp():
    v = ViewState()
    assert view_action(v, "zoom_out").fov_mm == pytest.approx(100.0)
    assert view_action(v, "zoom_in").fov_mm == pytest.approx(64.0)
    far = v
    for _ in range(30):
        far = view_action(far, "zoom_out")
    assert far.fov_mm == FOV_RANGE_MM[1]
    thin = v
    for _ in range(5):
        thin = view_action(thin, "slab_thinner")
    assert thin.slab_mm == SLAB_RANGE_MM[0] and view_action(v, "slab_thicker").slab_mm == 10.0
    assert view_action(v, "toggle_minip").minip
    off = view_action(v, "toggle_overlay")
    assert off.overlay == "off" and view_action(off, "toggle_overlay").overlay == "outline"
    fill = view_action(v, "overlay_style")
    assert fill.overlay == "fill"
    assert view_action(view_action(fill, "toggle_overlay"), "toggle_overlay").overlay == "fill"
    with pytest.raises(ValueError, match="not a view action"):
        view_action(v, "decide")


def test_window_level_keys_drag_and_reset():
    v = ViewState().with_auto(100.0, 50.0)
    assert v.window_level() == (100.0, 50.0)
    assert view_action(v, "window_wider").window == pytest.approx(120.0)
    assert view_action(v, "window_narrower").window == pytest.approx(100.0 / 1.2)
    assert view_action(v, "level_up").level == pytest.approx(60.0)
    assert view_action(v, "level_down").level == pytest.approx(40.0)
    dragged = v.dragged(0.5, -0.25)  # right widens, up lowers the level
    assert dragged.window == pytest.approx(100.0 * np.e) and dragged.level == pytest.approx(25.0)
    moved = view_action(view_action(dragged, "zoom_out"), "toggle_minip")
    back = view_action(moved, "view_reset")
    assert (back.window, back.level, back.fov_mm, back.minip) == (100.0, 50.0, DEFAULT_FOV_MM, True)


def test_robust_window_ignores_air_and_outliers():
    rng = np.random.default_rng(0)
    image = np.zeros((20, 50, 50), np.float32)  # mostly air
    image[5:15, 10:40, 10:40] = rng.uniform(200.0, 400.0, (10, 30, 30))  # the head
    image[0, 0, 0] = 1e6  # one hot voxel
    window, level = robust_window(image)
    assert 180.0 < level - window / 2 < 215.0 and 385.0 < level + window / 2 < 400.0
    assert robust_window(np.full((4, 4, 4), 3.0)) == (1.0, 3.5)
    phase = rng.uniform(-3.0, 3.0, (10, 10, 10)).astype(np.float32)
    pw, pl = robust_window(phase, head_only=False)
    assert abs(pl) < 0.3 and 5.0 < pw < 6.0  # a signed image keeps its negative half


def test_apply_view_state_sets_slab_window_overlay_and_marker_on_mrml():
    ctx = headless_context()
    nodes = list(add_slice_nodes(ctx, ("Red", "Green")).values())
    for n in nodes:
        n.SetDimensions(400, 200, 1)
    volume = ctx.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    volume.CreateDefaultDisplayNodes()
    seg = ctx.scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    seg.CreateDefaultDisplayNodes()
    view = ViewState(minip=True, slab_mm=12.0, overlay="outline").with_auto(300.0, 150.0)
    apply_view_state(nodes, view, (10.0, -20.0, 30.0), volume, seg)
    for n in nodes:
        # the volume's default 1 mm grid: 13 samples 12/13 mm apart, Slicer's count int(13.0001 / 1) = 13
        assert n.GetSlabReconstructionEnabled() and n.GetSlabReconstructionThickness() == pytest.approx(13.0001)
        assert n.GetSlabReconstructionOversamplingFactor() == pytest.approx(13 / 12)
        assert slab_sampling(12.0, 1.0)[2] == 13
        assert n.GetSlabReconstructionType() == SLAB_MIN
        assert n.GetFieldOfView()[1] == pytest.approx(DEFAULT_FOV_MM)  # the shorter side
        assert np.allclose([n.GetSliceToRAS().GetElement(r, 3) for r in range(3)], [10.0, -20.0, 30.0])
    display = volume.GetDisplayNode()
    assert (display.GetAutoWindowLevel(), display.GetWindow(), display.GetLevel()) == (0, 300.0, 150.0)
    sd = seg.GetDisplayNode()
    assert sd.GetVisibility2DOutline() and not sd.GetVisibility2DFill()
    marker = crosshair_node(ctx.scene)
    assert list(marker.GetCrosshairRAS()) == [10.0, -20.0, 30.0] and marker.GetCrosshairMode() == marker.ShowSmallBasic
    apply_view_state(nodes, view_action(view_action(view, "toggle_minip"), "overlay_style"), None, volume, seg)
    assert not nodes[0].GetSlabReconstructionEnabled() and sd.GetVisibility2DFill()
    assert np.allclose([nodes[0].GetSliceToRAS().GetElement(r, 3) for r in range(3)], [10.0, -20.0, 30.0])
    apply_view_state(nodes, view_action(view, "toggle_overlay"), None, volume, seg)
    assert not sd.GetVisibility2DOutline() and not sd.GetVisibility2DFill()


def test_view_keys_change_the_view_only_and_a_case_opens_with_its_robust_window(tmp_path):
    case = fresh_case(tmp_path)
    ctl = ReviewController(case, "reader")
    heard = []
    ctl.on_view_changed(heard.append)
    assert ctl.open_case(ctl.cases[0].case_id)
    assert heard and heard[-1].window_level() == robust_window(ctl.session.case.image)
    first = ctl.current().cmb_id
    for key in ("M", ".", "-", "Shift+W", "E", "O"):
        assert ctl.press(key)
    v = ctl.view
    assert (v.minip, v.slab_mm, v.fov_mm, v.overlay) == (True, 10.0, 100.0, "off")
    assert ctl.snapshot()["view"]["slab_mm"] == 10.0 and "minIP 10 mm" in ctl.message
    assert ctl.current().cmb_id == first and not (case / "review.jsonl").exists()
    assert ctl.press("X") and ctl.press("M") and not ctl.snapshot()["awaiting_reason"]  # a view key leaves X
    nodes = slice_nodes(ctl.ctx)
    apply_view_state(nodes, ctl.view, ctl.current().ras, ctl.session.case.volume_node, ctl.session.case.seg_node)
    assert not nodes[0].GetSlabReconstructionEnabled()
    ctl.close_case()
