"""CMB candidates: connected components (26-connectivity, as VALDO scores them) with one record each.

Size limits and a minimum confidence FLAG candidates, never drop them: a reader must see a 12 mm "CMB" to reject it
as a macro-haemorrhage, and a count must never silently lose one.

Two domain-rule flags (also flags, never drops):
- ``tubular``: an elongated component (largest extent / equivalent-sphere diameter at or above
  ``CandidateLimits.tubular_ratio``): CMBs are round (STRIVE), a dark tube, in-plane or across slices, is a vessel.
- ``outside_brain``: the centroid lies outside an intracranial mask (``brain_mask`` below, computed from the image
  by the inference run and passed to ``find_candidates(..., brain_mask=)``): dots in the air or scalp are not CMBs.
"""

from __future__ import annotations

from dataclasses import dataclass

import cc3d
import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.core.records import (
    FLAG_LOW_CONF,
    FLAG_OUTSIDE_BRAIN,
    FLAG_TOO_BIG,
    FLAG_TOO_SMALL,
    FLAG_TUBULAR,
    CMBRecord,
)


@dataclass
class CandidateLimits:
    """MARS counts CMBs up to 10 mm; larger blooms are macro-haemorrhages (flagged, not counted silently)."""

    max_diameter_mm: float = 10.0
    min_diameter_mm: float = 0.0
    min_confidence: float = 0.0
    threshold: float = 0.5  # probability threshold when a probability map is given
    # tubular: diameter_max_mm / diameter_eq_mm at or above this (a sphere gives 1.2-1.5 on the voxel grid, a
    # 1 mm x 10 mm vessel piece ~4; predicted true CMBs on synthetic validation phantoms stayed below 1.5, see
    # MODEL_CARD.md); 0 disables. Only components of at least tubular_min_voxels voxels are judged (a single
    # thick-slice voxel is "elongated" by its shape alone).
    tubular_ratio: float = 1.8
    tubular_min_voxels: int = 3


def label_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """26-connected components of a boolean mask, labels 1..N in scan order."""

    labels, n = cc3d.connected_components(np.ascontiguousarray(mask, dtype=np.uint8), connectivity=26,
                                          return_N=True, out_dtype=np.uint32)
    return labels, int(n)


def find_candidates(
    mask_or_prob: np.ndarray,
    geometry: Geometry,
    image: np.ndarray | None = None,
    limits: CandidateLimits | None = None,
    brain_mask: np.ndarray | None = None,
) -> tuple[list[CMBRecord], np.ndarray]:
    """Records for every 26-connected component and the component label map (value = cmb_id).

    ``mask_or_prob`` is a binary mask, or a foreground probability map (float) thresholded at ``limits.threshold``
    whose values then give each CMB its confidence. ``brain_mask`` (boolean, same grid; e.g.
    ``brain_mask(image, spacing_kji)``) flags candidates whose centroid lies outside it ``outside_brain``.
    """
    lim = limits or CandidateLimits()
    arr = np.asarray(mask_or_prob)
    if arr.shape != geometry.shape:
        raise ValueError(f"mask shape {arr.shape} differs from the volume's {geometry.shape}")
    is_prob = np.issubdtype(arr.dtype, np.floating) and bool(((arr > 0) & (arr < 1)).any())
    mask = arr >= lim.threshold if is_prob else arr > 0
    labels, n = label_components(mask)
    records = component_records(labels, n, geometry, image=image, prob=arr if is_prob else None)
    if brain_mask is not None:
        flag_outside_brain(records, brain_mask)
    for rec in records:
        apply_limits(rec, lim)
    return records, labels


def flag_outside_brain(records: list[CMBRecord], brain_mask: np.ndarray) -> None:
    """Add ``outside_brain`` to records whose centroid voxel (nearest to i, j, k) is not in ``brain_mask``."""
    mask = np.asarray(brain_mask, dtype=bool)
    shape = np.array(mask.shape)
    for rec in records:
        kji = np.rint([rec.k, rec.j, rec.i]).astype(int)
        inside = bool(np.all(kji >= 0) and np.all(kji < shape) and mask[tuple(kji)])
        if not inside and FLAG_OUTSIDE_BRAIN not in rec.flags:
            rec.flags.append(FLAG_OUTSIDE_BRAIN)
        elif inside and FLAG_OUTSIDE_BRAIN in rec.flags:
            rec.flags.remove(FLAG_OUTSIDE_BRAIN)


def is_tubular(rec: CMBRecord, lim: CandidateLimits) -> bool:
    """Elongated (vessel-like) by the record's own size features; see ``CandidateLimits.tubular_ratio``."""
    if lim.tubular_ratio <= 0 or rec.n_voxels < lim.tubular_min_voxels or rec.diameter_eq_mm <= 0:
        return False
    return rec.diameter_max_mm / rec.diameter_eq_mm >= lim.tubular_ratio


def unflagged(records: list[CMBRecord]) -> list[CMBRecord]:
    """Candidates without any flag: what a reader would count as CMBs without looking twice."""
    return [r for r in records if not r.flags]


def component_records(labels: np.ndarray, n: int, geometry: Geometry, image: np.ndarray | None = None,
                      prob: np.ndarray | None = None) -> list[CMBRecord]:
    """One record per label value 1..n (features only; no flags)."""

    if n == 0:
        return []
    stats = cc3d.statistics(labels)
    counts = np.asarray(stats["voxel_counts"])
    centroids = np.asarray(stats["centroids"])  # (N+1, 3) in array axes (k, j, i)
    boxes = stats["bounding_boxes"]
    voxel_volume = geometry.voxel_volume
    records = []
    for lab in range(1, n + 1):
        if counts[lab] == 0:
            continue
        sl = boxes[lab]
        local = labels[sl] == lab
        kji = np.argwhere(local) + np.array([s.start for s in sl])
        cen_ijk = centroids[lab][::-1]
        ras = geometry.ijk_to_ras_points(cen_ijk)[0]
        vol = float(counts[lab]) * voxel_volume
        rec = CMBRecord(
            cmb_id=lab,
            n_voxels=int(counts[lab]),
            volume_mm3=vol,
            diameter_eq_mm=float((6 * vol / np.pi) ** (1 / 3)),
            diameter_max_mm=max_diameter_mm(kji, geometry),
            r=float(ras[0]), a=float(ras[1]), s=float(ras[2]),
            i=float(cen_ijk[0]), j=float(cen_ijk[1]), k=float(cen_ijk[2]),
        )
        if image is not None:
            vals = image[sl][local]
            rec.intensity_mean, rec.intensity_min = float(vals.mean()), float(vals.min())
        if prob is not None:
            p = prob[sl][local].astype(np.float32)
            rec.confidence_mean, rec.confidence_max = float(p.mean()), float(p.max())
        records.append(rec)
    return records


def max_diameter_mm(kji: np.ndarray, geometry: Geometry) -> float:
    """Largest corner-to-corner extent between two voxels: max over pairs of |(|Δ|+1)·spacing|.

    Exact on the voxel grid (directions rotate with the grid, so lengths are spacing-weighted index differences).
    """
    sp = geometry.spacing[::-1]  # k, j, i
    pts = kji.astype(np.float64)
    if len(pts) > 3000:  # only hull points can be extremal

        try:
            pts = pts[ConvexHull(pts).vertices]
        except Exception:  # degenerate (flat) components: keep all points
            pass
    best = 0.0
    for start in range(0, len(pts), 512):
        d = np.abs(pts[start:start + 512, None, :] - pts[None, :, :]) + 1.0
        best = max(best, float(np.sqrt(((d * sp) ** 2).sum(-1)).max()))
    return best


def apply_limits(rec: CMBRecord, lim: CandidateLimits) -> None:
    """Flag (never drop) candidates outside the size limits, below the confidence floor or tubular.
    ``outside_brain`` needs the mask and is set by ``find_candidates`` / ``flag_outside_brain``; it is kept here."""
    flags = [f for f in rec.flags if f not in (FLAG_TOO_BIG, FLAG_TOO_SMALL, FLAG_LOW_CONF, FLAG_TUBULAR)]
    if rec.diameter_eq_mm > lim.max_diameter_mm:
        flags.append(FLAG_TOO_BIG)
    if rec.diameter_eq_mm < lim.min_diameter_mm:
        flags.append(FLAG_TOO_SMALL)
    if rec.confidence_mean is not None and rec.confidence_mean < lim.min_confidence:
        flags.append(FLAG_LOW_CONF)
    if is_tubular(rec, lim):
        flags.append(FLAG_TUBULAR)
    rec.flags = flags


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

