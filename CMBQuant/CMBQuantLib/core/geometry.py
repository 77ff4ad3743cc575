"""Voxel geometry: IJK-to-RAS (exact, oblique and anisotropic grids included), from a volume node or a SimpleITK image."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import SimpleITK as sitk


@dataclass(frozen=True)
class Geometry:
    """Voxel grid of a volume: ``ijk_to_ras`` 4x4 and ``shape`` as (k, j, i) array shape."""

    ijk_to_ras: np.ndarray
    shape: tuple[int, int, int]

    @property
    def spacing(self) -> np.ndarray:
        return np.linalg.norm(self.ijk_to_ras[:3, :3], axis=0)

    @property
    def voxel_volume(self) -> float:
        return float(abs(np.linalg.det(self.ijk_to_ras[:3, :3])))

    def ijk_to_ras_points(self, ijk: np.ndarray) -> np.ndarray:
        """(N, 3) continuous voxel indices (i, j, k) to RAS mm."""
        ijk = np.atleast_2d(np.asarray(ijk, dtype=float))
        return ijk @ self.ijk_to_ras[:3, :3].T + self.ijk_to_ras[:3, 3]

    def ras_to_ijk_points(self, ras: np.ndarray) -> np.ndarray:
        ras = np.atleast_2d(np.asarray(ras, dtype=float))
        inv = np.linalg.inv(self.ijk_to_ras)
        return ras @ inv[:3, :3].T + inv[:3, 3]

    def same_as(self, other: "Geometry", tol: float = 1e-4) -> bool:
        return self.shape == other.shape and np.allclose(self.ijk_to_ras, other.ijk_to_ras, atol=tol)


def ijk_to_ras_of_node(volume_node: Any) -> np.ndarray:
    """A volume node's IJK -> RAS 4x4 as numpy (set even before the node has image data)."""
    import vtk

    m = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(m)
    return np.array([[m.GetElement(r, c) for c in range(4)] for r in range(4)])


def geometry_of_node(volume_node: Any) -> Geometry:
    dims = volume_node.GetImageData().GetDimensions()
    return Geometry(ijk_to_ras_of_node(volume_node), (dims[2], dims[1], dims[0]))


def geometry_from_sitk(image: Any) -> Geometry:
    """SimpleITK (LPS) geometry to RAS ijk_to_ras."""
    direction = np.array(image.GetDirection(), dtype=float).reshape(3, 3)
    spacing = np.array(image.GetSpacing(), dtype=float)
    origin = np.array(image.GetOrigin(), dtype=float)
    lps_to_ras = np.diag([-1.0, -1.0, 1.0])
    mat = np.eye(4)
    mat[:3, :3] = lps_to_ras @ direction @ np.diag(spacing)
    mat[:3, 3] = lps_to_ras @ origin
    size = image.GetSize()
    return Geometry(mat, (size[2], size[1], size[0]))


def sitk_from_array(array: np.ndarray, geometry: Geometry) -> Any:
    """A SimpleITK image (LPS) carrying ``geometry``; array is [k, j, i]."""

    img = sitk.GetImageFromArray(np.ascontiguousarray(array))
    lps = np.diag([-1.0, -1.0, 1.0])
    spacing = geometry.spacing
    direction = lps @ geometry.ijk_to_ras[:3, :3] @ np.diag(1.0 / spacing)
    img.SetSpacing(tuple(float(s) for s in spacing))
    img.SetDirection(tuple(float(d) for d in direction.ravel()))
    img.SetOrigin(tuple(float(o) for o in lps @ geometry.ijk_to_ras[:3, 3]))
    return img

