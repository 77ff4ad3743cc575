"""Masks for a CMB the reader adds by one click: grow the dark blob under the click, or a sphere of a chosen size.

A click is never exactly on the centre, so growing starts at the darkest (smoothed) voxel within a small search
radius; the grown region is bounded by a sphere of the largest CMB size, so a click next to a vein cannot flood
along it.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.detection.candidates import component_records


def _box(geometry: Geometry, centre_ras: np.ndarray, radius_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Index box (lo, hi) in (i, j, k) holding a sphere of ``radius_mm`` around ``centre_ras``, clipped to the grid."""
    ijk = geometry.ras_to_ijk_points(centre_ras)[0]
    half = np.ceil(radius_mm / geometry.spacing).astype(int) + 1
    size = np.array(geometry.shape[::-1])
    lo = np.clip(np.floor(ijk).astype(int) - half, 0, size)
    hi = np.clip(np.floor(ijk).astype(int) + half + 2, 0, size)
    return lo, hi


def _distance_mm(geometry: Geometry, lo: np.ndarray, hi: np.ndarray, centre_ras: np.ndarray) -> np.ndarray:
    """[k, j, i] distance (mm) of each voxel centre in the box to ``centre_ras``."""
    kk, jj, ii = np.meshgrid(*[np.arange(lo[d], hi[d]) for d in (2, 1, 0)], indexing="ij")
    pts = np.stack([ii.ravel(), jj.ravel(), kk.ravel()], 1)
    d = np.linalg.norm(geometry.ijk_to_ras_points(pts) - centre_ras, axis=1)
    return d.reshape(kk.shape)


def _inside(geometry: Geometry, ras: np.ndarray) -> None:
    ijk = geometry.ras_to_ijk_points(ras)[0]
    size = np.array(geometry.shape[::-1])
    if np.any(ijk < -0.5) or np.any(ijk > size - 0.5):
        raise ValueError(f"point {np.round(ras, 1).tolist()} (RAS mm) lies outside the volume")


def sphere_mask(geometry: Geometry, centre_ras: np.ndarray, diameter_mm: float) -> np.ndarray:
    """Voxels whose centre lies within ``diameter_mm / 2`` of the point (at least the nearest voxel)."""
    centre_ras = np.asarray(centre_ras, float)
    _inside(geometry, centre_ras)
    mask = np.zeros(geometry.shape, bool)
    lo, hi = _box(geometry, centre_ras, diameter_mm / 2)
    local = _distance_mm(geometry, lo, hi, centre_ras) <= diameter_mm / 2
    mask[lo[2]:hi[2], lo[1]:hi[1], lo[0]:hi[0]] = local
    if not mask.any():
        i, j, k = np.round(geometry.ras_to_ijk_points(centre_ras)[0]).astype(int)
        mask[k, j, i] = True
    return mask


def darkest_point(image: np.ndarray, geometry: Geometry, click_ras: np.ndarray,
                  search_radius_mm: float = 3.0) -> np.ndarray:
    """RAS of the darkest voxel (after a light Gaussian, against noise) within ``search_radius_mm`` of the click."""
    click_ras = np.asarray(click_ras, float)
    _inside(geometry, click_ras)
    lo, hi = _box(geometry, click_ras, search_radius_mm + 2 * float(geometry.spacing.max()))
    crop = image[lo[2]:hi[2], lo[1]:hi[1], lo[0]:hi[0]].astype(np.float32)
    smooth = ndimage.gaussian_filter(crop, 0.6, mode="nearest")
    dist = _distance_mm(geometry, lo, hi, click_ras)
    smooth[dist > search_radius_mm] = np.inf
    k, j, i = np.unravel_index(int(np.argmin(smooth)), smooth.shape)
    return geometry.ijk_to_ras_points([i + lo[0], j + lo[1], k + lo[2]])[0]


def grow_dark_blob(image: np.ndarray, geometry: Geometry, click_ras: np.ndarray, search_radius_mm: float = 3.0,
                   max_diameter_mm: float = 10.0, level: float = 0.5, iterations: int = 10) -> np.ndarray:
    """The dark blob under a click, at half depth: voxels darker than ``level`` of the way from the blob minimum to
    the local background, 26-connected to the minimum, within ``max_diameter_mm / 2`` of it.

    The background is re-measured on a ring just outside the current region until the region is stable, so a CMB
    inside dark deep grey matter is cut against grey matter, not against the brighter white matter further out.
    """
    seed_ras = darkest_point(image, geometry, click_ras, search_radius_mm)
    radius = max_diameter_mm / 2
    lo, hi = _box(geometry, seed_ras, radius + 2.0)
    crop = image[lo[2]:hi[2], lo[1]:hi[1], lo[0]:hi[0]].astype(np.float32)
    dist = _distance_mm(geometry, lo, hi, seed_ras)
    seed = np.unravel_index(int(np.argmin(dist)), crop.shape)
    minimum = float(ndimage.minimum(crop, labels=(dist <= float(geometry.spacing.max())).astype(int), index=1))
    ball = np.ones((3, 3, 3), bool)
    region = np.zeros(crop.shape, bool)
    region[seed] = True
    for _ in range(iterations):
        ring = ndimage.binary_dilation(region, ball, iterations=2) & ~ndimage.binary_dilation(region, ball)
        background = float(np.median(crop[ring])) if ring.any() else float(np.median(crop))
        if background <= minimum:
            break
        dark = (crop <= minimum + level * (background - minimum)) & (dist <= radius)
        dark[seed] = True
        labels, _ = ndimage.label(dark, structure=ball)
        new = labels == labels[seed]
        if np.array_equal(new, region):
            break
        region = new
    mask = np.zeros(geometry.shape, bool)
    mask[lo[2]:hi[2], lo[1]:hi[1], lo[0]:hi[0]] = region
    return mask


def mask_record(mask: np.ndarray, geometry: Geometry, image: np.ndarray | None) -> CMBRecord:
    """The record (size, centroid, intensity) of one added mask, measured on its bounding box: a whole-volume pass
    costs seconds on a 512² SWI, and the reader waits for it."""
    kji = np.argwhere(mask)
    lo, hi = kji.min(0), kji.max(0) + 1
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    shift = np.eye(4)
    shift[:3, 3] = lo[::-1]  # (i, j, k) offset of the box
    local = Geometry(geometry.ijk_to_ras @ shift, tuple(int(x) for x in hi - lo))
    rec = component_records(mask[box].astype(np.uint32), 1, local, image=None if image is None else image[box])[0]
    rec.i, rec.j, rec.k = rec.i + lo[2], rec.j + lo[1], rec.k + lo[0]
    return rec


def click_mask(image: np.ndarray | None, geometry: Geometry, ras: np.ndarray, method: str = "grow",
               diameter_mm: float = 3.0, search_radius_mm: float = 3.0, max_diameter_mm: float = 10.0) -> np.ndarray:
    """The mask of a CMB the reader clicked: ``grow`` the dark blob under the click (needs the image) or a
    ``sphere`` of ``diameter_mm``."""
    ras = np.asarray(ras, float).reshape(3)
    if method == "grow":
        if image is None:
            raise ValueError("growing needs the SWI image; use method='sphere'")
        return grow_dark_blob(image, geometry, ras, search_radius_mm, max_diameter_mm)
    if method == "sphere":
        return sphere_mask(geometry, ras, diameter_mm)
    raise ValueError(f"method must be 'grow' or 'sphere', got {method!r}")
