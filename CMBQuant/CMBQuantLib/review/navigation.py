"""Jump-to: centre Slicer's three slice views on a CMB and zoom to a field of view a reader can judge it in.

Works on real ``vtkMRMLSliceNode``s, so the same call drives the desktop views and the web app's views.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.core.scene import SceneContext, add_slice_nodes

DEFAULT_FOV_MM = 80.0  # the CMB and the anatomy around it: a round dot, or a vessel going on in the next slices
VIEW_NAMES = ("Red", "Yellow", "Green")  # axial, sagittal, coronal


def centre_slice(node: Any, ras: Iterable[float], fov_mm: float) -> None:
    """Put ``ras`` at the centre of one slice view and show ``fov_mm`` across its shorter side."""
    r, a, s = (float(v) for v in ras)
    if fov_mm <= 0:
        raise ValueError(f"field of view must be positive, got {fov_mm}")
    was = node.StartModify()
    node.SetXYZOrigin(0.0, 0.0, 0.0)  # no in-plane pan: the slice origin is the view centre
    node.JumpSliceByCentering(r, a, s)
    set_fov(node, fov_mm)
    node.EndModify(was)


def set_fov(node: Any, fov_mm: float) -> None:
    """Show ``fov_mm`` across the view's shorter side, about the view's centre (zoom without moving)."""
    if fov_mm <= 0:
        raise ValueError(f"field of view must be positive, got {fov_mm}")
    w, h, _ = node.GetDimensions()
    aspect = (w / h) if h else 1.0
    fx, fy = (fov_mm * aspect, fov_mm) if aspect >= 1 else (fov_mm, fov_mm / aspect)
    node.SetFieldOfView(fx, fy, node.GetFieldOfView()[2])
    node.UpdateMatrices()


def jump_to(slice_nodes: Iterable[Any], ras: Iterable[float], fov_mm: float = DEFAULT_FOV_MM) -> None:
    ras = list(ras)
    for node in slice_nodes:
        centre_slice(node, ras, fov_mm)


def slice_nodes(ctx: SceneContext, names: tuple[str, ...] = VIEW_NAMES) -> list[Any]:
    """The named slice nodes of the scene (created for a headless scene, which has none)."""
    nodes = [ctx.scene.GetSingletonNode(n, "vtkMRMLSliceNode") for n in names]
    if any(n is None for n in nodes):
        made = add_slice_nodes(ctx, names)
        nodes = [made[n] for n in names]
    return nodes


def jump_to_cmb(ctx: SceneContext, record: CMBRecord, fov_mm: float = DEFAULT_FOV_MM,
                names: tuple[str, ...] = VIEW_NAMES) -> np.ndarray:
    """Centre the Red/Yellow/Green views on the CMB's centroid; returns the centroid (RAS mm)."""
    jump_to(slice_nodes(ctx, names), record.ras, fov_mm)
    return record.ras
