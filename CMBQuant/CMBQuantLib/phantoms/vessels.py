"""Vessels, the top CMB mimic: sulcal and medullary veins, short vessels crossing the slice, arterial flow voids.

A vein is a line on the slices it runs along and a dot on the slice it crosses, so the crossing vessels (straight
along the slice normal or oblique) and the round flow voids of the basal cisterns teach a detector that a dark
dot is not always a bleed. Centrelines are drawn on the 1 mm label grid, then blurred to a tube of set calibre.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.phantoms.config import PhantomConfig, brain_mask


def vein_centrelines(labels: np.ndarray, rng: np.random.Generator, rng_x: np.random.Generator, cfg: PhantomConfig,
                     slice_normal: np.ndarray | None = None) -> np.ndarray:
    """Boolean map of vein centrelines: random walks in sulcal CSF, radial medullary veins, crossing vessels.

    ``slice_normal`` is the output slice normal in (k, j, i) voxel units, used when ``crossing_tilt_deg`` is set.
    """
    lines = np.zeros(labels.shape, bool)
    brain = brain_mask(labels, cfg.parcels_are_brain)
    _sulcal_veins(lines, labels, brain, rng, cfg.n_sulcal_veins)
    _medullary_veins(lines, labels, brain, rng, cfg.n_medullary_veins)
    wm = np.argwhere(np.isin(labels, [2, 41]))
    for _ in range(cfg.n_crossing_vessels if len(wm) else 0):
        p = wm[rng.integers(len(wm))].astype(float)
        d = np.array([1.0, 0.15 * rng.standard_normal(), 0.15 * rng.standard_normal()])  # along k (legacy)
        if cfg.crossing_tilt_deg is not None and slice_normal is not None:
            d = _tilted(slice_normal, cfg.crossing_tilt_deg, rng_x)  # unit: the legacy start offset is kept
        _draw_line(lines, p - d * 4, d / np.linalg.norm(d), rng.uniform(6, 12), brain)
    return lines


def _sulcal_veins(lines: np.ndarray, labels: np.ndarray, brain: np.ndarray, rng, n: int) -> None:
    csf = labels == 24
    near_brain = csf & ndimage.binary_dilation(brain, iterations=2)
    seeds = np.argwhere(near_brain)
    shape = np.array(labels.shape)
    for _ in range(n if len(seeds) else 0):
        p = seeds[rng.integers(len(seeds))].astype(float)
        d = rng.standard_normal(3)
        for _ in range(int(rng.integers(15, 45))):
            d = d / np.linalg.norm(d) + 0.35 * rng.standard_normal(3)
            q = p + d / np.linalg.norm(d)
            qi = np.clip(np.round(q).astype(int), 0, shape - 1)
            if not csf[tuple(qi)]:
                d = -d + 0.5 * rng.standard_normal(3)
                continue
            p = q
            lines[tuple(qi)] = True


def _medullary_veins(lines: np.ndarray, labels: np.ndarray, brain: np.ndarray, rng, n: int) -> None:
    vent = np.isin(labels, [4, 43])
    vseeds = np.argwhere(vent & ~ndimage.binary_erosion(vent))
    centre = np.argwhere(vent).mean(axis=0) if len(vseeds) else None
    for _ in range(n if len(vseeds) else 0):
        p = vseeds[rng.integers(len(vseeds))].astype(float)
        d = p - centre
        d[0] *= 0.3
        d /= np.linalg.norm(d) + 1e-9
        _draw_line(lines, p, d, rng.uniform(8, 18), brain)


def _tilted(normal: np.ndarray, max_deg: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector within ``max_deg`` of ``normal`` (uniform angle, random azimuth)."""
    n = normal / np.linalg.norm(normal)
    u = np.cross(n, rng.standard_normal(3))
    u /= np.linalg.norm(u) + 1e-12
    theta = np.deg2rad(rng.uniform(0.0, max_deg))
    return np.cos(theta) * n + np.sin(theta) * u


def slice_normal_kji(geometry: Geometry, out: Geometry) -> np.ndarray:
    """The output grid's k axis (slice normal) in the label map's (k, j, i) voxel units."""
    n_ras = out.ijk_to_ras[:3, 2] / np.linalg.norm(out.ijk_to_ras[:3, 2])
    ijk = np.linalg.solve(geometry.ijk_to_ras[:3, :3], n_ras)
    return ijk[::-1] / np.linalg.norm(ijk)


def _draw_line(lines: np.ndarray, start: np.ndarray, direction: np.ndarray, length: float, allowed: np.ndarray) -> None:
    shape = np.array(lines.shape)
    for t in np.arange(0, length, 0.5):
        q = np.round(start + t * direction).astype(int)
        if (q < 0).any() or (q >= shape).any():
            return
        if allowed[tuple(q)]:
            lines[tuple(q)] = True


def soft_tubes(lines: np.ndarray, calibre_mm: float = 1.5) -> np.ndarray:
    """Centrelines to soft dark tubes of ``calibre_mm`` diameter (0..1) on the 1 mm grid."""
    scale = calibre_mm / 1.5
    f = ndimage.gaussian_filter(lines.astype(np.float32), 0.7 * scale)
    return np.clip(f / (0.16 / scale ** 2), 0.0, 1.0)


def flow_void_sites(labels: np.ndarray, geometry: Geometry) -> np.ndarray:
    """(k, j, i) CSF voxels next to the brain in the basal cisterns and sylvian fissures (not the convexity)."""
    brain = brain_mask(labels)
    csf = (labels == 24) & ndimage.binary_dilation(brain, iterations=2)
    deep = np.argwhere(np.isin(labels, [10, 49, 16, 28, 60]))
    sites = np.argwhere(csf)
    if not len(deep) or not len(sites):
        return sites[:0]
    centre = geometry.ijk_to_ras_points(deep[:, ::-1].mean(axis=0))[0]
    ras = geometry.ijk_to_ras_points(sites[:, ::-1].astype(float)) - centre
    # Relative to the thalami/brainstem: the prepontine and ambient cisterns, the sylvian fissures (MCA).
    keep = (ras[:, 2] < 8.0) & (ras[:, 2] > -35.0) & (ras[:, 1] > -15.0) & (np.linalg.norm(ras[:, :2], axis=1) < 55.0)
    return sites[keep]
