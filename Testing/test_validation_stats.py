"""Cohort statistics of CMBQuantLib.detection.validation.summary against hand-computed and published values."""
import math

import numpy as np
import pytest

from CMBQuantLib.detection.validation.matching import LesionMatch, counts_from_matches
from CMBQuantLib.detection.validation.metrics import CaseResult
from CMBQuantLib.detection.validation.summary import (
    bland_altman,
    bootstrap_ci,
    icc,
    pooled_f1,
    summarize,
    summarize_cohort,
)

# Shrout & Fleiss (1979), Table 2: 6 targets x 4 judges; published ICC(2,1) = 0.29, ICC(3,1) = 0.71.
SHROUT_FLEISS = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]


def test_icc_matches_shrout_fleiss_published_values():
    assert icc(SHROUT_FLEISS, "2,1") == pytest.approx(0.29, abs=0.005)
    assert icc(SHROUT_FLEISS, "3,1") == pytest.approx(0.71, abs=0.005)


def test_icc_of_a_hand_computed_two_rater_table():
    """(2,3), (4,4), (0,2): grand mean 2.5; SSR 9 -> MSR 4.5; SSC 1.5 -> MSC 1.5; SST 11.5, SSE 1 -> MSE 0.5.
    ICC(2,1) = (4.5-0.5) / (4.5 + 0.5 + 2(1.5-0.5)/3) = 12/17; ICC(3,1) = 4 / 5."""
    x = [[2, 3], [4, 4], [0, 2]]
    assert icc(x, "2,1") == pytest.approx(12 / 17)
    assert icc(x, "3,1") == pytest.approx(0.8)


def test_icc_absolute_agreement_penalises_a_constant_overcount_consistency_does_not():
    ref = np.array([0, 1, 3, 5, 2])
    x = np.column_stack([ref + 2, ref])
    assert icc(x, "3,1") == pytest.approx(1.0)
    assert icc(x, "2,1") < 0.9


def test_bland_altman_hand_computed():
    """pred - ref = (1, 0, 2): bias 1, SD 1, limits 1 -/+ 1.96."""
    ba = bland_altman([3, 4, 2], [2, 4, 0])
    assert (ba.n, ba.mean_difference, ba.sd_difference) == (3, 1.0, 1.0)
    assert (ba.loa_low, ba.loa_high) == pytest.approx((-0.96, 2.96))


def test_bootstrap_ci_is_reproducible_by_seed_and_changes_with_it():
    x = np.random.default_rng(42).uniform(0, 1, 30)
    a = bootstrap_ci(x, np.mean, n_boot=500, seed=7)
    b = bootstrap_ci(x, np.mean, n_boot=500, seed=7)
    c = bootstrap_ci(x, np.mean, n_boot=500, seed=8)
    assert a == b
    assert a[0] == c[0] == pytest.approx(x.mean())
    assert (a[1], a[2]) != (c[1], c[2])
    assert a[1] < a[0] < a[2]


def test_bootstrap_ci_of_a_constant_is_that_constant_and_without_resamples_is_nan():
    assert bootstrap_ci([0.7] * 5, np.mean, n_boot=100, seed=0) == pytest.approx((0.7, 0.7, 0.7))
    est, lo, hi = bootstrap_ci([0.1, 0.2], np.mean, n_boot=0)
    assert est == pytest.approx(0.15) and math.isnan(lo) and math.isnan(hi)
    assert all(math.isnan(v) for v in bootstrap_ci([], np.mean))


def test_pooled_f1_sums_counts_over_cases():
    assert pooled_f1([[1, 0, 1], [0, 2, 0], [2, 0, 0]]) == pytest.approx(6 / 9)
    assert math.isnan(pooled_f1([[0, 3, 0]]))


def _case(cid, tp, fp, fn, dice):
    matches = [LesionMatch("TP", None, None, 0.0, 1)] * tp + [LesionMatch("FP", None, None, math.nan, 0)] * fp \
        + [LesionMatch("FN", None, None, math.nan, 0)] * fn
    return CaseResult(cid, dice, 1.0, 1.0, counts_from_matches(matches), matches, "centroid", 5.0)


def test_summary_hand_computed():
    """Cases (TP,FP,FN): (1,0,1), (0,2,0) with an empty reference, (2,0,0).
    Pooled F1 6/9; per-case F1 2/3, NaN, 1 -> mean 5/6 over 2 cases; FP/scan 2/3; FP per CMB 2/4;
    counts pred (1,2,2) vs ref (2,0,2): differences (-1,2,0) -> bias 1/3; Dice NaN excluded from the mean."""
    res = [_case("a", 1, 0, 1, 0.5), _case("b", 0, 2, 0, 0.0), _case("c", 2, 0, 0, math.nan)]
    s = summarize(res, n_boot=200, seed=1)
    assert (s.n_cases, s.n_cases_dice, s.n_cases_f1) == (3, 2, 2)
    assert s.dice_mean == pytest.approx(0.25)
    assert s.f1_pooled == pytest.approx(6 / 9)
    assert s.f1_mean == pytest.approx(5 / 6)
    assert s.fp_per_scan == pytest.approx(2 / 3)
    assert s.fp_per_cmb == pytest.approx(0.5)
    assert (s.tp, s.fp, s.fn, s.n_pred, s.n_ref) == (3, 2, 1, 5, 4)
    assert s.sensitivity_pooled == pytest.approx(3 / 4) and s.precision_pooled == pytest.approx(3 / 5)
    assert s.count_bias == pytest.approx(1 / 3)
    assert s.abs_count_difference_mean == pytest.approx(1.0)
    ba = bland_altman([1, 2, 2], [2, 0, 2])
    assert (s.count_loa_low, s.count_loa_high) == pytest.approx((ba.loa_low, ba.loa_high))
    assert s.count_icc_2_1 == pytest.approx(icc([[1, 2], [2, 0], [2, 2]], "2,1"))
    assert s.dice_ci_low <= s.dice_mean <= s.dice_ci_high
    assert s.f1_pooled_ci_low <= s.f1_pooled <= s.f1_pooled_ci_high


def test_summary_is_identical_for_the_same_seed_and_differs_for_another():
    rng = np.random.default_rng(3)
    res = [_case(str(i), int(rng.integers(0, 4)), int(rng.integers(0, 3)), int(rng.integers(0, 3)),
                 float(rng.uniform(0.3, 0.9))) for i in range(25)]
    a, b, c = (summarize(res, n_boot=300, seed=s) for s in (11, 11, 12))
    assert a == b
    assert (a.dice_ci_low, a.dice_ci_high) != (c.dice_ci_low, c.dice_ci_high)
    assert (a.f1_pooled_ci_low, a.f1_pooled_ci_high) != (c.f1_pooled_ci_low, c.f1_pooled_ci_high)


def test_summarize_cohort_splits_by_site():
    res = [_case("a", 1, 0, 0, 0.8), _case("b", 1, 1, 0, 0.6), _case("c", 0, 0, 1, 0.2)]
    out = summarize_cohort(res, {"a": "internal", "b": "internal", "c": "external"}, n_boot=50)
    assert [s.group for s in out] == ["all", "external", "internal"]
    assert [s.n_cases for s in out] == [3, 1, 2]
    assert out[2].dice_mean == pytest.approx(0.7)
    assert out[1].f1_pooled == 0.0
    assert [s.group for s in summarize_cohort(res, None, n_boot=10)] == ["all"]
