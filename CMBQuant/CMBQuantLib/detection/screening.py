"""Stage 1, screening: every dark spot that could be a CMB, sensitivity first.

A model-free screen: a multi-scale difference-of-Gaussians (DoG) response in millimetres, so thin slices and 3 mm
slices are screened at the same physical scales, on the image divided by its brain median (site-independent),
in units of the scan's noise at each scale, local maxima inside a brain mask. Each maximum is one seed: its position, best scale and
response. nnU-Net components (any model, at a screening threshold below 0.5) are united in ``two_stage.py``.
The cap on seeds per scan is set by stage 2's cost, not by the screen.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

SCALES_MM = (0.6, 1.0, 1.6, 2.6)
RESPONSE_FLOOR = 0.02  # brain-median units: the smallest DoG unit (coarse scales, where noise has averaged out)  # Gaussian sigmas; a sphere of diameter d responds most near sigma = d / (2*sqrt(3))


@dataclass(frozen=True)
class ScreenSettings:
    """Screening knobs; the defaults keep >= 0.95 of 2-10 mm phantom CMBs (see MODEL_CARD.md)."""

    scales_mm: tuple[float, ...] = SCALES_MM
    min_z: float = 3.0  # DoG response in noise units (see ``dog_response``) a seed must reach
    max_raw_seeds: int = 40000  # strongest maxima the prescreen scores (cheap, vectorised)
    max_seeds: int = 2500  # best-prescored seeds that become blobs (stage 2 costs ~3 ms each)


@dataclass
class Seed:
    """One screened dark spot: voxel (k, j, i), DoG response in noise units and best scale (mm)."""

    kji: tuple[int, int, int]
    response: float
    scale_mm: float


@dataclass
class ScreenMaps:
    """What the screen computed once per scan and stage 2 reuses (no recomputation per candidate)."""

    normalised: np.ndarray  # image / brain median, float32
    response: np.ndarray  # max over scales of the per-scale DoG response in noise units, float32
    best_scale: np.ndarray  # index into scales_mm, uint8
    brain_median: float
    noise: float  # robust noise / brain median
    peaks: list = field(default_factory=list)  # per scale: (kji (N, 3), z (N,), scale index)


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


def dog_noise_gain(sigma_a_vox: np.ndarray, sigma_b_vox: np.ndarray) -> float:
    """Standard deviation of G(b) - G(a) applied to unit white noise (per-axis Gaussian integrals, each capped at
    1, where a kernel narrower than a voxel passes the noise through)."""
    def overlap(var: np.ndarray) -> float:
        return float(np.prod(np.minimum(1.0, 1.0 / np.sqrt(2 * np.pi * np.maximum(var, 1e-9)))))

    a2, b2 = np.asarray(sigma_a_vox) ** 2, np.asarray(sigma_b_vox) ** 2
    return float(np.sqrt(max(overlap(2 * a2) + overlap(2 * b2) - 2 * overlap(a2 + b2), 1e-12)))


def scale_peaks(dog: np.ndarray, seed_mask: np.ndarray, spacing_kji: np.ndarray, scale_mm: float,
                min_z: float) -> tuple[np.ndarray, np.ndarray]:
    """Local maxima of one scale's response (neighbourhood ~ the scale) inside ``seed_mask``, at least ``min_z``.

    Maxima per scale, not of the max over scales: a 2 mm CMB beside a large dark structure is a maximum at the
    fine scale even where the coarse response of its neighbour is higher.
    """
    radius = max(1.2, 1.2 * scale_mm)
    size = np.maximum(1, np.round(radius / np.asarray(spacing_kji))).astype(int) * 2 + 1
    peak = (dog >= min_z) & seed_mask
    peak &= dog == ndimage.maximum_filter(dog, size=tuple(size), mode="nearest")
    kji = np.argwhere(peak)
    return kji, dog[tuple(kji.T)]


def dog_response(normalised: np.ndarray, spacing_kji: np.ndarray, scales_mm: tuple[float, ...],
                 noise: float, floor: float, seed_mask: np.ndarray | None = None, min_z: float = 3.0,
                 ) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray, int]]]:
    """Max over scales of the DoG G(s * 1.6) - G(s) (dark spots positive) in units of what the scan's noise gives
    at that scale (at least ``floor``), the index of the best scale, and each scale's peaks (``scale_peaks``).

    Noise units are what let a faint 9 mm CMB (a low response, but at a scale where noise has averaged out) rank
    above a noise speck at the finest scale; the floor keeps anatomy, not vanishing noise, the unit at coarse scales.
    The DoG approximates the scale-normalised Laplacian of Gaussian.
    """
    sp = np.asarray(spacing_kji, float)
    sigmas = list(scales_mm) + [scales_mm[-1] * 1.6]
    blurred_prev = ndimage.gaussian_filter(normalised, sigma=np.asarray(sigmas[0]) / sp, truncate=3.0)
    best = np.full(normalised.shape, -np.inf, np.float32)
    idx = np.zeros(normalised.shape, np.uint8)
    peaks = []
    for n in range(len(scales_mm)):
        nxt = ndimage.gaussian_filter(normalised, sigma=np.asarray(sigmas[n + 1]) / sp, truncate=3.0)
        dog = (nxt - blurred_prev).astype(np.float32)
        dog /= np.float32(max(noise * dog_noise_gain(sigmas[n] / sp, sigmas[n + 1] / sp), floor))
        if seed_mask is not None:
            peaks.append((*scale_peaks(dog, seed_mask, sp, scales_mm[n], min_z), n))
        better = dog > best
        best[better] = dog[better]
        idx[better] = n
        blurred_prev = nxt
    return best, idx, peaks


def screen_maps(image: np.ndarray, spacing_kji, mask: np.ndarray, seed_mask: np.ndarray | None = None,
                settings: "ScreenSettings | None" = None) -> ScreenMaps:
    """The per-scan maps: normalised image, DoG response in noise units, best scale, brain median, noise, peaks."""
    s = settings or ScreenSettings()
    sp = np.asarray(spacing_kji, float)
    med = brain_median(image, mask)
    norm = (np.asarray(image, np.float32) / np.float32(med if med > 0 else 1.0)).astype(np.float32)
    noise = robust_noise(norm, mask, sp)
    response, best, peaks = dog_response(norm, sp, s.scales_mm, noise, RESPONSE_FLOOR, seed_mask, s.min_z)
    return ScreenMaps(norm, response, best, med, noise, peaks)


def find_seeds(maps: ScreenMaps, settings: ScreenSettings | None = None) -> list[Seed]:
    """Every scale's peaks, one seed per voxel (its strongest scale), strongest first, capped at ``max_raw_seeds``."""
    s = settings or ScreenSettings()
    best: dict[tuple[int, int, int], tuple[float, int]] = {}
    for kji, z, n in maps.peaks:
        for pos, val in zip(map(tuple, kji.tolist()), z.tolist()):
            if pos not in best or val > best[pos][0]:
                best[pos] = (val, n)
    ranked = sorted(best.items(), key=lambda kv: -kv[1][0])[: s.max_raw_seeds]
    return [Seed(pos, float(val), float(s.scales_mm[n])) for pos, (val, n) in ranked]
