"""The SWI phase image on the magnitude grid: read, checked and resampled before any detection work is spent.

Readers tell a CMB from a calcification by its phase. The phase is often saved on its own grid (another crop, a
different slab, or an oblique reslice), so it is resampled in RAS onto the SWI voxels; phase in radians is
interpolated on the unit circle (cos, sin) so that a wrap from +pi to -pi never blurs into a false zero.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import map_coordinates

from CMBQuantLib.core.atomic import sha256_file
from CMBQuantLib.core.case_folder import PHASE_FILE
from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.volumes.images import VolumeInputError, read_image, write_image

MIN_OVERLAP = 0.5  # the share of the SWI's voxels the phase must cover; less is a different field of view


@dataclass(frozen=True)
class PhaseOnGrid:
    array: np.ndarray  # float32 [k, j, i] on the SWI grid
    resampled: bool  # False when the phase already had the SWI's grid (copied voxel for voxel)
    coverage: float  # share of SWI voxels inside the phase's field of view (1.0 when not resampled)


def _fix(path: Path) -> str:
    return (f"Pass the phase image of the same SWI acquisition (3D, covering the magnitude's field of view), "
            f"or run without --phase ({path.name} is optional).")


def read_phase_on_grid(path: str | Path, geometry: Geometry) -> PhaseOnGrid:
    """``path`` read and brought onto ``geometry``; a clear error names the file and the fix for a missing, non-3D
    or unreadable file and for a phase whose field of view does not overlap the SWI's."""
    path = Path(path)
    try:
        phase, phase_geometry = read_image(path)
    except VolumeInputError as exc:
        raise VolumeInputError(f"phase image: {exc} {_fix(path)}") from None
    phase = phase.astype(np.float32)
    if phase_geometry.same_as(geometry):
        return PhaseOnGrid(phase, resampled=False, coverage=1.0)
    radians = _is_radians(phase)
    planes = (np.sin(phase), np.cos(phase)) if radians else (phase,)
    out = np.zeros(geometry.shape, np.float32)
    n_inside = 0
    upper = np.array(phase_geometry.shape[::-1]) - 0.5
    for k in range(geometry.shape[0]):  # slice by slice: a whole-volume coordinate grid would cost GBs
        ijk = _slice_voxels_in_phase(geometry, phase_geometry, k)
        inside = np.all((ijk >= -0.5) & (ijk <= upper), axis=1)
        n_inside += int(inside.sum())
        coords = ijk[:, ::-1].T  # (k, j, i) rows for map_coordinates on the [k, j, i] array
        sampled = [map_coordinates(p, coords, order=1, mode="nearest") for p in planes]
        values = np.arctan2(sampled[0], sampled[1]) if radians else sampled[0]
        values[~inside] = 0.0
        out[k] = values.reshape(geometry.shape[1:])
    coverage = n_inside / float(np.prod(geometry.shape))
    if coverage < MIN_OVERLAP:
        raise VolumeInputError(
            f"phase image: {path}: covers only {100 * coverage:.0f}% of the SWI's field of view (needs "
            f"{100 * MIN_OVERLAP:.0f}%): it is from another acquisition or another subject. {_fix(path)}")
    return PhaseOnGrid(out, resampled=True, coverage=coverage)


def write_phase_on_grid(path: str | Path, geometry: Geometry, out_file: str | Path) -> PhaseOnGrid:
    """Read, check and resample ``path`` and write it as ``out_file`` on ``geometry``."""
    result = read_phase_on_grid(path, geometry)
    write_image(result.array, geometry, out_file)
    return result


def phase_into_case(path: str | Path, geometry: Geometry, folder: str | Path) -> dict[str, Any]:
    """``phase.nii.gz`` in the case folder on the SWI grid, and the ``case.json`` ``phase`` entry describing it."""
    path = Path(path)
    result = write_phase_on_grid(path, geometry, Path(folder) / PHASE_FILE)
    return {"file": PHASE_FILE, "input_file": str(path.resolve()), "input_sha256": sha256_file(path),
            "resampled": result.resampled, "coverage": round(result.coverage, 4)}


def _slice_voxels_in_phase(geometry: Geometry, phase_geometry: Geometry, k: int) -> np.ndarray:
    """Continuous (i, j, k) phase indices of the SWI voxel centres of slice ``k``, in the array's C order."""
    j, i = np.meshgrid(np.arange(geometry.shape[1]), np.arange(geometry.shape[2]), indexing="ij")
    ijk = np.stack([i.ravel(), j.ravel(), np.full(i.size, k)], axis=1).astype(float)
    return phase_geometry.ras_to_ijk_points(geometry.ijk_to_ras_points(ijk))


def _is_radians(phase: np.ndarray) -> bool:
    """Phase stored in radians ([-pi, pi] or [0, 2 pi]); scanner units (e.g. -4096..4095) are interpolated as is."""
    lo, hi = float(phase.min()), float(phase.max())
    return lo >= -np.pi - 1e-3 and hi <= 2 * np.pi + 1e-3 and hi - lo > 1.0
