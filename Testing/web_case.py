"""A small reviewable case folder (and batch-style worklist) from a phantom, for the web tests and benchmark.

Written through ``batch.process_case`` so the folder is exactly what ``cmbquant batch`` writes.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np

from CMBQuantLib.core.case_folder import PHASE_FILE
from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.phantoms.phantom import Phantom, PhantomConfig, builtin_phantom
from CMBQuantLib.pipeline.process_case import BatchInput, process_case
from CMBQuantLib.volumes.images import write_image


class _TruthSegmenter:
    """A segmenter that returns the phantom's own CMB mask: the case then has exactly the phantom's CMBs."""

    model_info: ClassVar[dict[str, str]] = {"name": "phantom-truth"}

    def __init__(self, labels: np.ndarray):
        self.labels = labels

    def segment(self, image: np.ndarray, geometry) -> np.ndarray:
        return (self.labels > 0).astype(np.float32) * 0.9


VESSEL_DIRECTION = (1.0, 0.0, 1.0)  # 45 degrees to the axial plane: a dot on one slice, a line in a minIP
PARENCHYMA = (2, 41, 3, 42)  # white and grey matter labels of the phantom anatomy


def make_worklist(root: str | Path, case_ids: tuple[str, ...] = ("case01",), seed: int = 3,
                  n_cmbs: tuple[int, int] = (5, 6), vessel: bool = False, phase: bool = False) -> Path:
    """``root/cases/<case_id>/`` case folders (one phantom per case); returns ``root/cases``.

    ``vessel``: a straight dark vein crossing the axial slices at 45 degrees, 12 mm beside one CMB in that CMB's
    axial plane, described in ``root/inputs/<case_id>_vessel.json`` (centre RAS, direction, RAS of the CMB beside
    it: the case numbers its CMBs itself).
    ``phase``: a signed phase-like image on the same grid as ``<case>/phase.nii.gz``."""
    root = Path(root)
    out = root / "cases"
    for n, case_id in enumerate(case_ids):
        ph = builtin_phantom(seed + n, PhantomConfig(n_cmbs=n_cmbs, diameter_mm=(4.0, 6.0), spacing=(0.9, 0.9, 2.0),
                                                     pallidal_calcification=False))
        src = root / "inputs" / f"{case_id}.nii.gz"
        src.parent.mkdir(parents=True, exist_ok=True)
        if vessel:
            info = add_crossing_vessel(ph)
            (root / "inputs" / f"{case_id}_vessel.json").write_text(json.dumps(info))
        write_image(ph.image, ph.geometry, src)
        process_case(BatchInput(case_id, src), out, _TruthSegmenter(ph.cmb_labels))
        if phase:
            write_image(phase_like(ph), ph.geometry, out / case_id / PHASE_FILE)
    return out


def _ras_grid(geometry: Geometry) -> np.ndarray:
    k, j, i = np.meshgrid(*(np.arange(n) for n in geometry.shape), indexing="ij")
    ijk = np.stack([i, j, k], -1).reshape(-1, 3).astype(float)
    return geometry.ijk_to_ras_points(ijk).reshape(*geometry.shape, 3)


def add_crossing_vessel(ph: Phantom, offset_mm: float = 12.0, radius_mm: float = 0.8) -> dict:
    """Darken a straight tube through a parenchyma point ``offset_mm`` beside a CMB (in place); what was drawn."""
    ras = _ras_grid(ph.geometry)
    d = np.array(VESSEL_DIRECTION) / np.linalg.norm(VESSEL_DIRECTION)
    for cmb in ph.cmbs:
        for offset in ((0, offset_mm, 0), (0, -offset_mm, 0), (offset_mm, 0, 0), (-offset_mm, 0, 0)):
            centre = np.array([cmb.r, cmb.a, cmb.s]) + offset
            near = np.linalg.norm(ras - centre, axis=-1) <= 6.0
            far_from_cmbs = all(np.linalg.norm(centre - [c.r, c.a, c.s]) > 9.0 for c in ph.cmbs)
            if far_from_cmbs and np.isin(ph.anatomy[near], PARENCHYMA).mean() > 0.95:
                rel = ras - centre
                dist = np.linalg.norm(rel - (rel @ d)[..., None] * d, axis=-1)
                tube = (dist <= radius_mm) & (np.abs(rel @ d) <= 15.0)
                ph.image[tube] = np.float32(0.1 * np.median(ph.image[near]))
                return {"centre": centre.tolist(), "direction": d.tolist(), "cmb_ras": [cmb.r, cmb.a, cmb.s],
                        "radius_mm": radius_mm}
    raise RuntimeError("no CMB of this phantom has parenchyma around it for the test vessel; change the seed")


def phase_like(ph: Phantom) -> np.ndarray:
    """A signed image (radians) that looks like filtered SWI phase: smooth tissue contrast, CMBs negative."""
    from scipy import ndimage

    img = ph.image.astype(np.float32)
    phase = 0.3 * (img - ndimage.gaussian_filter(img, 3.0)) / max(float(img.std()), 1e-6)
    phase[ph.cmb_labels > 0] = -0.8
    return phase.astype(np.float32)
