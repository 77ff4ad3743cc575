"""The warped template's cortex moved onto the subject's own cortex, by the SWI's grey/white/CSF contrast.

No registration between two brains matches every sulcus: after SyN the template cortex still lies 3-5 mm off the
subject's in places, and a cortical CMB there lands in template white matter beyond the 3 mm juxtacortical band
(lobar -> deep, the commonest template-path error). So, near the cortex only, each voxel is re-classified as grey
matter, white matter or CSF from its own intensity, with the warped labels as a spatial prior (atlas-guided tissue
classification, as in SPM's unified segmentation or ANTs Atropos). Class intensities are learnt from this scan
(median and spread under the prior, then once more under the result): no SWI or phantom intensity is assumed.
Voxels far darker or brighter than every class (CMBs, veins, their blooming) take the class of the nearest
ordinary voxel, so a CMB sitting in cortex becomes cortex. Grey voxels take the nearest cortex label (lobe, side),
white voxels the nearest cerebral white-matter label, CSF becomes non-brain. Deep nuclei, brainstem and cerebellum
keep their warped labels. When the scan has no usable grey/white contrast the labels are returned unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

CORTEX_MIN, CORTEX_MAX = 1000, 3000
CEREBRAL_WM = (2, 41, 77)
VENTRICLES = (4, 43)
GM, WM, CSF = 0, 1, 2


@dataclass(frozen=True)
class RefinementConfig:
    """zone_mm: how far from the warped cortex voxels may change; prior_mm: registration uncertainty (Gaussian
    sigma of the label prior); outlier_z: intensity z beyond every class = CMB/vein/artefact; min_separation:
    |GM - WM| / mean spread below which the contrast is unusable (refinement skipped)."""

    zone_mm: float = 5.0
    prior_mm: float = 2.0
    smooth_mm: float = 0.7
    outlier_z: float = 3.0
    min_separation: float = 0.5
    iterations: int = 2
    hole_margin_mm: float = 1.0  # a known CMB's own voxels: its radius + this (blooming)
    shell_mm: float = 2.0  # the tissue around a CMB that decides its class


@dataclass
class Refinement:
    labels: np.ndarray
    applied: bool
    separation: float  # |median GM - median WM| / mean robust spread
    changed_fraction: float  # of the zone's voxels


def _cortex(labels: np.ndarray) -> np.ndarray:
    return np.isin(labels, (3, 42)) | ((labels >= CORTEX_MIN) & (labels < CORTEX_MAX))


def _stats(values: np.ndarray) -> tuple[float, float]:
    if values.size < 50:
        return float("nan"), float("nan")
    med = float(np.median(values))
    return med, max(float(1.4826 * np.median(np.abs(values - med))), 1e-3)


def refine_cortex(labels: np.ndarray, image: np.ndarray, brain: np.ndarray, spacing_kji,
                  config: RefinementConfig | None = None, holes: np.ndarray | None = None) -> Refinement:
    """Labels with the cortex / white-matter / CSF border of the cerebrum taken from the subject's image.

    ``holes`` (N, 4): known CMBs as voxel centre (k, j, i) and radius (mm); their voxels are left out of the
    classification and take the majority tissue (grey or white) of the shell around them.
    """
    cfg = config or RefinementConfig()
    sp = np.asarray(spacing_kji, float)
    cortex = _cortex(labels)
    wm = np.isin(labels, CEREBRAL_WM)
    if not cortex.any() or not wm.any():
        return Refinement(labels, False, 0.0, 0.0)
    d_ctx = ndimage.distance_transform_edt(~cortex, sampling=sp)
    zone = brain & (d_ctx <= cfg.zone_mm) & (cortex | wm | (labels == 0))
    img = ndimage.gaussian_filter(np.asarray(image, np.float32), cfg.smooth_mm / sp)
    priors = _priors(labels, cortex, wm, brain, sp, cfg.prior_mm)
    cls = np.argmax(priors, axis=0)
    masks = [cortex & zone, wm & (d_ctx > 3.0), np.isin(labels, VENTRICLES) | ((labels == 0) & brain)]
    for _ in range(cfg.iterations):
        stats = [_stats(img[m]) for m in masks]
        if any(np.isnan(s[0]) for s in stats):
            return Refinement(labels, False, 0.0, 0.0)
        separation = abs(stats[GM][0] - stats[WM][0]) / (0.5 * (stats[GM][1] + stats[WM][1]))
        if separation < cfg.min_separation:
            return Refinement(labels, False, float(separation), 0.0)
        cls, outlier = _classify(img, priors, stats, zone, cfg.outlier_z)
        masks = [zone & (cls == c) & ~outlier for c in (GM, WM, CSF)]
    hole = _holes(labels.shape, sp, holes, cfg.hole_margin_mm)
    cls = _fill_outliers(cls, (outlier | hole) & zone, zone)
    if holes is not None and len(holes):
        _fill_holes(cls, zone & ~outlier & ~hole, sp, holes, cfg)
    out = _relabel(labels, cls, zone, cortex, wm, sp)
    changed = float((out[zone] != labels[zone]).mean()) if zone.any() else 0.0
    return Refinement(out, True, float(separation), changed)


def _priors(labels, cortex, wm, brain, sp, prior_mm) -> np.ndarray:
    csf = (np.isin(labels, VENTRICLES) | (labels == 0)) & brain
    sig = prior_mm / sp
    p = np.stack([ndimage.gaussian_filter(m.astype(np.float32), sig) for m in (cortex, wm, csf)])
    return p / np.maximum(p.sum(axis=0), 1e-6)


def _classify(img, priors, stats, zone, outlier_z):
    """Posterior argmax (Gaussian likelihood x label prior) in the zone, and the voxels unlike every class."""
    z = np.stack([(img - m) / s for m, s in stats])
    logp = -0.5 * z ** 2 - np.log(np.array([s for _, s in stats]))[:, None, None, None] + np.log(priors + 1e-4)
    cls = np.argmax(logp, axis=0)
    outlier = zone & (np.abs(z).min(axis=0) > outlier_z)
    return cls, outlier


def _sphere_slices(shape, centre, radius_vox):
    lo = np.maximum(np.floor(centre - radius_vox).astype(int), 0)
    hi = np.minimum(np.ceil(centre + radius_vox).astype(int) + 1, shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))


def _distance_block(shape, sp, centre, reach_mm):
    sl = _sphere_slices(np.array(shape), np.asarray(centre, float), reach_mm / sp)
    grids = np.ogrid[sl]
    d = np.sqrt(sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, sp)))
    return sl, d


def _holes(shape, sp, holes, margin_mm) -> np.ndarray:
    out = np.zeros(shape, bool)
    for k, j, i, r in (holes if holes is not None else []):
        sl, d = _distance_block(shape, sp, (k, j, i), r + margin_mm)
        out[sl] |= d <= r + margin_mm
    return out


def _fill_holes(cls, ordinary, sp, holes, cfg: RefinementConfig) -> None:
    """Each CMB's sphere takes the majority of grey / white matter in the shell around it (ties: grey)."""
    for k, j, i, r in holes:
        reach = r + cfg.hole_margin_mm
        sl, d = _distance_block(cls.shape, sp, (k, j, i), reach + cfg.shell_mm)
        shell = (d > reach) & (d <= reach + cfg.shell_mm) & ordinary[sl]
        n_gm, n_wm = int((cls[sl][shell] == GM).sum()), int((cls[sl][shell] == WM).sum())
        if n_gm + n_wm == 0:
            continue
        block = cls[sl]
        block[d <= reach] = GM if n_gm >= n_wm else WM


def _fill_outliers(cls: np.ndarray, outlier: np.ndarray, zone: np.ndarray) -> np.ndarray:
    """Outlier voxels (CMBs, veins) take the class of the nearest ordinary zone voxel."""
    if not outlier.any():
        return cls
    ok = zone & ~outlier
    if not ok.any():
        return cls
    idx = ndimage.distance_transform_edt(~ok, return_distances=False, return_indices=True)
    out = cls.copy()
    out[outlier] = cls[idx[0][outlier], idx[1][outlier], idx[2][outlier]]
    return out


def _relabel(labels, cls, zone, cortex, wm, sp) -> np.ndarray:
    out = labels.copy()
    _, ic = ndimage.distance_transform_edt(~cortex, sampling=sp, return_indices=True)
    g = zone & (cls == GM)
    out[g] = labels[ic[0][g], ic[1][g], ic[2][g]]
    del ic
    _, iw = ndimage.distance_transform_edt(~wm, sampling=sp, return_indices=True)
    w = zone & (cls == WM)
    out[w] = labels[iw[0][w], iw[1][w], iw[2][w]]
    out[zone & (cls == CSF)] = 0
    return out
