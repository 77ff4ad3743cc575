"""A small reviewable case folder (and batch-style worklist) from a phantom, for the web tests and benchmark.

Written through ``batch.process_case`` so the folder is exactly what ``cmbquant batch`` writes.
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from CMBQuantLib.phantoms.phantom import PhantomConfig, builtin_phantom
from CMBQuantLib.pipeline.process_case import BatchInput, process_case
from CMBQuantLib.volumes.images import write_image


class _TruthSegmenter:
    """A segmenter that returns the phantom's own CMB mask: the case then has exactly the phantom's CMBs."""

    model_info: ClassVar[dict[str, str]] = {"name": "phantom-truth"}

    def __init__(self, labels: np.ndarray):
        self.labels = labels

    def segment(self, image: np.ndarray, geometry) -> np.ndarray:
        return (self.labels > 0).astype(np.float32) * 0.9


def make_worklist(root: str | Path, case_ids: tuple[str, ...] = ("case01",), seed: int = 3,
                  n_cmbs: tuple[int, int] = (5, 6)) -> Path:
    """``root/cases/<case_id>/`` case folders (one phantom per case); returns ``root/cases``."""
    root = Path(root)
    out = root / "cases"
    for n, case_id in enumerate(case_ids):
        ph = builtin_phantom(seed + n, PhantomConfig(n_cmbs=n_cmbs, diameter_mm=(4.0, 6.0), spacing=(0.9, 0.9, 2.0),
                                                     pallidal_calcification=False))
        src = root / "inputs" / f"{case_id}.nii.gz"
        src.parent.mkdir(parents=True, exist_ok=True)
        write_image(ph.image, ph.geometry, src)
        process_case(BatchInput(case_id, src), out, _TruthSegmenter(ph.cmb_labels))
    return out
