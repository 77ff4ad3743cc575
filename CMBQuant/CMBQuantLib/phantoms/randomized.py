"""Random phantom configurations for detector training, and an "unseen setting" beyond the training ranges.

A detector trained on one generator learns its quirks, so every acquisition and anatomy parameter is drawn per
phantom (domain randomisation, as SynthSeg does for contrast). The "unseen" setting draws at or beyond the edges
of the training ranges, to measure how a model degrades on acquisitions it never saw.
"""
from __future__ import annotations

import numpy as np

from CMBQuantLib.phantoms.config import PhantomConfig

SETTINGS = ("train", "unseen")


def random_config(rng: np.random.Generator, setting: str = "train") -> PhantomConfig:
    """A PhantomConfig drawn for detector training (``"train"``) or for an unseen-setting test set (``"unseen"``).

    ``train`` ranges (uniform unless stated):
      slices 1-3 mm; in-plane 0.5-1.0 mm (square pixels); oblique rotation +-20 deg per axis; tissue contrast
      jitter 0-35 %; extra-cerebral contrast jitter 0-50 %; bias amplitude 0.05-0.45; Rician noise sigma
      0.01-0.12 (absolute; brain ~0.6, so up to ~0.2 of brain intensity); 4-14 CMBs of 2-10 mm, log-uniform
      (43 % are 2-4 mm); CMB signal loss 40-95 %; blooming 0.1-0.5; tissue border blur 0-0.8 mm; sulcal veins
      30-120 and medullary veins 20-80 (integers), calibre 1.0-2.2 mm, darkness 0.5-0.9; 0-12 crossing vessels
      tilted 0-45 deg from the slice normal; 0-6 flow voids; 0-3 susceptibility artefacts; pallidal, choroid and
      pineal calcification each random (None); SWI-like extra-cerebral tissue, and a synthesised skull and scalp
      on brain-only label maps.
    ``unseen``: slices 3.0-3.5 mm at 0.4-0.5 mm in-plane; tilt 20-28 deg on two axes; noise 0.12-0.16;
      contrast jitter 0.35-0.45; bias 0.45-0.55; either few (10-30) or many (120-160) sulcal veins of calibre
      0.8-1.0 or 2.2-2.8 mm; 12-16 crossing vessels; CMB signal loss 35-95 %; blooming 0.5-0.7;
      2-4 artefacts; 6-10 flow voids; extra-cerebral jitter 0.5-0.6; border blur 0.8-1.2 mm.
    """
    if setting == "train":
        return _train(rng)
    if setting == "unseen":
        return _unseen(rng)
    raise ValueError(f"unknown setting {setting!r} (use one of {SETTINGS})")


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _i(rng: np.random.Generator, lo: int, hi: int) -> int:
    """Integer in [lo, hi], both ends included."""
    return int(rng.integers(lo, hi + 1))


def _train(rng: np.random.Generator) -> PhantomConfig:
    inplane = _u(rng, 0.5, 1.0)
    return PhantomConfig(
        n_cmbs=(4, 14),
        diameter_mm=(2.0, 10.0),
        spacing=(inplane, inplane, _u(rng, 1.0, 3.0)),
        rotation_deg=tuple(float(x) for x in rng.uniform(-20.0, 20.0, 3)),
        n_sulcal_veins=_i(rng, 30, 120),
        n_medullary_veins=_i(rng, 20, 80),
        n_crossing_vessels=_i(rng, 0, 12),
        pallidal_calcification=None,
        bias_amplitude=_u(rng, 0.05, 0.45),
        noise_sigma=_u(rng, 0.01, 0.12),
        randomise_contrast=_u(rng, 0.0, 0.35),
        cmb_contrast=(0.4, 0.95),
        realistic_tissue=True,
        extracerebral_contrast=_u(rng, 0.0, 0.5),
        extracerebral_shell=True,
        tissue_blur_mm=_u(rng, 0.0, 0.8),
        vein_calibre_mm=_u(rng, 1.0, 2.2),
        vein_darkness=_u(rng, 0.5, 0.9),
        crossing_tilt_deg=_u(rng, 0.0, 45.0),
        blooming=_u(rng, 0.1, 0.5),
        susceptibility_artefacts=_i(rng, 0, 3),
        choroid_calcification=None,
        pineal_calcification=None,
        n_flow_voids=_i(rng, 0, 6),
        parcels_are_brain=True,
    )


def _unseen(rng: np.random.Generator) -> PhantomConfig:
    inplane = _u(rng, 0.4, 0.5)
    many = bool(rng.random() < 0.5)
    tilt = rng.choice([-1.0, 1.0], 2) * rng.uniform(20.0, 28.0, 2)
    return PhantomConfig(
        n_cmbs=(4, 14),
        diameter_mm=(2.0, 10.0),
        spacing=(inplane, inplane, _u(rng, 3.0, 3.5)),
        rotation_deg=(float(tilt[0]), 0.0, float(tilt[1])),
        n_sulcal_veins=_i(rng, 120, 160) if many else _i(rng, 10, 30),
        n_medullary_veins=_i(rng, 80, 100) if many else _i(rng, 5, 20),
        n_crossing_vessels=_i(rng, 12, 16),
        pallidal_calcification=None,
        bias_amplitude=_u(rng, 0.45, 0.55),
        noise_sigma=_u(rng, 0.12, 0.16),
        randomise_contrast=_u(rng, 0.35, 0.45),
        cmb_contrast=(0.35, 0.95),
        realistic_tissue=True,
        extracerebral_contrast=_u(rng, 0.5, 0.6),
        extracerebral_shell=True,
        tissue_blur_mm=_u(rng, 0.8, 1.2),
        vein_calibre_mm=_u(rng, 2.2, 2.8) if many else _u(rng, 0.8, 1.0),
        vein_darkness=_u(rng, 0.5, 0.9),
        crossing_tilt_deg=_u(rng, 20.0, 45.0),
        blooming=_u(rng, 0.5, 0.7),
        susceptibility_artefacts=_i(rng, 2, 4),
        choroid_calcification=None,
        pineal_calcification=None,
        n_flow_voids=_i(rng, 6, 10),
        parcels_are_brain=True,
    )
