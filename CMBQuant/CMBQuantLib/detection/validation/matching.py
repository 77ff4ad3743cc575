"""The one lesion matcher: 26-connected components of a mask, one-to-one pairing of predicted and reference
lesions, and the TP/FP/FN counts that follow (VALDO 2021 Task 2).

- ``centroid``: maximum number of pairs whose centre-of-mass distance is <= D mm, ties broken by the smallest total
  distance (Hungarian). ``overlap``: maximum number of pairs that share at least one voxel, ties broken by the
  largest total IoU. One-to-one: one predicted lesion explains at most one reference lesion.
- Undefined ratios are NaN, never 0 or 1: sensitivity and F1 when the reference has no CMB (VALDO: report the count
  difference there), precision when nothing was predicted.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence, Union

import cc3d
import numpy as np
from scipy.optimize import linear_sum_assignment

from CMBQuantLib.detection.validation.grid import grid_affine, voxel_volume_mm3

#: Default matching radius: the upper end of the usual CMB diameter (2-5 mm, STRIVE). A prediction whose centre
#: lies within one typical CMB diameter of a reference centre is the same bleed; two distinct CMBs are rarely
#: closer, and the radius still absorbs a one-slice centroid shift on 2-3 mm thick SWI/T2*-GRE slices.
DEFAULT_DISTANCE_MM = 5.0
MATCH_RULES = ("centroid", "overlap")

RegionSource = Union[np.ndarray, Callable[[np.ndarray, np.ndarray], str]]
"""A region label array (same shape as the masks) or ``f(centroid_index, centroid_mm) -> region name``."""


@dataclass(frozen=True)
class Component:
    """One lesion: its label, size and centre of mass (array index and world mm)."""

    label: int
    n_voxels: int
    volume_mm3: float
    centroid_index: tuple[float, float, float]
    centroid_mm: tuple[float, float, float]
    region: str | None = None


@dataclass(frozen=True)
class LesionMatch:
    """One row of the lesion table: a TP pair, an unmatched prediction (FP) or an unmatched reference (FN)."""

    status: str  # "TP", "FP" or "FN"
    pred: Component | None
    ref: Component | None
    distance_mm: float
    overlap_voxels: int


@dataclass(frozen=True)
class DetectionCounts:
    """TP/FP/FN of one case (or one region, or a pooled cohort) and the ratios derived from them."""

    tp: int
    fp: int
    fn: int

    @property
    def n_pred(self) -> int:
        return self.tp + self.fp

    @property
    def n_ref(self) -> int:
        return self.tp + self.fn

    @property
    def sensitivity(self) -> float:
        return self.tp / self.n_ref if self.n_ref else math.nan

    @property
    def precision(self) -> float:
        return self.tp / self.n_pred if self.n_pred else math.nan

    @property
    def f1(self) -> float:
        """2TP/(2TP+FP+FN); NaN when the reference is empty (VALDO), 0 when CMBs exist but none was found."""
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.n_ref else math.nan

    @property
    def count_difference(self) -> int:
        """Predicted minus reference count (signed, for Bland-Altman)."""
        return self.n_pred - self.n_ref

    @property
    def abs_count_difference(self) -> int:
        return abs(self.count_difference)

    def __add__(self, other: "DetectionCounts") -> "DetectionCounts":
        return DetectionCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        keys = ("tp", "fp", "fn", "n_pred", "n_ref", "sensitivity", "precision", "f1", "count_difference",
                "abs_count_difference")
        return {prefix + k: getattr(self, k) for k in keys}


# --------------------------------------------------------------------------------------------------- lesions
def _region_of(regions: RegionSource | None, idx: np.ndarray, mm: np.ndarray,
               region_names: Mapping[int, str] | None) -> str | None:
    if regions is None:
        return None
    if callable(regions):
        return str(regions(idx, mm))
    arr = np.asarray(regions)
    vox = tuple(int(np.clip(round(float(c)), 0, s - 1)) for c, s in zip(idx, arr.shape))
    value = int(arr[vox])
    if region_names is not None:
        return region_names.get(value, "unassigned")
    return str(value)


def describe_labels(labels: np.ndarray, spacing: Sequence[float] | None = None, affine: np.ndarray | None = None,
                    regions: RegionSource | None = None, region_names: Mapping[int, str] | None = None,
                    ) -> list[Component]:
    """One ``Component`` per label 1..N of a label array (labels must be contiguous, as ``components`` gives them).

    The region of a lesion is looked up at its rounded centre of mass.
    """
    lab = np.ascontiguousarray(labels, dtype=np.uint32)
    n = int(lab.max()) if lab.size else 0
    if n == 0:
        return []
    a = grid_affine(spacing, affine)
    stats = cc3d.statistics(lab)
    vvox = voxel_volume_mm3(affine=a)
    out = []
    for i in range(1, n + 1):
        idx = np.asarray(stats["centroids"][i], dtype=float)
        mm = a[:3, :3] @ idx + a[:3, 3]
        nvox = int(stats["voxel_counts"][i])
        out.append(Component(label=i, n_voxels=nvox, volume_mm3=nvox * vvox,
                             centroid_index=tuple(float(x) for x in idx), centroid_mm=tuple(float(x) for x in mm),
                             region=_region_of(regions, idx, mm, region_names)))
    return out


def components(mask: np.ndarray, spacing: Sequence[float] | None = None, affine: np.ndarray | None = None,
               regions: RegionSource | None = None, region_names: Mapping[int, str] | None = None,
               ) -> tuple[np.ndarray, list[Component]]:
    """Label 26-connected components (VALDO's rule) and describe each; returns (label array, components).

    Two CMBs that touch, even only at a corner, become one component: that is what the challenge counts.
    """
    m = np.ascontiguousarray(np.asarray(mask) != 0, dtype=np.uint8)
    if m.ndim != 3:
        raise ValueError(f"masks must be 3D, got shape {m.shape}")
    labels = cc3d.connected_components(m, connectivity=26)
    return labels, describe_labels(labels, spacing, affine, regions, region_names)


# --------------------------------------------------------------------------------------------------- matching
def _overlap_matrix(pred_labels: np.ndarray, ref_labels: np.ndarray, n_pred: int, n_ref: int) -> np.ndarray:
    both = (pred_labels > 0) & (ref_labels > 0)
    ov = np.zeros((n_pred, n_ref), dtype=np.int64)
    if both.any():
        np.add.at(ov, (pred_labels[both].astype(np.int64) - 1, ref_labels[both].astype(np.int64) - 1), 1)
    return ov


def _max_matching(feasible: np.ndarray, cost: np.ndarray) -> list[tuple[int, int]]:
    """One-to-one pairs: as many feasible pairs as possible, then the least total cost (cost must be in [0, 1))."""
    if feasible.size == 0 or not feasible.any():
        return []
    big = float(min(feasible.shape) + 1)  # one infeasible pair costs more than all feasible ones together
    rows, cols = linear_sum_assignment(np.where(feasible, cost, big))
    return [(int(r), int(c)) for r, c in zip(rows, cols) if feasible[r, c]]


def _distances(pred: Sequence[Component], ref: Sequence[Component]) -> np.ndarray:
    if not (len(pred) and len(ref)):
        return np.zeros((len(pred), len(ref)))
    cp = np.array([c.centroid_mm for c in pred], dtype=float).reshape(-1, 3)
    cr = np.array([c.centroid_mm for c in ref], dtype=float).reshape(-1, 3)
    return np.sqrt(((cp[:, None, :] - cr[None, :, :]) ** 2).sum(-1))


def _rule_costs(rule: str, dist: np.ndarray, ov: np.ndarray, pred: Sequence[Component], ref: Sequence[Component],
                distance_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """(feasible pairs, tie-break cost in [0, 1)) of ``rule``."""
    if rule == "centroid":
        feasible = dist <= distance_mm + 1e-9
        cost = dist / (distance_mm + 1e-9) * 0.999 if distance_mm > 0 else np.zeros_like(dist)
        return feasible, cost
    sizes_p = np.array([c.n_voxels for c in pred]).reshape(-1, 1)
    sizes_r = np.array([c.n_voxels for c in ref]).reshape(1, -1)
    iou = ov / np.maximum(sizes_p + sizes_r - ov, 1)
    return ov > 0, (1.0 - iou) * 0.999


def match_lesions(pred_labels: np.ndarray, pred: Sequence[Component], ref_labels: np.ndarray,
                  ref: Sequence[Component], rule: str = "centroid",
                  distance_mm: float = DEFAULT_DISTANCE_MM) -> list[LesionMatch]:
    """Pair predicted and reference lesions one-to-one by ``rule`` (see module docstring); TPs, then FPs, FNs."""
    if rule not in MATCH_RULES:
        raise ValueError(f"unknown match rule {rule!r}; use one of {MATCH_RULES}")
    ov = _overlap_matrix(pred_labels, ref_labels, len(pred), len(ref))
    dist = _distances(pred, ref)
    pairs = _max_matching(*_rule_costs(rule, dist, ov, pred, ref, distance_mm))
    out = [LesionMatch("TP", pred[i], ref[j], float(dist[i, j]), int(ov[i, j])) for i, j in sorted(pairs)]
    used_p = {i for i, _ in pairs}
    used_r = {j for _, j in pairs}
    out += [LesionMatch("FP", c, None, math.nan, int(ov[i].sum())) for i, c in enumerate(pred) if i not in used_p]
    out += [LesionMatch("FN", None, c, math.nan, int(ov[:, j].sum())) for j, c in enumerate(ref) if j not in used_r]
    return out


def counts_from_matches(matches: Sequence[LesionMatch]) -> DetectionCounts:
    s = [m.status for m in matches]
    return DetectionCounts(tp=s.count("TP"), fp=s.count("FP"), fn=s.count("FN"))


def counts_by_region(matches: Sequence[LesionMatch]) -> dict[str, DetectionCounts]:
    """TP and FN count in the reference lesion's region, FP in the prediction's, so region TP+FP = predictions there."""
    out: dict[str, DetectionCounts] = {}
    for m in matches:
        comp = m.ref if m.status in ("TP", "FN") else m.pred
        if comp is None or comp.region is None:
            continue
        inc = DetectionCounts(int(m.status == "TP"), int(m.status == "FP"), int(m.status == "FN"))
        out[comp.region] = out.get(comp.region, DetectionCounts(0, 0, 0)) + inc
    return out
