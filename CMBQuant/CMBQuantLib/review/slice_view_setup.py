"""Draw a ``ViewState`` on MRML: slice nodes (centre, field of view, minIP slab), the volume's window/level, the
segmentation's 2D overlay style and a small crosshair on the current CMB.

Plain MRML calls only, so Slicer's own slice views and the web app's off-screen slice views get exactly the same
picture from the same call. The minIP is Slicer's slab reconstruction (``vtkMRMLSliceNode.SetSlabReconstruction*``):
each view shows the minimum over ``slab_mm`` around its slice, so a vein crossing slices is drawn as a line.

Slicer takes ``int(thickness / s)`` samples ``s / OversamplingFactor`` apart in units of ``s``, ``s`` being the volume's
voxel spacing along the view's normal. With the default factor (2) only a 2 mm axis gets the slab asked for (a coronal
view of a 0.9 x 0.9 x 2 mm SWI covered 3.2 mm of an "8 mm" minIP), and an even count leaves the slice itself
unsampled. ``slab_sampling`` picks the node's thickness and factor so that every view takes an odd number of samples,
one on the slice, spread evenly over the thickness asked for, none further apart than a voxel.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from CMBQuantLib.core.geometry import ijk_to_ras_of_node
from CMBQuantLib.review.navigation import centre_slice, set_fov
from CMBQuantLib.review.view_state import ViewState

SLAB_MIN = 0  # vtkImageReslice's VTK_IMAGE_SLAB_MIN, the value SetSlabReconstructionType takes for a minIP
OUTLINE_THICKNESS = 2  # pixels: visible at any zoom, thin enough to leave the voxels inside in view
FILL_OPACITY = 0.5


def set_overlay(seg_display: Any, mode: str) -> None:
    """Outline only (the dark voxels inside stay visible), a half-transparent fill with outline, or nothing."""
    if seg_display is None:
        return
    was = seg_display.StartModify()
    seg_display.SetVisibility(True)
    seg_display.SetVisibility2DOutline(mode in ("outline", "fill"))
    seg_display.SetVisibility2DFill(mode == "fill")
    seg_display.SetOpacity2DFill(FILL_OPACITY)
    seg_display.SetOpacity2DOutline(1.0)
    seg_display.SetSliceIntersectionThickness(OUTLINE_THICKNESS)
    seg_display.EndModify(was)


def normal_spacing(slice_node: Any, volume_node: Any) -> float | None:
    """The volume's voxel spacing along the view's normal as Slicer reckons it: the volume axis closest to the
    normal, projected onto it. None without a volume."""
    if volume_node is None:
        return None
    axes = ijk_to_ras_of_node(volume_node)[:3, :3]  # columns: the I, J, K steps in RAS (mm)
    slice_to_ras = slice_node.GetSliceToRAS()
    normal = np.array([slice_to_ras.GetElement(r, 2) for r in range(3)])
    lengths = np.linalg.norm(axes, axis=0)
    if not lengths.all():
        return None
    projected = np.abs(normal @ axes)
    return float(projected[np.argmax(projected / lengths)]) or None


def slab_sampling(thickness_mm: float, spacing_mm: float) -> tuple[float, float, int]:
    """(node thickness, oversampling factor, sample count) that make Slicer sample ``thickness_mm`` with an odd
    count ``n`` of samples ``thickness_mm / n`` apart (at most one voxel), the middle one on the slice."""
    n = max(1, math.ceil(thickness_mm / spacing_mm - 1e-6))
    n += 1 - n % 2
    step = thickness_mm / n
    # Slicer: count = int(thickness / s), step (mm) = s * s / factor; the margin keeps int() off the edge
    return n * spacing_mm + 1e-4, spacing_mm * spacing_mm / step, n


def set_slab(slice_node: Any, enabled: bool, thickness_mm: float, spacing_mm: float | None = None) -> None:
    """Minimum-intensity projection over ``thickness_mm`` (mm) around the slice, or the plain slice. With the
    volume's ``spacing_mm`` along the normal, sampled as ``slab_sampling`` says (see the module docstring)."""
    node_thickness, factor = float(thickness_mm), None
    if spacing_mm:
        node_thickness, factor, _ = slab_sampling(float(thickness_mm), float(spacing_mm))
    was = slice_node.StartModify()
    slice_node.SetSlabReconstructionEnabled(bool(enabled))
    slice_node.SetSlabReconstructionType(SLAB_MIN)
    slice_node.SetSlabReconstructionThickness(node_thickness)
    if factor is not None:
        slice_node.SetSlabReconstructionOversamplingFactor(factor)
    slice_node.EndModify(was)


def set_window_level(volume_node: Any, window: float, level: float) -> None:
    """A fixed window/level on the volume's display node (Slicer's automatic window is switched off)."""
    display = volume_node.GetDisplayNode() if volume_node is not None else None
    if display is None or window <= 0:
        return
    was = display.StartModify()
    display.SetAutoWindowLevel(False)
    display.SetWindowLevel(float(window), float(level))
    display.EndModify(was)


def crosshair_node(scene: Any) -> Any:
    """The scene's crosshair node (the one Slicer's crosshair displayable manager draws), made when missing."""
    node = scene.GetFirstNodeByClass("vtkMRMLCrosshairNode")
    if node is None:
        import slicer

        node = slicer.vtkMRMLCrosshairNode()
        node.SetSingletonTag("default")
        scene.AddNode(node)
    return node


def set_marker(scene: Any, ras: Iterable[float] | None) -> None:
    """A small open cross (four short strokes with a gap) at ``ras``, so the CMB's own voxels stay visible."""
    node = crosshair_node(scene)
    if ras is None:
        node.SetCrosshairMode(node.NoCrosshair)
        return
    r, a, s = (float(v) for v in ras)
    was = node.StartModify()
    node.SetCrosshairMode(node.ShowSmallBasic)
    node.SetCrosshairThickness(node.Fine)
    node.SetCrosshairRAS(r, a, s)
    node.EndModify(was)


def apply_view_state(slice_nodes: Iterable[Any], view: ViewState, ras: Iterable[float] | None = None,
                     volume_node: Any = None, seg_node: Any = None, slab: bool = True) -> None:
    """Everything of ``view`` on these slice nodes: centred on ``ras`` at ``view.fov_mm`` and the marker put there
    (``ras`` None: zoomed about each view's centre, marker left), the minIP slab (``slab=False`` for views that
    must show the plain slice, e.g. phase), the window/level of ``volume_node``, the overlay of ``seg_node``."""
    nodes = list(slice_nodes)
    ras = None if ras is None else [float(v) for v in ras][:3]
    for node in nodes:
        if ras is not None:
            centre_slice(node, ras, view.fov_mm)
        else:
            set_fov(node, view.fov_mm)  # zoom about the view's centre: a slice the reader scrolled to stays
        set_slab(node, slab and view.minip, view.slab_mm, normal_spacing(node, volume_node))
    if volume_node is not None:
        set_window_level(volume_node, *view.window_level())
    if seg_node is not None:
        set_overlay(seg_node.GetDisplayNode(), view.overlay)
    if nodes and ras is not None:
        set_marker(nodes[0].GetScene(), ras)
