"""Per-label SWI magnitude: brain tissues, minor brain labels and the extra-cerebral layers.

SWI magnitude is T2*-weighted: CSF and vitreous are bright, iron-rich deep grey and veins dark, cortical bone and
air black, marrow and scalp intermediate to bright (fat). The extra-cerebral values are what a detector must learn
to ignore, so they are jittered per phantom (``extracerebral_contrast``) rather than fixed.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from CMBQuantLib.phantoms.config import PhantomConfig

# Mean SWI magnitude per tissue (white matter ~0.62); iron-rich nuclei dark, CSF bright.
TISSUE_INTENSITY = {
    0: 0.0, 2: 0.62, 41: 0.62, 7: 0.60, 46: 0.60, 3: 0.74, 42: 0.74, 8: 0.72, 47: 0.72,
    10: 0.56, 49: 0.56, 11: 0.58, 50: 0.58, 12: 0.46, 51: 0.46, 13: 0.30, 52: 0.30,
    16: 0.55, 17: 0.72, 53: 0.72, 18: 0.70, 54: 0.70, 26: 0.66, 58: 0.66, 28: 0.42, 60: 0.42,
    4: 0.95, 43: 0.95, 5: 0.95, 44: 0.95, 14: 0.95, 15: 0.95, 24: 0.92,
}
# Minor aseg / aparc+aseg labels (used with ``realistic_tissue``; the legacy mode hashes them like extra-cerebral).
MINOR_BRAIN_INTENSITY = {
    25: 0.62, 57: 0.62, 30: 0.35, 62: 0.35, 31: 0.80, 63: 0.80, 72: 0.95, 77: 0.62, 80: 0.60, 85: 0.60,
    251: 0.62, 252: 0.62, 253: 0.62, 254: 0.62, 255: 0.62,
}
# Extra-cerebral SynthSeg labels, identified by position in the training maps (the table does not name them).
EXTRACEREBRAL_INTENSITY = {
    502: 0.30,  # pharynx / oral soft tissue
    506: 0.85,  # eye (vitreous)
    507: 0.55,  # scalp, face and neck soft tissue (SCALP)
    508: 0.55,  # orbital tissue
    509: 0.12,  # nasal cavity and sinuses (mostly air)
    511: 0.72,  # skin and subcutaneous fat
    512: 0.45,  # spinal canal / cord
    514: 0.35,  # dura and venous sinuses
    515: 0.07,  # cortical bone (SKULL)
    516: 0.30,  # marrow, diploe and cancellous bone (MARROW): trabecular bone darkens it on SWI
    530: 0.50,  # optic nerve
}
OTHER_EXTRACEREBRAL = 0.45
OTHER_BRAIN = 0.62


def tissue_image(labels: np.ndarray, rng: np.random.Generator, rng_x: np.random.Generator,
                 cfg: PhantomConfig) -> np.ndarray:
    """Piecewise-constant tissue image with a mild texture; ``rng`` draws exactly as the original generator."""
    lut = np.zeros(int(labels.max()) + 1, np.float32)
    for lab in np.unique(labels):
        lab = int(lab)
        v = _base_intensity(lab, cfg.realistic_tissue)
        if cfg.randomise_contrast and lab != 0:
            v *= 1.0 + rng.uniform(-cfg.randomise_contrast, cfg.randomise_contrast)
        if cfg.extracerebral_contrast and 500 <= lab < 1000:
            v *= 1.0 + rng_x.uniform(-cfg.extracerebral_contrast, cfg.extracerebral_contrast)
        lut[lab] = v
    img = lut[labels]
    # Mild texture so tissues are not flat.
    img *= (1.0 + 0.03 * ndimage.gaussian_filter(rng.standard_normal(labels.shape).astype(np.float32), 1.5) * 3)
    return img


def soften(img: np.ndarray, spacing_kji: np.ndarray, sigma_mm: float) -> np.ndarray:
    """Blur tissue borders (real boundaries are not voxel steps); a no-op at 0 so old phantoms are unchanged."""
    if sigma_mm <= 0:
        return img
    return ndimage.gaussian_filter(img, sigma_mm / np.asarray(spacing_kji, float))


def _base_intensity(lab: int, realistic: bool) -> float:
    if lab in TISSUE_INTENSITY:
        return TISSUE_INTENSITY[lab]
    if 1000 <= lab < 3000:
        return TISSUE_INTENSITY[3]
    if realistic:
        if 500 <= lab < 1000:
            return EXTRACEREBRAL_INTENSITY.get(lab, OTHER_EXTRACEREBRAL)
        return MINOR_BRAIN_INTENSITY.get(lab, OTHER_BRAIN)
    return 0.15 + 0.45 * ((lab * 7919) % 97) / 97  # legacy: extra-cerebral tissue fixed by label, varied by seed
