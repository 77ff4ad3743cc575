"""The region path's brain mask floods back brain that a deep erosion cut off (``detection.brain``, ``recover``).

On the unseen-setting phantom of SynthSeg map 12 (3 mm oblique slices), the head only splits from the face at an
11 mm cut. The 11 mm grow-back of the detector's mask then keeps only about half of the cerebellum and brainstem,
and the template registration was refused (affine Dice 0.80). The watershed recovery brings them back without
taking the face. Where the head splits at the first cut (map 10), the mask is unchanged."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED

from CMBQuantLib.detection.brain import brain_and_head
from CMBQuantLib.phantoms.phantom import load_label_map, synthesize
from CMBQuantLib.phantoms.randomized import random_config

INFRATENTORIAL = (16, 7, 8, 46, 47)  # brainstem, cerebellar white matter and cortex (FreeSurfer)


def _unseen_phantom(map_id: str):
    labels, geom = load_label_map(SHARED / "data" / "synthseg" / f"training_seg_{map_id}.nii.gz")
    cfg = random_config(np.random.default_rng(int(map_id)), "unseen")
    cfg.n_cmbs = 30
    return synthesize(labels, geom, seed=int(map_id), config=cfg)


def _quality(mask: np.ndarray, anatomy: np.ndarray) -> tuple[float, float, float]:
    """(intracranial kept, infratentorial kept, fraction of the mask outside the intracranial volume)."""
    icv = (anatomy > 0) & (anatomy < 500)
    infra = np.isin(anatomy, INFRATENTORIAL)
    return float(mask[icv].mean()), float(mask[infra].mean()), float((mask & ~icv).sum() / max(mask.sum(), 1))


@pytest.mark.slow
def test_a_cerebellum_cut_off_by_a_deep_split_is_flooded_back_and_the_face_is_not():
    ph = _unseen_phantom("12")
    spacing = ph.geometry.spacing[::-1]
    plain = _quality(brain_and_head(ph.image, spacing)[0], ph.anatomy)
    recovered = _quality(brain_and_head(ph.image, spacing, recover=True)[0], ph.anatomy)
    assert plain[1] < 0.6, plain  # the detector's mask: half the posterior fossa lost
    assert recovered[0] > 0.95 and recovered[1] > 0.95, recovered
    assert recovered[2] < 0.08, recovered  # a few % more scalp, not the face


@pytest.mark.slow
def test_a_head_split_at_the_first_cut_keeps_the_same_mask():
    ph = _unseen_phantom("10")
    spacing = ph.geometry.spacing[::-1]
    assert np.array_equal(brain_and_head(ph.image, spacing)[0], brain_and_head(ph.image, spacing, recover=True)[0])
