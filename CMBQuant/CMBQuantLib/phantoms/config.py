"""What a phantom is made of: the configuration and the label sets every phantom module shares.

Kept apart from ``phantom`` so the tissue, vessel, mimic and randomisation modules can read the configuration
without importing the generator (no import cycle). Every field added after the first release defaults to "off",
so a default configuration reproduces the original phantoms voxel for voxel (tests and trained models depend
on the seeds).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CSF_LIKE = {4, 5, 14, 15, 24, 43, 44}
PARENCHYMA_EXCLUDED = CSF_LIKE | {0}
VENTRICLES = {"left": (4, 31), "right": (43, 63)}  # lateral ventricle + choroid plexus (aparc+aseg 31/63)
THALAMUS = {"left": 10, "right": 49}


@dataclass
class PhantomConfig:
    """What to synthesise; the defaults give a 0.9 x 0.9 x 2 mm axial SWI with 3-12 CMBs."""

    n_cmbs: int | tuple[int, int] = (3, 12)
    diameter_mm: tuple[float, float] = (2.0, 10.0)
    mix: dict[str, float] = field(default_factory=lambda: {"lobar": 0.35, "juxtacortical": 0.1, "deep": 0.3,
                                                           "infratentorial": 0.25})
    spacing: tuple[float, float, float] = (0.9, 0.9, 2.0)
    shape: tuple[int, int, int] | None = None  # output (i, j, k) voxels; None: cover the input field of view
    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)  # oblique acquisitions
    n_sulcal_veins: int = 60
    n_medullary_veins: int = 40
    n_crossing_vessels: int = 8  # short vessels across the slice: dots in-plane, a classic CMB mimic
    pallidal_calcification: bool | None = None  # None: random
    bias_amplitude: float = 0.2
    noise_sigma: float = 0.03  # Rician sigma, absolute (white matter ~0.62); up to ~0.15 is supported
    randomise_contrast: float = 0.0  # SynthSeg-style domain randomisation: relative jitter of tissue intensities
    cmb_contrast: tuple[float, float] = (0.75, 0.95)  # fraction of signal lost in the CMB core
    # --- wider randomisation (all off by default: the original phantoms are unchanged) ---
    realistic_tissue: bool = False  # SWI-like skull/marrow/scalp/air and named minor labels, not a label hash
    extracerebral_contrast: float = 0.0  # relative jitter of each extra-cerebral tissue, per phantom
    extracerebral_shell: bool = False  # maps without labels >= 500: synthesise CSF/skull/marrow/scalp around
    tissue_blur_mm: float = 0.0  # Gaussian sigma: soft tissue borders instead of the label map's 1 mm steps
    vein_calibre_mm: float = 1.5
    vein_darkness: float = 0.8  # fraction of signal lost on a vein's centreline
    crossing_tilt_deg: float | None = None  # None: legacy (along the map's slow axis); else tilt from the slice normal
    blooming: float = 0.25  # CMB halo strength (fraction of the core's signal loss just outside its radius)
    susceptibility_artefacts: int = 0  # air-bone blotches at the inferior frontal / temporal surface
    choroid_calcification: bool | None = False  # None: random; bilateral foci in the lateral ventricle atria
    pineal_calcification: bool | None = False  # None: random; midline focus behind the third ventricle
    n_flow_voids: int = 0  # dark arterial spots in the basal cisterns / sylvian CSF
    n_ring_artefacts: int = 0  # round dark parenchymal spots ringed by a bright overshoot (a site's unapodised recon)
    parcels_are_brain: bool = False  # count cortex parcels (1000-2999) as brain for CMB placement and veins;
    # False is the original rule (labels < 500), under which parcellated cortex never received a CMB


def extracerebral(labels: np.ndarray) -> np.ndarray:
    """SynthSeg's extra-cerebral labels (500-999); cortex parcels (1000-2999) are brain."""
    return (labels >= 500) & (labels < 1000)


def brain_mask(labels: np.ndarray, parcels: bool = True) -> np.ndarray:
    """Parenchyma: every brain label that is not CSF, background or extra-cerebral.

    ``parcels=False`` is the original rule (labels < 500), which leaves Desikan-Killiany cortex parcels out; default
    configurations keep it so that old seeds reproduce their phantoms.
    """
    tissue = ~np.isin(labels, list(PARENCHYMA_EXCLUDED))
    return tissue & ~extracerebral(labels) if parcels else tissue & (labels < 500)


def cortex_mask(labels: np.ndarray) -> np.ndarray:
    return np.isin(labels, [3, 42]) | ((labels >= 1000) & (labels < 3000))
