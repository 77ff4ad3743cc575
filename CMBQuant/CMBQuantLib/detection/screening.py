"""Stage 1, screening: every dark spot that could be a CMB, sensitivity first.

A model-free screen: a multi-scale difference-of-Gaussians (DoG) response in millimetres, so thin slices and 3 mm
slices are screened at the same physical scales, on the image divided by its brain median (site-independent),
standardised per scale, local maxima inside a brain mask. Each maximum is one seed: its position, best scale and
response. nnU-Net components (any model, at a screening threshold below 0.5) are united in ``two_stage.py``.
The cap on seeds per scan is set by stage 2's cost, not by the screen.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

SCALES_MM = (0.6, 1.0, 1.6, 2.6)  # Gaussian sigmas; a sphere of diameter d responds most near sigma = d / (2*sqrt(3))


@dataclass(frozen=True)
class ScreenSettings:
    """Screening knobs; the defaults keep >= 0.95 of 2-10 mm phantom CMBs (see MODEL_CARD.md)."""

    scales_mm: tuple[float, ...] = SCALES_MM
    min_z: float = 2.5  # standardised DoG response (per-scale robust z inside the brain) a seed must reach
    max_seeds: int = 1000
    min_separation_mm: float = 2.5  # local-maximum neighbourhood (duplicates closer than this merge)


@dataclass
class Seed:
    """One screened dark spot: voxel (k, j, i), standardised DoG response and best scale (mm)."""

    kji: tuple[int, int, int]
    response: float
    scale_mm: float


@dataclass
class ScreenMaps:
    """What the screen computed once per scan and stage 2 reuses (no recomputation per candidate)."""

    normalised: np.ndarray  # image / brain median, float32
    response: np.ndarray  # max over scales of the per-scale standardised DoG response (robust z), float32
    best_scale: np.ndarray  # index into scales_mm, uint8
    brain_median: float
    noise: float  # robust noise / brain median


def brain_median(image: np.ndarray, mask: np.ndarray) -> float:
    """Median intensity of the brain mask: the unit every feature is measured in, so contrast and site drop out."""
    vals = image[mask] if mask.any() else image[image > 0]
    return float(np.median(vals)) if vals.size else 1.0


def robust_spread(values: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Median and MAD (as a standard deviation) of ``values`` inside ``mask``, on a subsample."""
    vals = values[mask][:: max(1, int(mask.sum()) // 200000)] if mask.any() else values.ravel()[::97]
    med = float(np.median(vals))
    return med, max(float(1.4826 * np.median(np.abs(vals - med))), 1e-6)


def robust_noise(normalised: np.ndarray, mask: np.ndarray, spacing_kji: np.ndarray) -> float:
    """Noise estimate: MAD of the image minus a 1 mm blur inside the brain (noise plus fine texture)."""
    if not mask.any():
        return 0.0
    resid = normalised - ndimage.gaussian_filter(normalised, sigma=1.0 / np.asarray(spacing_kji))
    return robust_spread(resid, mask)[1]


def dog_response(normalised: np.ndarray, spacing_kji: np.ndarray, scales_mm: tuple[float, ...],
                 mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Max over scales of the DoG G(s * 1.6) - G(s) (dark spots positive) in units of that scale's own spread
    inside the brain, and the index of the best scale.

    Per-scale standardisation is what lets a faint 9 mm CMB (low response, but at a scale where noise has
    averaged out) rank above a noise speck at the finest scale; the DoG approximates the scale-normalised LoG.
    """
    sp = np.asarray(spacing_kji, float)
    sigmas = list(scales_mm) + [scales_mm[-1] * 1.6]
    blurred_prev = ndimage.gaussian_filter(normalised, sigma=np.asarray(sigmas[0]) / sp, truncate=3.0)
    best = np.full(normalised.shape, -np.inf, np.float32)
    idx = np.zeros(normalised.shape, np.uint8)
    for n in range(len(scales_mm)):
        nxt = ndimage.gaussian_filter(normalised, sigma=np.asarray(sigmas[n + 1]) / sp, truncate=3.0)
        dog = (nxt - blurred_prev).astype(np.float32)
        med, spread = robust_spread(dog, mask)
        dog -= np.float32(med)
        dog /= np.float32(spread)
        better = dog > best
        best[better] = dog[better]
        idx[better] = n
        blurred_prev = nxt
    return best, idx


def screen_maps(image: np.ndarray, spacing_kji, mask: np.ndarray, scales_mm: tuple[float, ...] = SCALES_MM) -> ScreenMaps:
    """The per-scan maps: normalised image, standardised DoG response, best scale, brain median and noise."""
    sp = np.asarray(spacing_kji, float)
    med = brain_median(image, mask)
    norm = (np.asarray(image, np.float32) / np.float32(med if med > 0 else 1.0)).astype(np.float32)
    response, best = dog_response(norm, sp, scales_mm, mask)
    return ScreenMaps(norm, response, best, med, robust_noise(norm, mask, sp))


def find_seeds(maps: ScreenMaps, mask: np.ndarray, spacing_kji, settings: ScreenSettings | None = None) -> list[Seed]:
    """Local maxima of the standardised response inside ``mask`` above ``min_z``, strongest first, capped."""
    s = settings or ScreenSettings()
    sp = np.asarray(spacing_kji, float)
    size = np.maximum(1, np.round(s.min_separation_mm / sp)).astype(int) * 2 + 1
    peak = maps.response == ndimage.maximum_filter(maps.response, size=tuple(size), mode="nearest")
    kji = np.argwhere(peak & mask & (maps.response >= s.min_z))
    resp = maps.response[tuple(kji.T)]
    order = np.argsort(-resp)[: s.max_seeds]
    return [Seed(tuple(int(v) for v in kji[n]), float(resp[n]), float(s.scales_mm[maps.best_scale[tuple(kji[n])]]))
            for n in order]
