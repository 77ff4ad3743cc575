"""Each screened seed becomes a blob: the CMB's own voxels, grown at half depth and held to a CMB-sized sphere.

The blob gives the segment its mask and stage 2 its size features. Holding it to a sphere of the seed's scale
stops it from running into a neighbouring vein (a probe's "11-24 mm blobs" rejected large CMBs by size); how far it
would have run (``spill``) is kept as a vessel feature instead. Seeds inside an earlier (stronger) blob merge into
it, so one CMB gives one candidate.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from CMBQuantLib.detection.screening import Seed

BOX_MM = 8.0  # half-size of the local box a blob and its background are measured in
MAX_RADIUS_MM = 6.0  # a 10 mm CMB with blooming


@dataclass
class Blob:
    """A grown candidate: voxels as (k, j, i) rows, measured depth and background (brain-median units)."""

    seed: Seed
    voxels: np.ndarray  # (N, 3) int (k, j, i)
    centre_value: float
    background: float
    spill_ratio: float  # voxels at the same threshold without the sphere limit / voxels kept (1 = round)
    touches_box: bool  # the unlimited component reached the box edge (a long dark structure)
    radius_limit_mm: float


def local_box(centre_kji: tuple[int, int, int], shape: tuple[int, ...], spacing_kji: np.ndarray,
              half_mm: float = BOX_MM) -> tuple[slice, slice, slice]:
    half = np.ceil(half_mm / np.asarray(spacing_kji)).astype(int)
    lo = np.maximum(np.asarray(centre_kji) - half, 0)
    hi = np.minimum(np.asarray(centre_kji) + half + 1, shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))


def distance_mm(box: tuple[slice, slice, slice], centre_kji, spacing_kji: np.ndarray) -> np.ndarray:
    """Distance of every voxel of ``box`` to ``centre_kji`` in mm (voxel axes are orthogonal, oblique or not)."""
    grids = np.meshgrid(*[(np.arange(s.start, s.stop) - c) * sp for s, c, sp in zip(box, centre_kji, spacing_kji)],
                        indexing="ij", sparse=True)
    return np.sqrt(sum(g ** 2 for g in grids))


def radius_limit(scale_mm: float) -> float:
    """Largest blob radius for a seed's best DoG scale (a sphere of radius r peaks near sigma = r / sqrt(3))."""
    return float(np.clip(2.4 * scale_mm + 0.8, 1.6, MAX_RADIUS_MM))


def grow_blob(normalised: np.ndarray, seed: Seed, spacing_kji: np.ndarray) -> Blob:
    """Half-depth region growing from the darkest voxel near the seed, held to the sphere where it saturates."""
    sp = np.asarray(spacing_kji, float)
    box = local_box(seed.kji, normalised.shape, sp)
    patch = normalised[box]
    dist = distance_mm(box, seed.kji, sp)
    shell = (dist >= 4.0) & (dist <= BOX_MM)
    background = float(np.median(patch[shell])) if shell.any() else float(np.median(patch))
    near = dist <= max(1.5, float(sp.max()) * 0.75)
    smooth = ndimage.gaussian_filter(patch, sigma=0.4 / sp)
    local_min = np.where(near, smooth, np.inf)
    start = np.unravel_index(int(np.argmin(local_min)), patch.shape)
    centre_value = float(smooth[start])
    threshold = centre_value + 0.5 * max(background - centre_value, 1e-3)
    start_dist = distance_mm(box, tuple(int(s.start + v) for s, v in zip(box, start)), sp)
    dark = patch <= threshold
    free = _component(dark, start)
    limit, kept = saturated_limit(dark, start, start_dist, radius_limit(seed.scale_mm))
    n_kept = max(int(kept.sum()), 1)
    touches = bool(free[0].any() or free[-1].any() or free[:, 0].any() or free[:, -1].any()
                   or free[:, :, 0].any() or free[:, :, -1].any()) if min(patch.shape) > 2 else False
    offset = np.array([s.start for s in box])
    voxels = np.argwhere(kept) + offset
    if not len(voxels):
        voxels = (np.array(start) + offset)[None]
    return Blob(seed, voxels.astype(np.int64), centre_value, background, float(free.sum()) / n_kept, touches, limit)


def saturated_limit(dark: np.ndarray, start: tuple[int, ...], dist: np.ndarray, first: float,
                    growth: float = 1.35) -> tuple[float, np.ndarray]:
    """The sphere limit at which the blob stops growing: a CMB is a ball, so widening the limit past its radius adds
    almost nothing; a vessel is a tube and keeps growing with the limit. A large CMB seeded at its rim (a fine-scale
    maximum) grows to its whole extent; a vessel keeps the seed's own limit (its spill stays a feature)."""
    radii = [first]
    while radii[-1] < MAX_RADIUS_MM:
        radii.append(min(radii[-1] * 1.5, MAX_RADIUS_MM))
    blobs = [_component(dark & (dist <= r), start) for r in radii]
    sizes = [max(int(b.sum()), 1) for b in blobs]
    for n in range(1, len(radii)):
        if sizes[n] / sizes[n - 1] < growth:
            return radii[n - 1], blobs[n - 1]
    return radii[0], blobs[0]


def _component(mask: np.ndarray, start: tuple[int, ...]) -> np.ndarray:
    if not mask[start]:
        out = np.zeros(mask.shape, bool)
        out[start] = True
        return out
    lab, _ = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    return lab == lab[start]


def grow_blobs(normalised: np.ndarray, seeds: list[Seed], spacing_kji: np.ndarray,
               sources: list[str] | None = None) -> tuple[list[Blob], list[set[str]]]:
    """Blobs for seeds in the order given (callers put the strongest first); a seed inside, or whose blob
    overlaps, a kept blob merges into it. Returns the blobs and, per blob, the sources of the seeds it holds."""
    owner = np.zeros(normalised.shape, np.int32)
    blobs: list[Blob] = []
    found_by: list[set[str]] = []
    for n, seed in enumerate(seeds):
        source = sources[n] if sources else "dark_spot"
        if owner[seed.kji]:
            found_by[owner[seed.kji] - 1].add(source)
            continue
        blob = grow_blob(normalised, seed, spacing_kji)
        idx = tuple(blob.voxels.T)
        hit = owner[idx]
        if hit.any():
            found_by[int(hit[hit > 0][0]) - 1].add(source)
            continue
        blobs.append(blob)
        found_by.append({source})
        owner[idx] = len(blobs)
    return blobs, found_by


def label_map(blobs: list[Blob], shape: tuple[int, ...]) -> np.ndarray:
    """Component label map: blob n (in list order) has value n + 1."""
    out = np.zeros(shape, np.uint32)
    for n, blob in enumerate(blobs):
        out[tuple(blob.voxels.T)] = n + 1
    return out
