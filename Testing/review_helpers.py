"""Shared test material for the review/export/batch suites: one phantom per process, case folders built by the
real batch pipeline with an ORACLE segmenter (the phantom's ground truth), and tiny synthetic SWI volumes."""
from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path
from typing import ClassVar

import numpy as np

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.phantoms.phantom import PhantomConfig, builtin_phantom
from CMBQuantLib.pipeline.process_case import BatchInput, process_case
from CMBQuantLib.volumes.images import write_image


@functools.lru_cache(maxsize=1)
def phantom():
    return builtin_phantom(0, PhantomConfig(n_cmbs=9))


class OracleGroundTruthSegmenter:
    """TEST ORACLE: returns the phantom's ground-truth CMB map as a probability map (each CMB its own confidence,
    so the confidence order is known), optionally without some CMBs (to play a detector that missed them)."""

    model_info: ClassVar[dict] = {"name": "oracle-ground-truth", "sha256": "", "device": "cpu"}

    def __init__(self, cmb_labels: np.ndarray, drop: tuple[int, ...] = (), confidence: dict[int, float] | None = None):
        self.cmb_labels = cmb_labels
        self.drop = drop
        self.confidence = confidence or {}
        self.calls = 0

    def segment(self, image: np.ndarray, geometry: Geometry) -> np.ndarray:
        self.calls += 1
        prob = np.zeros(self.cmb_labels.shape, np.float32)
        for cmb_id in np.unique(self.cmb_labels):
            if cmb_id == 0 or int(cmb_id) in self.drop:
                continue
            prob[self.cmb_labels == cmb_id] = self.confidence.get(int(cmb_id), 0.9)
        return prob


def phantom_case(tmp_path: Path, drop: tuple[int, ...] = (), confidence: dict[int, float] | None = None,
                 case_id: str = "case01") -> Path:
    """A case folder made from the phantom by the batch pipeline; returns the case folder."""
    p = phantom()
    src = tmp_path / "input" / f"{case_id}.nii.gz"
    if not src.exists():
        write_image(p.image, p.geometry, src)
    seg = OracleGroundTruthSegmenter(p.cmb_labels, drop, confidence)
    return process_case(BatchInput(case_id, src), tmp_path / "cases", seg)


SMALL_GEOMETRY = Geometry(np.array([[1.0, 0, 0, -20], [0, 1.0, 0, -20], [0, 0, 2.0, -10], [0, 0, 0, 1]]),
                          (12, 40, 40))


def small_swi(seed: int, n_blobs: int = 3) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """A 12x40x40 'SWI' (bright ~0.6 + noise) with ``n_blobs`` dark 3x3x1-voxel blobs; returns image and blob centres."""
    rng = np.random.default_rng(seed)
    img = (0.6 + 0.02 * rng.standard_normal(SMALL_GEOMETRY.shape)).astype(np.float32)
    centres = []
    for n in range(n_blobs):
        k, j, i = 3 + 2 * n, 8 + 9 * n, 10 + 7 * n
        img[k, j - 1:j + 2, i - 1:i + 2] = 0.1
        centres.append((k, j, i))
    return img, centres


class DarkThresholdSegmenter:
    """Test segmenter for the tiny synthetic volumes: foreground = voxels darker than 0.3. Counts its calls."""

    model_info: ClassVar[dict] = {"name": "dark-threshold-test", "sha256": "0" * 64}

    def __init__(self) -> None:
        self.calls = 0

    def segment(self, image: np.ndarray, geometry: Geometry) -> np.ndarray:
        self.calls += 1
        return (image < 0.3).astype(np.uint8)


def write_small_cases(folder: Path, names: list[str]) -> list[Path]:
    paths = []
    for n, name in enumerate(names):
        img, _ = small_swi(n, n_blobs=1 + n % 3)
        paths.append(write_image(img, SMALL_GEOMETRY, folder / name))
    return paths


_TEMPLATES: dict[tuple, Path] = {}


def fresh_case(tmp_path: Path, drop: tuple[int, ...] = (), confidence: tuple[tuple[int, float], ...] = ()) -> Path:
    """A private copy of a phantom case folder (built once per process per variant: building takes seconds)."""
    key = (drop, confidence)
    if key not in _TEMPLATES:
        work = Path(tempfile.mkdtemp(prefix="cmbq-review-"))
        atexit.register(shutil.rmtree, work, True)
        _TEMPLATES[key] = phantom_case(work, drop, dict(confidence))
    dest = tmp_path / "case01"
    shutil.copytree(_TEMPLATES[key], dest)
    return dest
