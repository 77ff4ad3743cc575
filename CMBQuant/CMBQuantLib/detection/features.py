"""Stage 2's inputs: measured features of each blob, in units that do not depend on the site.

Intensities are in brain-median units and contrasts in noise units, so a scanner's gain and noise level drop out;
lengths are in millimetres, so slice thickness does not change what a CMB "is". What tells a CMB from its mimics:
- a vein or a vessel crossing the slice continues: dark points on both sides of the shell around it (``shell_*``),
  a blob that would run on without the sphere limit (``spill``), a tube-like Hessian (``hess_*``);
- a pallidal or choroid calcification is symmetric: the mirrored position is dark too (``mirror_ratio``);
- air-tissue artefacts and dots in the scalp sit at the brain edge (``edge_mm``);
- noise is faint for the scan's noise (``cnr``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.detection.blobs import Blob, distance_mm, local_box
from CMBQuantLib.detection.screening import ScreenMaps

FEATURE_NAMES = (
    "response", "scale_mm", "depth", "centre_value", "background", "cnr", "volume_mm3", "diameter_eq_mm",
    "extent_inplane_mm", "extent_through_mm", "elongation", "spill", "touches_box", "hess_blob", "hess_tube",
    "hess_strength", "shell_max", "shell_antipodal", "shell_mean", "shell2_antipodal", "edge_mm", "mirror_ratio",
    "noise", "slice_mm", "inplane_mm",
)
SHELL_DIRECTIONS = 96


@dataclass
class ScanContext:
    """Per-scan inputs every candidate's features read: maps, brain mask distance and the mid-sagittal plane."""

    maps: ScreenMaps
    geometry: Geometry
    edge_distance_mm: np.ndarray  # signed distance to the brain mask's edge, mm (negative outside)
    midline_r: float  # RAS x of the mid-sagittal plane (brain-mask centroid)
    smooth: np.ndarray  # normalised image, 0.5 mm blur (shell sampling)


def edge_distance_mm(brain: np.ndarray, spacing_kji) -> np.ndarray:
    """Signed distance (mm) to the brain mask's edge: positive inside, negative outside (a CMB in a cortex the
    mask missed is a few mm outside; a dot in the scalp is far outside)."""
    inside = ndimage.distance_transform_edt(np.pad(brain, 1), sampling=spacing_kji)[1:-1, 1:-1, 1:-1]
    outside = ndimage.distance_transform_edt(~brain, sampling=spacing_kji) if brain.any() else np.full(brain.shape, 99.0)
    return np.where(brain, inside, -np.minimum(outside, 99.0)).astype(np.float32)


def scan_context(maps: ScreenMaps, geometry: Geometry, brain: np.ndarray, edge: np.ndarray | None = None) -> ScanContext:
    sp = geometry.spacing[::-1]
    edge = edge_distance_mm(brain, sp) if edge is None else edge
    kji = np.argwhere(brain)[:: max(1, int(brain.sum()) // 50000)]
    midline = float(geometry.ijk_to_ras_points(kji[:, ::-1].astype(float))[:, 0].mean()) if len(kji) else 0.0
    smooth = ndimage.gaussian_filter(maps.normalised, sigma=0.5 / sp).astype(np.float32)
    return ScanContext(maps, geometry, edge, midline, smooth)


def fibonacci_directions(n: int = SHELL_DIRECTIONS) -> np.ndarray:
    """Near-uniform unit vectors (RAS) on the sphere, in antipodal pairs: row n + half is -row n."""
    half = n // 2
    idx = np.arange(half) + 0.5
    z = idx / half  # upper hemisphere only; the antipodes complete the sphere
    phi = np.pi * (1 + 5 ** 0.5) * idx
    up = np.stack([np.sqrt(1 - z ** 2) * np.cos(phi), np.sqrt(1 - z ** 2) * np.sin(phi), z], 1)
    return np.concatenate([up, -up])


def candidate_features(blob: Blob, ctx: ScanContext) -> dict[str, float]:
    """The FEATURE_NAMES of one blob."""
    geom = ctx.geometry
    sp = geom.spacing[::-1]
    maps = ctx.maps
    depth = max(blob.background - blob.centre_value, 1e-3)
    ras = geom.ijk_to_ras_points(blob.voxels.mean(0)[::-1])[0]
    f: dict[str, float] = {
        "response": float(blob.seed.response), "scale_mm": float(blob.seed.scale_mm), "depth": depth,
        "centre_value": blob.centre_value, "background": blob.background,
        "cnr": depth / max(maps.noise, 1e-3), "spill": min(blob.spill_ratio, 50.0), "touches_box": float(blob.touches_box),
        "noise": maps.noise, "slice_mm": float(sp[0]), "inplane_mm": float(np.sqrt(sp[1] * sp[2])),
    }
    f.update(_size_features(blob, sp, geom.voxel_volume))
    f.update(_hessian_features(maps.normalised, blob, sp))
    f.update(_shell_features(ctx, ras, blob, depth))
    kji = tuple(blob.seed.kji)
    f["edge_mm"] = float(ctx.edge_distance_mm[kji])
    f["mirror_ratio"] = _mirror_ratio(ctx, ras, blob.seed.response)
    return f


def _size_features(blob: Blob, sp: np.ndarray, voxel_volume: float) -> dict[str, float]:
    vox = blob.voxels
    vol = len(vox) * voxel_volume
    ext = (vox.max(0) - vox.min(0) + 1) * sp
    eq = float((6 * vol / np.pi) ** (1 / 3))
    return {"volume_mm3": vol, "diameter_eq_mm": eq, "extent_inplane_mm": float(max(ext[1], ext[2])),
            "extent_through_mm": float(ext[0]), "elongation": float(max(ext[1], ext[2], ext[0] - sp[0]) / max(eq, 1e-3))}


def _hessian_features(normalised: np.ndarray, blob: Blob, sp: np.ndarray) -> dict[str, float]:
    """Eigenvalues of the Hessian (mm units, scale-normalised) at the seed, at its best scale: a dark ball has
    three large positive ones, a dark tube two (``hess_tube`` near 1, ``hess_blob`` near 0).

    Only the seed's value is needed, so each second derivative is one dot product of the patch with separable
    Gaussian-derivative kernels, not a filtered patch."""
    sigma = max(blob.seed.scale_mm, 0.6)
    radii = np.ceil(3.0 * sigma / sp).astype(int)
    lo = np.asarray(blob.seed.kji) - radii
    hi = np.asarray(blob.seed.kji) + radii + 1
    padded = _padded_patch(normalised, lo, hi)
    kernels = [_derivative_kernels(sigma / sp[a], int(radii[a])) for a in range(3)]
    h = np.zeros((3, 3))
    for a in range(3):
        for b in range(a, 3):
            order = [0, 0, 0]
            order[a] += 1
            order[b] += 1
            k0, k1, k2 = (kernels[ax][order[ax]] for ax in range(3))
            val = np.einsum("kji,k,j,i->", padded, k0, k1, k2) / (sp[a] * sp[b])
            h[a, b] = h[b, a] = val * sigma ** 2
    ev = np.sort(np.linalg.eigvalsh(h))[::-1]
    top = max(ev[0], 1e-6)
    return {"hess_blob": float(ev[2] / top), "hess_tube": float(ev[1] / top), "hess_strength": float(ev[0])}


def _padded_patch(volume: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``volume[lo:hi]`` with edge values repeated where the box leaves the volume."""
    idx = [np.clip(np.arange(a, b), 0, n - 1) for a, b, n in zip(lo, hi, volume.shape)]
    return volume[np.ix_(*idx)].astype(np.float64)


def _derivative_kernels(sigma_vox: float, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sampled Gaussian and its first and second derivatives (per voxel), normalised like a smoothing kernel."""
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    s = max(sigma_vox, 0.35)
    g = np.exp(-0.5 * (x / s) ** 2)
    g /= g.sum()
    return g, -x / s ** 2 * g, (x ** 2 / s ** 4 - 1 / s ** 2) * g


def _shell_values(ctx: ScanContext, ras: np.ndarray, radius: float) -> np.ndarray:
    pts = ras + radius * fibonacci_directions()
    ijk = ctx.geometry.ras_to_ijk_points(pts)
    return ndimage.map_coordinates(ctx.smooth, ijk[:, ::-1].T, order=1, mode="nearest")


def _shell_features(ctx: ScanContext, ras: np.ndarray, blob: Blob, depth: float) -> dict[str, float]:
    """Darkness (fraction of the blob's own depth) on spheres just outside it: a CMB's shell is bright all round,
    a vessel's is dark where it enters and where it leaves (an antipodal pair)."""
    r0 = float(min(blob.radius_limit_mm, ((len(blob.voxels) * ctx.geometry.voxel_volume) * 3 / (4 * np.pi)) ** (1 / 3)))
    out: dict[str, float] = {}
    for name, radius in (("shell", r0 + 1.8), ("shell2", r0 + 3.5)):
        dark = np.clip((blob.background - _shell_values(ctx, ras, radius)) / depth, -1.0, 1.5)
        half = len(dark) // 2
        antipodal = np.minimum(dark[:half], dark[half:])
        out[f"{name}_antipodal"] = float(antipodal.max())
        if name == "shell":
            out["shell_max"] = float(dark.max())
            out["shell_mean"] = float(dark.mean())
    return out


def _mirror_ratio(ctx: ScanContext, ras: np.ndarray, response: float, search_mm: float = 3.5) -> float:
    """Strongest response within ``search_mm`` of the position mirrored across the mid-sagittal plane, relative to
    the candidate's own: about 1 for symmetric calcifications, low for a CMB (rarely mirrored by another)."""
    mirrored = ras.copy()
    mirrored[0] = 2 * ctx.midline_r - ras[0]
    if abs(ras[0] - ctx.midline_r) < search_mm:  # on the midline: its mirror is itself
        return 0.0
    sp = ctx.geometry.spacing[::-1]
    kji = np.rint(ctx.geometry.ras_to_ijk_points(mirrored)[0][::-1]).astype(int)
    shape = np.array(ctx.maps.response.shape)
    if (kji < 0).any() or (kji >= shape).any():
        return 0.0
    box = local_box(tuple(kji), tuple(shape), sp, half_mm=search_mm)
    near = distance_mm(box, tuple(kji), sp) <= search_mm
    vals = ctx.maps.response[box][near]
    return float(max(vals.max(), 0.0) / max(response, 1e-3)) if vals.size else 0.0


def feature_matrix(blobs: list[Blob], ctx: ScanContext) -> np.ndarray:
    """(N, len(FEATURE_NAMES)) float32."""
    rows = [candidate_features(b, ctx) for b in blobs]
    return np.array([[r[name] for name in FEATURE_NAMES] for r in rows], np.float32).reshape(len(rows), len(FEATURE_NAMES))
