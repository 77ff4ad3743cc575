"""Test material for filter learning: small phantom case folders made by the real two-stage detector (the shipped
filter, with nnU-Net STUBBED to find nothing so every candidate comes from the dark-spot screen), in a per-test
model store."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from CMBQuantLib.detection.cmb_filter import load_filter
from CMBQuantLib.detection.nnunet.model_store import ensure_demo_model, validate_model
from CMBQuantLib.phantoms.phantom import PhantomConfig, builtin_phantom
from CMBQuantLib.pipeline.process_case import BatchInput, process_case
from CMBQuantLib.volumes.images import write_image

SMALL = PhantomConfig(n_cmbs=8, diameter_mm=(4.0, 8.0), spacing=(1.8, 1.8, 2.5), pallidal_calcification=False)
CASE_THRESHOLD = 0.3  # the case folders' operating point, so a small phantom has pending candidates to review


class NoNNUNetSegmenter:
    """TEST STAND-IN for nnU-Net that finds nothing: the two-stage detector's screen + filter make every record."""

    model_info = {"name": "no-nnunet-test"}

    def __init__(self, cmb_filter):
        self.cmb_filter = cmb_filter

    def segment(self, image, geometry):
        return np.zeros(image.shape, np.float32)


def demo_filter(home: Path, threshold: float | None = None):
    return load_filter(validate_model(ensure_demo_model(home)).folder, threshold)


def small_case(root: Path, home: Path, seed: int) -> tuple[Path, object]:
    """A case folder of a small phantom (seed ``seed``) and the phantom (its truth)."""
    ph = builtin_phantom(seed, SMALL)
    src = write_image(ph.image, ph.geometry, root / "in" / f"case{seed}.nii.gz")
    folder = process_case(BatchInput(f"case{seed}", src), root / "cases",
                          NoNNUNetSegmenter(demo_filter(home, CASE_THRESHOLD)))
    return folder, ph
