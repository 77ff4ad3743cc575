"""A simple, robust intracranial mask from the SWI magnitude itself (no model, no atlas): used only to FLAG
candidates whose centroid lies outside it (``outside_brain`` in ``candidates.py``), never to drop them.

Rule: Otsu threshold (air vs tissue) -> opening (cuts thin bridges, e.g. to the scalp through a dark skull) ->
largest connected component -> closing by ``close_mm`` (dark notches at the surface, e.g. a CMB in the cortex next
to the dark skull or air, become mask) -> hole filling (3D, then slice by slice: dark CMBs, veins and ventricles
inside the brain become mask) -> erosion by ``erode_mm`` (Euclidean distance in mm, so anisotropic and oblique grids erode
evenly). On SWI the skull and much of the scalp are dark, so the largest bright component is the brain with its
CSF; the erosion removes what is left of the scalp rim and the partial-volume edge, where dots in the air and
vessel pieces at the head surface produce false positives.

Limitations: a strongly inhomogeneous bias field or a bright scalp fused to the brain over a large area can make
the mask include scalp; an intracranial CMB is only flagged when its centroid lies within ``erode_mm`` of the
mask's surface, which on the synthetic phantoms never happened (see MODEL_CARD.md).
"""
from __future__ import annotations

import numpy as np

DEFAULT_ERODE_MM = 2.0
DEFAULT_CLOSE_MM = 5.0


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of a 1D sample (between-class variance maximum over a histogram)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        return lo
    hist, edges = np.histogram(v, bins=bins, range=(lo, hi))
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist).astype(np.float64)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres)
    mean0 = m0 / np.maximum(w0, 1)
    mean1 = (m0[-1] - m0) / np.maximum(w1, 1)
    between = w0 * w1 * (mean0 - mean1) ** 2
    return float(edges[1:][int(np.argmax(between[:-1]))])


def brain_mask(image: np.ndarray, spacing_kji, erode_mm: float = DEFAULT_ERODE_MM,
               close_mm: float = DEFAULT_CLOSE_MM) -> np.ndarray:
    """Boolean mask on ``image``'s grid (axes k, j, i; ``spacing_kji`` in mm). Empty for an empty image."""
    from scipy import ndimage

    img = np.asarray(image, dtype=np.float32)
    spacing = np.asarray(spacing_kji, dtype=np.float64)
    if img.size == 0 or not np.isfinite(img).any():
        return np.zeros(img.shape, bool)
    sample = img[:: max(1, img.shape[0] // 64), ::2, ::2]
    mask = img > otsu_threshold(sample)
    if not mask.any():
        return mask
    mask = ndimage.binary_opening(mask, iterations=1) if min(mask.shape) >= 3 else mask
    lab, n = ndimage.label(mask)
    if n == 0:
        return np.zeros(img.shape, bool)
    sizes = np.bincount(lab.ravel())[1:]
    mask = lab == int(np.argmax(sizes)) + 1
    if close_mm > 0:  # closing by Euclidean distances in mm (padded so the grid border is not an obstacle)
        pad = int(np.ceil(close_mm / spacing.min())) + 1
        outside = ndimage.distance_transform_edt(~np.pad(mask, pad), sampling=spacing)
        dilated = outside <= close_mm
        mask = (ndimage.distance_transform_edt(dilated, sampling=spacing) > close_mm)[pad:-pad, pad:-pad, pad:-pad]
    mask = ndimage.binary_fill_holes(mask)
    for k in range(mask.shape[0]):  # holes open towards another slice (thick slices, vessels leaving the slab)
        mask[k] = ndimage.binary_fill_holes(mask[k])
    if erode_mm > 0:
        inside = ndimage.distance_transform_edt(np.pad(mask, 1), sampling=spacing)[1:-1, 1:-1, 1:-1]
        mask = inside > erode_mm
    return mask


def centroid_inside(mask: np.ndarray, kji: np.ndarray) -> bool:
    """Whether the voxel nearest to a (k, j, i) centroid is in ``mask`` (outside the grid counts as outside)."""
    idx = np.rint(np.asarray(kji, dtype=np.float64)).astype(int)
    if np.any(idx < 0) or np.any(idx >= np.array(mask.shape)):
        return False
    return bool(mask[tuple(idx)])
