"""The acquisition side of a phantom: the clinical (optionally oblique) grid, slice-thickness blur, bias and noise.

Anatomy is drawn on the 1 mm label grid; what a scanner adds happens here, so a detector sees thick slices,
partial volume, an uneven coil profile and Rician magnitude noise, as on real SWI.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.phantoms.config import PhantomConfig


def output_geometry(geometry: Geometry, shape_kji: tuple[int, int, int], cfg: PhantomConfig) -> Geometry:
    """Clinical grid covering the input field of view, optionally oblique (rotation about the FOV centre)."""
    in_sp = geometry.spacing
    extent = np.array(shape_kji[::-1]) * in_sp
    spacing = np.array(cfg.spacing, float)
    shape_ijk = np.array(cfg.shape) if cfg.shape else np.floor(extent / spacing).astype(int)
    centre = geometry.ijk_to_ras_points((np.array(shape_kji[::-1]) - 1) / 2.0)[0]
    in_dir = geometry.ijk_to_ras[:3, :3] / in_sp
    rot = Rotation.from_euler("xyz", cfg.rotation_deg, degrees=True).as_matrix()
    # Axial-like output: keep the input's axes (a 1 mm label map is usually RAS or LIA), then rotate.
    axes = _axial_axes(in_dir)
    direction = rot @ axes
    mat = np.eye(4)
    mat[:3, :3] = direction @ np.diag(spacing)
    mat[:3, 3] = centre - mat[:3, :3] @ ((shape_ijk - 1) / 2.0)
    return Geometry(mat, (int(shape_ijk[2]), int(shape_ijk[1]), int(shape_ijk[0])))


def _axial_axes(direction: np.ndarray) -> np.ndarray:
    """Columns i->R/L, j->A/P, k->S/I: an axial acquisition whatever the input label map's orientation."""
    out = np.zeros((3, 3))
    for ras_axis in range(3):
        col = int(np.argmax(np.abs(direction[ras_axis, :])))
        out[:, ras_axis] = 0.0
        out[ras_axis, ras_axis] = 1.0 if direction[ras_axis, col] > 0 or ras_axis == 2 else -1.0
    out[2, 2] = 1.0
    return out


def resample(hi: np.ndarray, labels: np.ndarray, geometry: Geometry, out: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Image: anti-aliased linear resampling to the clinical grid (slice thickness blur); labels: nearest."""
    smooth = ndimage.gaussian_filter(hi, sigma=_source_blur(geometry, out)[::-1])
    kk, jj, ii = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in out.shape], indexing="ij")
    pts = np.stack([ii.ravel(), jj.ravel(), kk.ravel()], 1)
    out_to_src = np.linalg.inv(geometry.ijk_to_ras) @ out.ijk_to_ras
    src = (pts @ out_to_src[:3, :3].T.astype(np.float32) + out_to_src[:3, 3].astype(np.float32))[:, ::-1].T
    img = ndimage.map_coordinates(smooth, src, order=1, mode="constant", cval=0.0).reshape(out.shape)
    anat = ndimage.map_coordinates(labels, src, order=0, mode="constant", cval=0).reshape(out.shape)
    return img.astype(np.float32), anat.astype(np.int16)


def _source_blur(geometry: Geometry, out: Geometry) -> np.ndarray:
    """Gaussian sigma (source voxels, i/j/k) matching each output voxel's extent along the nearest source axis."""
    src_dir = geometry.ijk_to_ras[:3, :3] / geometry.spacing
    out_dir = out.ijk_to_ras[:3, :3] / out.spacing
    nearest_out_axis = np.argmax(np.abs(src_dir.T @ out_dir), axis=1)
    ratio = out.spacing[nearest_out_axis] / geometry.spacing
    return np.sqrt(np.maximum(ratio ** 2 - 1.0, 0.0)) / 2.355


def bias_and_noise(img: np.ndarray, rng: np.random.Generator, cfg: PhantomConfig) -> np.ndarray:
    """A smooth quadratic coil profile, then Rician magnitude noise of absolute sigma ``noise_sigma``."""
    shape = img.shape
    coords = [np.linspace(-1, 1, n, dtype=np.float32) for n in shape]
    kk, jj, ii = np.meshgrid(*coords, indexing="ij", sparse=True)
    c = rng.uniform(-1, 1, 6) * cfg.bias_amplitude / 2
    bias = 1.0 + c[0] * ii + c[1] * jj + c[2] * kk + c[3] * ii * jj + c[4] * (ii ** 2 - 0.33) + c[5] * (jj ** 2 - 0.33)
    img = img * np.maximum(bias, 0.05).astype(np.float32)  # strong fields must not invert the image in a corner
    s = cfg.noise_sigma
    n1 = rng.standard_normal(shape, dtype=np.float32) * s
    n2 = rng.standard_normal(shape, dtype=np.float32) * s
    return np.sqrt((img + n1) ** 2 + n2 ** 2)  # Rician magnitude noise
