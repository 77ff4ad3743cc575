"""Per-case validation of a CMB detector on numpy arrays: voxel Dice, volume difference and ``evaluate_case``.

Follows VALDO 2021 Task 2 (voxel Dice, absolute volume difference, lesion-wise F1, absolute count difference;
components with 26-connectivity) so numbers are comparable with the challenge and the seed study. Lesions are
paired by the one matcher in ``matching.py``; file handling lives in ``inputs.py``. Dice is NaN when both masks are
empty, never 0 or 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from CMBQuantLib.detection.validation.grid import grid_affine, voxel_volume_mm3
from CMBQuantLib.detection.validation.matching import (
    DEFAULT_DISTANCE_MM,
    DetectionCounts,
    LesionMatch,
    RegionSource,
    components,
    counts_by_region,
    counts_from_matches,
    match_lesions,
)


@dataclass
class CaseResult:
    """Everything measured on one case; ``row()`` is its line in ``per_case.csv``."""

    case_id: str
    dice: float
    volume_pred_mm3: float
    volume_ref_mm3: float
    counts: DetectionCounts
    matches: list[LesionMatch]
    match_rule: str
    distance_mm: float
    regions: dict[str, DetectionCounts] = field(default_factory=dict)

    @property
    def abs_volume_difference_mm3(self) -> float:
        return abs(self.volume_pred_mm3 - self.volume_ref_mm3)

    @property
    def avd_percent(self) -> float:
        """|Vpred - Vref| / Vref x 100 (the challenge AVD); NaN when the reference is empty."""
        return 100.0 * self.abs_volume_difference_mm3 / self.volume_ref_mm3 if self.volume_ref_mm3 else math.nan

    def row(self) -> dict[str, object]:
        out: dict[str, object] = {
            "case_id": self.case_id,
            "dice": self.dice,
            "volume_pred_mm3": self.volume_pred_mm3,
            "volume_ref_mm3": self.volume_ref_mm3,
            "abs_volume_difference_mm3": self.abs_volume_difference_mm3,
            "avd_percent": self.avd_percent,
        }
        out.update(self.counts.as_dict())
        out["match_rule"] = self.match_rule
        out["distance_mm"] = self.distance_mm if self.match_rule == "centroid" else math.nan
        for name, c in sorted(self.regions.items()):
            out.update({f"{name}_{k}": v for k, v in c.as_dict().items() if k in ("tp", "fp", "fn", "n_pred", "n_ref")})
        return out


def dice(pred: np.ndarray, ref: np.ndarray, both_empty: float = math.nan) -> float:
    """Voxel Dice 2|P∩R|/(|P|+|R|) of two masks (nonzero = lesion); ``both_empty`` (NaN) when nothing is there."""
    p, r = np.asarray(pred) != 0, np.asarray(ref) != 0
    if p.shape != r.shape:
        raise ValueError(f"shape mismatch: prediction {p.shape} vs reference {r.shape}")
    denom = int(p.sum()) + int(r.sum())
    return 2.0 * int(np.logical_and(p, r).sum()) / denom if denom else both_empty


def absolute_volume_difference(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float] | None = None,
                               affine: np.ndarray | None = None) -> float:
    """|V_pred - V_ref| in mm³."""
    v = voxel_volume_mm3(spacing, affine)
    return abs(int((np.asarray(pred) != 0).sum()) - int((np.asarray(ref) != 0).sum())) * v


def binarize(image: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Lesion mask of a label map (nonzero) or of a probability map (float with non-integer values: p > threshold).

    Float maps holding only whole numbers are label maps stored as float (for 0/1 both readings agree); any other
    float map is a probability map, even with rounding noise slightly outside [0, 1]. ``>`` (not ``>=``) so a
    two-class softmax thresholded at 0.5 equals its argmax, ties going to background.
    """
    a = np.asarray(image)
    if not np.issubdtype(a.dtype, np.floating):
        return a != 0
    a = np.nan_to_num(a, nan=0.0)
    is_probability = not np.array_equal(a, np.round(a))
    return a > threshold if is_probability else a != 0


def evaluate_case(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float] | None = None,
                  affine: np.ndarray | None = None, case_id: str = "", rule: str = "centroid",
                  distance_mm: float = DEFAULT_DISTANCE_MM, threshold: float = 0.5,
                  regions: RegionSource | None = None, region_names: Mapping[int, str] | None = None,
                  ) -> CaseResult:
    """All metrics of one case. ``pred`` may be a label map or a probability map (thresholded, see ``binarize``).

    ``regions`` (optional) gives per-region TP/FP/FN: a region label array on the same grid (names via
    ``region_names``) or a callable ``f(centroid_index, centroid_mm) -> name``.
    """
    p = binarize(pred, threshold)
    r = np.asarray(ref) != 0
    if p.shape != r.shape:
        raise ValueError(f"shape mismatch: prediction {p.shape} vs reference {r.shape}")
    if regions is not None and not callable(regions) and np.shape(regions) != r.shape:
        raise ValueError(f"region map shape {np.shape(regions)} differs from the masks {r.shape}")
    a = grid_affine(spacing, affine)
    pl, pc = components(p, affine=a, regions=regions, region_names=region_names)
    rl, rc = components(r, affine=a, regions=regions, region_names=region_names)
    matches = match_lesions(pl, pc, rl, rc, rule=rule, distance_mm=distance_mm)
    vvox = voxel_volume_mm3(affine=a)
    return CaseResult(case_id=case_id, dice=dice(p, r), volume_pred_mm3=int(p.sum()) * vvox,
                      volume_ref_mm3=int(r.sum()) * vvox, counts=counts_from_matches(matches), matches=matches,
                      match_rule=rule, distance_mm=float(distance_mm),
                      regions=counts_by_region(matches) if regions is not None else {})
