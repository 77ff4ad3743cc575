"""Test material for the Dask batch: small phantoms (48x48x32, dark spheres with known centres), a TEST ORACLE
segmenter that returns those spheres, and factories that Dask workers import by ``module:function`` (this folder is
on their ``sys.path``: spawned workers inherit it). A factory's ``model`` argument is a state folder here, standing
in for the model folder: builds are recorded there, and the killing factory's marker lives there.
"""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import ClassVar

import numpy as np

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.core.records import read_records_csv
from CMBQuantLib.volumes.images import write_image

PHANTOM_GEOMETRY = Geometry(np.array([[1.0, 0, 0, -24], [0, 1.0, 0, -24], [0, 0, 1.0, -16], [0, 0, 0, 1]]),
                            (32, 48, 48))
KILL_MARKER = "killed.json"
HERE = "dask_batch_helpers"


def phantom_swi(seed: int) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """A bright noisy 'head' with 1-4 dark spheres (radius 2 voxels) at seeded, well separated centres [k, j, i]."""
    rng = np.random.default_rng(seed)
    img = (0.6 + 0.02 * rng.standard_normal(PHANTOM_GEOMETRY.shape)).astype(np.float32)
    k, j, i = np.indices(PHANTOM_GEOMETRY.shape)
    centres: list[tuple[int, int, int]] = []
    for n in range(1 + seed % 4):
        c = (8 + 5 * n, 10 + 8 * n + int(rng.integers(0, 4)), 12 + 6 * n + int(rng.integers(0, 4)))
        img[(k - c[0]) ** 2 + (j - c[1]) ** 2 + (i - c[2]) ** 2 <= 4] = 0.1
        centres.append(c)
    return img, centres


def write_phantom_cases(folder: Path, n: int) -> dict[str, list[tuple[int, int, int]]]:
    """``n`` phantom SWIs ``ph01.nii.gz`` ...; returns case id -> sphere centres [k, j, i]."""
    truth = {}
    for s in range(1, n + 1):
        img, centres = phantom_swi(s)
        write_image(img, PHANTOM_GEOMETRY, folder / f"ph{s:02d}.nii.gz")
        truth[f"ph{s:02d}"] = centres
    return truth


class DarkSphereOracle:
    """TEST ORACLE: the phantom's spheres are its only voxels darker than 0.3, so this map is the ground truth."""

    model_info: ClassVar[dict] = {"name": "dark-sphere-oracle", "sha256": "", "device": "cpu"}

    def __init__(self, seconds: float = 0.0):
        self.seconds = seconds  # simulated model time per case (benchmarks)

    def segment(self, image: np.ndarray, geometry: Geometry) -> np.ndarray:
        if self.seconds:
            time.sleep(self.seconds)
        return np.where(image < 0.3, 0.9, 0.0).astype(np.float32)


class KillOnceOracle(DarkSphereOracle):
    """The oracle, except that the first ``segment`` call anywhere (a marker file decides) SIGKILLs its own worker
    process in the middle of a case, after noting what the output folder held at that moment."""

    def __init__(self, state: Path):
        super().__init__()
        self.state = state

    def segment(self, image: np.ndarray, geometry: Geometry) -> np.ndarray:
        try:
            fd = os.open(self.state / KILL_MARKER, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return super().segment(image, geometry)
        out = self.state / "out"
        os.write(fd, json.dumps({"pid": os.getpid(), "out": sorted(os.listdir(out))}).encode())
        os.fsync(fd)
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")


def _record_build(state: Path | None) -> None:
    if state is not None:
        (state / "builds").mkdir(parents=True, exist_ok=True)
        (state / "builds" / f"{os.getpid()}-{time.monotonic_ns()}").touch()


def create_oracle(model: str | None = None, device: str = "cpu", seconds: float = 0.0) -> DarkSphereOracle:
    """Factory: the oracle; ``model`` (a state folder) gets one file per build."""
    _record_build(Path(model) if model else None)
    return DarkSphereOracle(seconds)


def create_kill_once_oracle(model: str | None = None, device: str = "cpu") -> KillOnceOracle:
    """Factory: the oracle that kills its own worker once; ``model`` is the state folder (required)."""
    _record_build(Path(model))
    return KillOnceOracle(Path(model))


def builds(state: Path) -> list[str]:
    """One entry per segmenter build: ``<pid>-<ns>``."""
    return sorted(p.name for p in (state / "builds").iterdir()) if (state / "builds").exists() else []


def segment_count(seg_file: Path) -> int:
    """Segments in a ``.seg.nrrd`` (its header holds one ``SegmentN_ID`` per segment)."""
    with open(seg_file, "rb") as fh:
        header = fh.read(1 << 20).split(b"\n\n", 1)[0].decode("latin-1")
    return sum(1 for line in header.splitlines() if line.startswith("Segment") and "_ID:=" in line)


def case_summary(folder: Path) -> dict:
    """What a serial and a Dask run must agree on: segment count, centroids (RAS mm), counts.json (no timestamps)."""
    counts = json.loads((folder / "counts.json").read_text())
    for key in [k for k in counts if k in ("created", "updated", "written", "timestamp", "time")]:
        counts.pop(key)
    records = read_records_csv(folder / "cmbs.csv")
    return {"segments": segment_count(folder / "cmbs.seg.nrrd"),
            "centroids": [(r.cmb_id, round(r.r, 3), round(r.a, 3), round(r.s, 3)) for r in records],
            "counts": counts}


def create_broken(model: str | None = None, device: str = "cpu") -> DarkSphereOracle:
    """Factory: a model that cannot be loaded (a missing weights file)."""
    raise FileNotFoundError(f"{model}/checkpoint_final.pth: not found. Pass the model folder with --model.")
