"""The minIP covers the thickness the reader asked for in every view, not only on the axis with 2 mm slices.

Slicer's slab sampling depends on the voxel spacing along each view's normal; on an SWI grid of 0.9 x 0.9 x 2 mm
the coronal view with Slicer's default sampling covered about 3 mm of an "8 mm" minIP. These tests run Slicer's own
slice logic (slicer-core, no rendering) on real MRML and read the resliced image."""
from __future__ import annotations

import numpy as np
import pytest
import slicer
import vtk
from vtk.util import numpy_support

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.core.scene import add_slice_nodes, headless_context
from CMBQuantLib.review.slice_view_setup import normal_spacing, set_slab, slab_sampling
from CMBQuantLib.volumes.images import volume_node_from_array

SPACING = (0.9, 0.9, 2.0)  # R, A, S (mm): the phantom's SWI grid
OFFSETS_MM = (0.0, 1.8, 3.6, 5.4)  # dark dots in front of the coronal slice, two voxels apart along A
CENTRE_J, SLICE_S = 30, 40.0


def _volume_with_dots(ctx):
    """Bright background, one dark voxel per offset, each at its own R column, all on one axial slice."""
    array = np.full((40, 60, 60), 100.0, np.float32)  # k (S), j (A), i (R)
    for n, offset in enumerate(OFFSETS_MM):
        array[int(SLICE_S / SPACING[2]), CENTRE_J + int(round(offset / SPACING[1])), 10 + 10 * n] = 0.0
    return volume_node_from_array(ctx, array, Geometry(np.diag([*SPACING, 1.0]), array.shape), "dots")


def _coronal_view():
    ctx = headless_context()
    node = add_slice_nodes(ctx, ("Green",))["Green"]
    node.SetDimensions(256, 256, 1)
    volume = _volume_with_dots(ctx)
    composite = slicer.vtkMRMLSliceCompositeNode()
    composite.SetLayoutName("Green")  # before the logic is made: it looks its composite node up by layout name
    ctx.scene.AddNode(composite)
    composite.SetBackgroundVolumeID(volume.GetID())
    logic = slicer.vtkMRMLSliceLogic()
    logic.SetMRMLApplicationLogic(ctx.app_logic)
    logic.SetMRMLScene(ctx.scene)
    logic.SetSliceNode(node)
    logic.FitSliceToAll()
    node.JumpSliceByCentering(27.0, CENTRE_J * SPACING[1], SLICE_S)
    return node, volume, logic, ctx  # the scene must outlive the nodes


def _dot_values(node, logic) -> list[float]:
    """The darkest resliced pixel around each dot's in-plane position."""
    logic.UpdatePipeline()
    reslice = logic.GetBackgroundLayer().GetReslice()
    reslice.Update()
    pixels = numpy_support.vtk_to_numpy(reslice.GetOutput().GetPointData().GetScalars()).reshape(256, 256)
    ras_to_xy = vtk.vtkMatrix4x4()
    vtk.vtkMatrix4x4.Invert(node.GetXYToRAS(), ras_to_xy)
    values = []
    for n in range(len(OFFSETS_MM)):
        x, y = (int(round(v)) for v in ras_to_xy.MultiplyPoint((SPACING[0] * (10 + 10 * n), 27.0, SLICE_S, 1))[:2])
        values.append(float(pixels[y - 3:y + 4, x - 3:x + 4].min()))
    return values


def test_slab_sampling_takes_an_odd_count_at_most_a_voxel_apart_over_the_thickness():
    thickness, factor, n = slab_sampling(8.0, 2.0)  # axial: 5 samples 1.6 mm apart, one on the slice
    assert (n, int(thickness / 2.0), 2.0 * 2.0 / factor) == (5, 5, pytest.approx(1.6))
    thickness, factor, n = slab_sampling(8.0, 0.9)  # coronal: 9 samples 0.89 mm apart
    assert (n, int(thickness / 0.9), 0.9 * 0.9 / factor) == (9, 9, pytest.approx(8.0 / 9))
    assert slab_sampling(1.0, 2.0)[2] == 1  # thinner than a voxel: the plain slice


def test_coronal_minip_of_8_mm_shows_dots_within_4_mm_and_not_beyond():
    node, volume, logic, _ctx = _coronal_view()
    assert normal_spacing(node, volume) == pytest.approx(0.9)
    set_slab(node, True, 8.0, normal_spacing(node, volume))
    dots = _dot_values(node, logic)
    assert all(v < 50.0 for v in dots[:3]) and dots[3] == 100.0, dots  # 0, 1.8, 3.6 mm in; 5.4 mm out
    set_slab(node, True, 16.0, normal_spacing(node, volume))
    assert max(_dot_values(node, logic)) < 50.0  # 16 mm reaches 5.4 mm
    set_slab(node, False, 8.0, normal_spacing(node, volume))
    plain = _dot_values(node, logic)
    assert plain[0] < 50.0 and plain[1:] == [100.0] * 3


def test_slicer_default_sampling_covers_only_a_third_of_the_coronal_slab():
    """The bug the sampling fixes: Slicer's default factor on a 0.9 mm axis misses a dot 3.6 mm away."""
    node, volume, logic, _ctx = _coronal_view()
    set_slab(node, True, 8.0)  # no spacing: Slicer's default oversampling
    assert _dot_values(node, logic)[2] == 100.0
