"""The voxel grid of a mask: array index -> world mm, and the volume of one voxel.

Arrays are indexed in numpy order (axis 0, 1, 2). ``spacing`` is per array axis in mm; ``affine`` (optional, 4x4)
maps (axis0, axis1, axis2, 1) to world mm and wins over ``spacing``, so oblique grids are exact.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def grid_affine(spacing: Sequence[float] | None = None, affine: np.ndarray | None = None) -> np.ndarray:
    """The 4x4 index-to-mm map: ``affine`` when given, else a diagonal of ``spacing`` (unit voxels by default)."""
    if affine is not None:
        a = np.asarray(affine, dtype=float)
        if a.shape != (4, 4):
            raise ValueError(f"affine must be 4x4, got {a.shape}")
        return a
    spacing = (1, 1, 1) if spacing is None else spacing
    if len(spacing) != 3:
        raise ValueError(f"spacing needs 3 values (one per array axis), got {tuple(spacing)}")
    return np.diag([*map(float, spacing), 1.0])


def voxel_volume_mm3(spacing: Sequence[float] | None = None, affine: np.ndarray | None = None) -> float:
    """Volume of one voxel: |det| of the affine's linear part (so oblique grids are right too)."""
    return float(abs(np.linalg.det(grid_affine(spacing, affine)[:3, :3])))
