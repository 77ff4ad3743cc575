"""Validation of a CMB detector against reference labels: the metrics, on numpy arrays only.

Follows VALDO 2021 Task 2 (voxel Dice, absolute volume difference, lesion-wise F1, absolute count difference;
components with 26-connectivity) so numbers are comparable with the challenge and the seed study. File handling
lives in ``evaluate.py``; nothing here reads files, keeps global state or needs Qt.

Conventions
- Arrays are indexed in numpy order (axis 0, 1, 2). ``spacing`` is per array axis in mm; ``affine`` (optional,
  4x4) maps (axis0, axis1, axis2, 1) to world mm. Distances only use the affine, so any world frame works.
- Matching is one-to-one. ``centroid``: maximum number of pairs whose centre-of-mass distance is <= D mm, ties
  broken by the smallest total distance (Hungarian). ``overlap``: maximum number of pairs that share at least one
  voxel, ties broken by the largest total IoU.
- Undefined ratios are NaN, never 0 or 1: Dice when both masks are empty, sensitivity and F1 when the reference
  has no CMB (VALDO: report the count difference there), precision when nothing was predicted.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Callable, Mapping, Sequence, Union

import cc3d
import numpy as np
from scipy.optimize import linear_sum_assignment

#: Default matching radius: the upper end of the usual CMB diameter (2-5 mm, STRIVE). A prediction whose centre
#: lies within one typical CMB diameter of a reference centre is the same bleed; two distinct CMBs are rarely
#: closer, and the radius still absorbs a one-slice centroid shift on 2-3 mm thick SWI/T2*-GRE slices.
DEFAULT_DISTANCE_MM = 5.0
MATCH_RULES = ("centroid", "overlap")

RegionSource = Union[np.ndarray, Callable[[np.ndarray, np.ndarray], str]]
"""A region label array (same shape as the masks) or ``f(centroid_index, centroid_mm) -> region name``."""


# --------------------------------------------------------------------------------------------------- records
@dataclass(frozen=True)
class Component:
    """One 26-connected lesion: its size and centre of mass (array index and world mm)."""

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


@dataclass(frozen=True)
class BlandAltman:
    """Mean difference (bias, prediction minus reference) and 95 % limits of agreement (bias +- 1.96 SD)."""

    n: int
    mean_difference: float
    sd_difference: float
    loa_low: float
    loa_high: float


@dataclass(frozen=True)
class CohortSummary:
    """One line of ``summary.csv``: a group of cases (``all`` or one site)."""

    group: str
    n_cases: int
    n_cases_dice: int
    dice_mean: float
    dice_ci_low: float
    dice_ci_high: float
    dice_median: float
    avd_percent_mean: float
    n_cases_f1: int
    f1_mean: float
    f1_mean_ci_low: float
    f1_mean_ci_high: float
    f1_pooled: float
    f1_pooled_ci_low: float
    f1_pooled_ci_high: float
    sensitivity_pooled: float
    precision_pooled: float
    tp: int
    fp: int
    fn: int
    n_pred: int
    n_ref: int
    fp_per_scan: float
    fp_per_scan_ci_low: float
    fp_per_scan_ci_high: float
    fp_per_cmb: float
    abs_count_difference_mean: float
    count_bias: float
    count_sd_difference: float
    count_loa_low: float
    count_loa_high: float
    count_icc_2_1: float
    count_icc_3_1: float
    n_bootstrap: int
    seed: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


# --------------------------------------------------------------------------------------------------- voxels
def _affine(spacing: Sequence[float], affine: np.ndarray | None) -> np.ndarray:
    if affine is not None:
        a = np.asarray(affine, dtype=float)
        if a.shape != (4, 4):
            raise ValueError(f"affine must be 4x4, got {a.shape}")
        return a
    if len(spacing) != 3:
        raise ValueError(f"spacing needs 3 values (one per array axis), got {tuple(spacing)}")
    return np.diag([*map(float, spacing), 1.0])


def voxel_volume_mm3(spacing: Sequence[float] | None = None, affine: np.ndarray | None = None) -> float:
    """Volume of one voxel: |det| of the affine's linear part (so oblique grids are right too)."""
    return float(abs(np.linalg.det(_affine((1, 1, 1) if spacing is None else spacing, affine)[:3, :3])))


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


def components(mask: np.ndarray, spacing: Sequence[float] | None = None, affine: np.ndarray | None = None,
               regions: RegionSource | None = None, region_names: Mapping[int, str] | None = None,
               ) -> tuple[np.ndarray, list[Component]]:
    """Label 26-connected components (VALDO's rule) and describe each; returns (label array, components).

    Two CMBs that touch, even only at a corner, become one component: that is what the challenge counts.
    The region of a component is looked up at its rounded centre of mass.
    """
    m = np.ascontiguousarray(np.asarray(mask) != 0, dtype=np.uint8)
    if m.ndim != 3:
        raise ValueError(f"masks must be 3D, got shape {m.shape}")
    a = _affine((1, 1, 1) if spacing is None else spacing, affine)
    labels = cc3d.connected_components(m, connectivity=26)
    n = int(labels.max())
    if n == 0:
        return labels, []
    stats = cc3d.statistics(labels)
    vvox = voxel_volume_mm3(affine=a)
    out = []
    for lab in range(1, n + 1):
        idx = np.asarray(stats["centroids"][lab], dtype=float)
        mm = a[:3, :3] @ idx + a[:3, 3]
        nvox = int(stats["voxel_counts"][lab])
        out.append(Component(label=lab, n_voxels=nvox, volume_mm3=nvox * vvox,
                             centroid_index=tuple(float(x) for x in idx), centroid_mm=tuple(float(x) for x in mm),
                             region=_region_of(regions, idx, mm, region_names)))
    return labels, out


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


def match_lesions(pred_labels: np.ndarray, pred: Sequence[Component], ref_labels: np.ndarray,
                  ref: Sequence[Component], rule: str = "centroid",
                  distance_mm: float = DEFAULT_DISTANCE_MM) -> list[LesionMatch]:
    """Pair predicted and reference components one-to-one by ``rule`` (see module docstring); TPs, then FPs, FNs."""
    if rule not in MATCH_RULES:
        raise ValueError(f"unknown match rule {rule!r}; use one of {MATCH_RULES}")
    ov = _overlap_matrix(pred_labels, ref_labels, len(pred), len(ref))
    cp = np.array([c.centroid_mm for c in pred], dtype=float).reshape(-1, 3)
    cr = np.array([c.centroid_mm for c in ref], dtype=float).reshape(-1, 3)
    dist = np.sqrt(((cp[:, None, :] - cr[None, :, :]) ** 2).sum(-1)) if len(pred) and len(ref) else \
        np.zeros((len(pred), len(ref)))
    if rule == "centroid":
        feasible = dist <= distance_mm + 1e-9
        cost = dist / (distance_mm + 1e-9) * 0.999 if distance_mm > 0 else np.zeros_like(dist)
    else:
        feasible = ov > 0
        sizes_p = np.array([c.n_voxels for c in pred]).reshape(-1, 1)
        sizes_r = np.array([c.n_voxels for c in ref]).reshape(1, -1)
        iou = ov / np.maximum(sizes_p + sizes_r - ov, 1)
        cost = (1.0 - iou) * 0.999
    pairs = _max_matching(feasible, cost)
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
    a = _affine((1, 1, 1) if spacing is None else spacing, affine)
    pl, pc = components(p, affine=a, regions=regions, region_names=region_names)
    rl, rc = components(r, affine=a, regions=regions, region_names=region_names)
    matches = match_lesions(pl, pc, rl, rc, rule=rule, distance_mm=distance_mm)
    vvox = voxel_volume_mm3(affine=a)
    return CaseResult(case_id=case_id, dice=dice(p, r), volume_pred_mm3=int(p.sum()) * vvox,
                      volume_ref_mm3=int(r.sum()) * vvox, counts=counts_from_matches(matches), matches=matches,
                      match_rule=rule, distance_mm=float(distance_mm),
                      regions=counts_by_region(matches) if regions is not None else {})


# --------------------------------------------------------------------------------------------------- statistics
def bootstrap_ci(data: np.ndarray | Sequence[float], statistic: Callable[[np.ndarray], float] = np.nanmean,
                 n_boot: int = 2000, seed: int = 0, alpha: float = 0.05) -> tuple[float, float, float]:
    """(estimate, low, high): percentile bootstrap over cases (rows of ``data``), reproducible by ``seed``.

    Rows are resampled whole, so a pooled statistic (e.g. F1 from summed TP/FP/FN columns) keeps its cases intact.
    NaN when there is no data or every resample is undefined.
    """
    x = np.asarray(data, dtype=float)
    if x.shape[0] == 0:
        return math.nan, math.nan, math.nan
    est = float(statistic(x))
    if n_boot <= 0:
        return est, math.nan, math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.shape[0], size=(n_boot, x.shape[0]))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # resamples where the statistic is undefined -> NaN
        boots = np.array([statistic(x[i]) for i in idx], dtype=float)
    boots = boots[np.isfinite(boots)]
    if boots.size == 0:
        return est, math.nan, math.nan
    lo, hi = np.percentile(boots, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return est, float(lo), float(hi)


def pooled_f1(tp_fp_fn: np.ndarray) -> float:
    """F1 of summed TP/FP/FN (columns 0, 1, 2): every CMB weighs the same, empty-reference cases still add FPs."""
    t, f, n = np.asarray(tp_fp_fn, dtype=float).reshape(-1, 3).sum(0)
    return 2 * t / (2 * t + f + n) if (t + n) > 0 else math.nan


def bland_altman(pred: Sequence[float], ref: Sequence[float]) -> BlandAltman:
    """Bias (mean of pred - ref) and 95 % limits of agreement bias ± 1.96·SD (SD with n-1)."""
    d = np.asarray(pred, dtype=float) - np.asarray(ref, dtype=float)
    n = d.size
    if n == 0:
        return BlandAltman(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(d.mean())
    sd = float(d.std(ddof=1)) if n > 1 else math.nan
    return BlandAltman(n, mean, sd, mean - 1.96 * sd, mean + 1.96 * sd)


def icc(ratings: np.ndarray | Sequence[Sequence[float]], kind: str = "2,1") -> float:
    """Intraclass correlation (Shrout & Fleiss 1979) of an n-subjects x k-raters table, single measures.

    ``"2,1"`` two-way random, absolute agreement (= McGraw & Wong ICC(A,1)): a detector that systematically
    over-counts is penalised, which is what count agreement should mean. ``"3,1"`` two-way mixed, consistency
    (ignores a constant bias). NaN with fewer than 2 subjects or when the denominator is 0.
    """
    x = np.asarray(ratings, dtype=float)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"ratings must be n_subjects x k_raters (k >= 2), got shape {x.shape}")
    n, k = x.shape
    if n < 2:
        return math.nan
    grand = x.mean()
    ss_rows = k * ((x.mean(1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(0) - grand) ** 2).sum()
    ss_err = ((x - grand) ** 2).sum() - ss_rows - ss_cols
    msr, msc, mse = ss_rows / (n - 1), ss_cols / (k - 1), ss_err / ((n - 1) * (k - 1))
    if kind == "2,1":
        den = msr + (k - 1) * mse + k * (msc - mse) / n
    elif kind == "3,1":
        den = msr + (k - 1) * mse
    else:
        raise ValueError(f"unknown ICC kind {kind!r}; use '2,1' or '3,1'")
    return float((msr - mse) / den) if den != 0 else math.nan


def summarize(results: Sequence[CaseResult], group: str = "all", n_boot: int = 2000, seed: int = 0,
              alpha: float = 0.05) -> CohortSummary:
    """Cohort metrics of ``results``: mean Dice, pooled and mean F1 and FP/scan with bootstrap CIs, agreement."""
    dice_v = np.array([r.dice for r in results], dtype=float)
    f1_v = np.array([r.counts.f1 for r in results], dtype=float)
    tff = np.array([[r.counts.tp, r.counts.fp, r.counts.fn] for r in results], dtype=float).reshape(-1, 3)
    fp_v = tff[:, 1]
    n_pred = np.array([r.counts.n_pred for r in results], dtype=float)
    n_ref = np.array([r.counts.n_ref for r in results], dtype=float)
    dice_ok = dice_v[np.isfinite(dice_v)]
    f1_ok = f1_v[np.isfinite(f1_v)]
    d_est, d_lo, d_hi = bootstrap_ci(dice_ok, np.mean, n_boot, seed, alpha)
    f_est, f_lo, f_hi = bootstrap_ci(f1_ok, np.mean, n_boot, seed, alpha)
    p_est, p_lo, p_hi = bootstrap_ci(tff, pooled_f1, n_boot, seed, alpha)
    fp_est, fp_lo, fp_hi = bootstrap_ci(fp_v, np.mean, n_boot, seed, alpha)
    pooled = DetectionCounts(*(int(v) for v in tff.sum(0))) if len(results) else DetectionCounts(0, 0, 0)
    ba = bland_altman(n_pred, n_ref)
    pair = np.column_stack([n_pred, n_ref])
    avd = np.array([r.avd_percent for r in results], dtype=float)
    return CohortSummary(
        group=group, n_cases=len(results), n_cases_dice=int(dice_ok.size),
        dice_mean=d_est, dice_ci_low=d_lo, dice_ci_high=d_hi,
        dice_median=float(np.median(dice_ok)) if dice_ok.size else math.nan,
        avd_percent_mean=float(np.nanmean(avd)) if np.isfinite(avd).any() else math.nan,
        n_cases_f1=int(f1_ok.size), f1_mean=f_est, f1_mean_ci_low=f_lo, f1_mean_ci_high=f_hi,
        f1_pooled=p_est, f1_pooled_ci_low=p_lo, f1_pooled_ci_high=p_hi,
        sensitivity_pooled=pooled.sensitivity, precision_pooled=pooled.precision,
        tp=pooled.tp, fp=pooled.fp, fn=pooled.fn, n_pred=pooled.n_pred, n_ref=pooled.n_ref,
        fp_per_scan=fp_est, fp_per_scan_ci_low=fp_lo, fp_per_scan_ci_high=fp_hi,
        fp_per_cmb=pooled.fp / pooled.n_ref if pooled.n_ref else math.nan,
        abs_count_difference_mean=float(np.abs(n_pred - n_ref).mean()) if len(results) else math.nan,
        count_bias=ba.mean_difference, count_sd_difference=ba.sd_difference,
        count_loa_low=ba.loa_low, count_loa_high=ba.loa_high,
        count_icc_2_1=icc(pair, "2,1") if len(results) >= 2 else math.nan,
        count_icc_3_1=icc(pair, "3,1") if len(results) >= 2 else math.nan,
        n_bootstrap=int(n_boot), seed=int(seed),
    )


def pooled_region_counts(results: Sequence[CaseResult]) -> dict[str, DetectionCounts]:
    """Per-region TP/FP/FN summed over cases (regions as assigned by ``counts_by_region``)."""
    out: dict[str, DetectionCounts] = {}
    for r in results:
        for name, c in r.regions.items():
            out[name] = out.get(name, DetectionCounts(0, 0, 0)) + c
    return dict(sorted(out.items()))


def summarize_cohort(results: Sequence[CaseResult], sites: Mapping[str, str] | None = None, n_boot: int = 2000,
                     seed: int = 0, alpha: float = 0.05) -> list[CohortSummary]:
    """``all`` first, then one summary per site (e.g. internal / external) when ``sites`` maps case_id -> site.

    Cases without a site go to ``unknown``. Every group uses the same seed, so each CI is reproducible alone.
    """
    out = [summarize(results, "all", n_boot, seed, alpha)]
    if sites:
        groups: dict[str, list[CaseResult]] = {}
        for r in results:
            groups.setdefault(str(sites.get(r.case_id, "unknown")), []).append(r)
        out += [summarize(g, name, n_boot, seed, alpha) for name, g in sorted(groups.items())]
    return out
