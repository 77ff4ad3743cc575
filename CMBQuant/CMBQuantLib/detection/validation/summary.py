"""Cohort statistics of per-case results: bootstrap CIs, pooled F1, Bland-Altman and ICC of counts, summaries.

Confidence intervals are percentile bootstraps over cases, reproducible by seed; every group uses the same seed, so
each CI can be reproduced alone.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from CMBQuantLib.detection.validation.matching import DetectionCounts
from CMBQuantLib.detection.validation.metrics import CaseResult


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
    n_pred = np.array([r.counts.n_pred for r in results], dtype=float)
    n_ref = np.array([r.counts.n_ref for r in results], dtype=float)
    dice_ok = dice_v[np.isfinite(dice_v)]
    f1_ok = f1_v[np.isfinite(f1_v)]
    d_est, d_lo, d_hi = bootstrap_ci(dice_ok, np.mean, n_boot, seed, alpha)
    f_est, f_lo, f_hi = bootstrap_ci(f1_ok, np.mean, n_boot, seed, alpha)
    p_est, p_lo, p_hi = bootstrap_ci(tff, pooled_f1, n_boot, seed, alpha)
    fp_est, fp_lo, fp_hi = bootstrap_ci(tff[:, 1], np.mean, n_boot, seed, alpha)
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

    Cases without a site go to ``unknown``.
    """
    out = [summarize(results, "all", n_boot, seed, alpha)]
    if sites:
        groups: dict[str, list[CaseResult]] = {}
        for r in results:
            groups.setdefault(str(sites.get(r.case_id, "unknown")), []).append(r)
        out += [summarize(g, name, n_boot, seed, alpha) for name, g in sorted(groups.items())]
    return out
