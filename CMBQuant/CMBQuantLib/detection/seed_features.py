"""Cheap, vectorised features of every screened seed: the first step of the filter (a prescreen ranker).

A noisy thick-slice scan has 10-20 thousand dark maxima and a faint 2 mm CMB can rank 10,000th by response alone,
while stage 2's measured features cost milliseconds each. So every seed is first scored on what can be read off
a few whole-volume maps at once (its response and scale, its depth against a local background, the darkness of a
shell around it, its distance to the brain edge); only the best-scored seeds become blobs.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.detection.features import ScanContext, fibonacci_directions

SEED_FEATURE_NAMES = ("z", "scale_mm", "centre", "background", "depth", "depth_noise", "shell_max", "shell_antipodal",
                      "shell_mean", "shell2_antipodal", "edge_mm", "noise", "slice_mm")
SHELL_N = 32
BACKGROUND_MM = 4.0


def background_map(normalised: np.ndarray, spacing_kji: np.ndarray) -> np.ndarray:
    """A broad local level (Gaussian of ``BACKGROUND_MM``), the reference a seed's depth is measured against."""
    return ndimage.gaussian_filter(normalised, sigma=BACKGROUND_MM / np.asarray(spacing_kji)).astype(np.float32)


def seed_feature_matrix(kji: np.ndarray, z: np.ndarray, scale_mm: np.ndarray, ctx: ScanContext,
                        background: np.ndarray) -> np.ndarray:
    """(N, len(SEED_FEATURE_NAMES)) float32 for seeds at ``kji`` (N, 3)."""
    n = len(kji)
    if n == 0:
        return np.zeros((0, len(SEED_FEATURE_NAMES)), np.float32)
    geom: Geometry = ctx.geometry
    idx = tuple(np.asarray(kji).T)
    centre = ctx.smooth[idx]
    bg = background[idx]
    depth = np.maximum(bg - centre, 1e-3)
    ras = geom.ijk_to_ras_points(np.asarray(kji, float)[:, ::-1])
    radius = 1.2 * np.asarray(scale_mm) + 1.5
    cols = {"z": z, "scale_mm": scale_mm, "centre": centre, "background": bg, "depth": depth,
            "depth_noise": depth / max(ctx.maps.noise, 1e-3), "edge_mm": ctx.edge_distance_mm[idx],
            "noise": np.full(n, ctx.maps.noise), "slice_mm": np.full(n, geom.spacing[2])}
    for name, extra in (("shell", 0.0), ("shell2", 2.0)):
        dark = _shell_darkness(ctx, ras, radius + extra, bg, depth)
        half = dark.shape[1] // 2
        cols[f"{name}_antipodal"] = np.minimum(dark[:, :half], dark[:, half:]).max(1)
        if name == "shell":
            cols["shell_max"], cols["shell_mean"] = dark.max(1), dark.mean(1)
    return np.stack([np.asarray(cols[k], np.float32) for k in SEED_FEATURE_NAMES], 1)


def _shell_darkness(ctx: ScanContext, ras: np.ndarray, radius: np.ndarray, bg: np.ndarray,
                    depth: np.ndarray) -> np.ndarray:
    dirs = fibonacci_directions(SHELL_N)
    pts = ras[:, None, :] + radius[:, None, None] * dirs[None]
    ijk = ctx.geometry.ras_to_ijk_points(pts.reshape(-1, 3))
    vals = ndimage.map_coordinates(ctx.smooth, ijk[:, ::-1].T, order=1, mode="nearest").reshape(len(ras), -1)
    return np.clip((bg[:, None] - vals) / depth[:, None], -1.0, 1.5)
