"""Model-vs-reader agreement of CMB counts per region: Bland–Altman, ICC and the number of cases that differ.

Computed on the cases that have both counts and a finished review (``review_complete`` = 1 when the table has the
column): an unreviewed case has no reader count yet (its 0 definite CMBs mean "not read", not "none found"), so it
would only fake disagreement. Cases of the cohort table, not just the pooled ones: agreement is a property of the
detector, whoever has clinical data.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

AGREEMENT_COLUMNS = [
    "region", "n_cases", "n_not_reviewed", "reader_count", "mean_auto", "mean_reader", "bias", "sd_difference",
    "loa_low", "loa_high", "icc_absolute", "icc_consistency", "n_differ", "n_auto_higher", "n_auto_lower",
]


def bland_altman(auto: np.ndarray, reader: np.ndarray) -> tuple[float, float, float, float]:
    """Bias (mean of auto − reader), SD of the differences (n − 1) and the 95 % limits bias ± 1.96 SD."""
    d = np.asarray(auto, dtype=float) - np.asarray(reader, dtype=float)
    if d.size == 0:
        return math.nan, math.nan, math.nan, math.nan
    bias = float(d.mean())
    sd = float(d.std(ddof=1)) if d.size > 1 else math.nan
    return bias, sd, bias - 1.96 * sd, bias + 1.96 * sd


def icc(ratings: np.ndarray, kind: str = "absolute") -> float:
    """Single-measure intraclass correlation of an n-cases x k-raters table from the two-way ANOVA mean squares
    (Shrout & Fleiss 1979): ``absolute`` = ICC(2,1) (a detector that over-counts is penalised), ``consistency`` =
    ICC(3,1) (a constant bias is not). NaN with fewer than 2 cases or no variance at all."""
    x = np.asarray(ratings, dtype=float)
    n, k = x.shape
    if n < 2 or k < 2:
        return math.nan
    grand = x.mean()
    ss_rows = k * ((x.mean(1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(0) - grand) ** 2).sum()
    ss_err = ((x - grand) ** 2).sum() - ss_rows - ss_cols
    msr, msc, mse = ss_rows / (n - 1), ss_cols / (k - 1), ss_err / ((n - 1) * (k - 1))
    if kind == "absolute":
        den = msr + (k - 1) * mse + k * (msc - mse) / n
    elif kind == "consistency":
        den = msr + (k - 1) * mse
    else:
        raise ValueError(f"unknown ICC kind {kind!r}; use 'absolute' or 'consistency'")
    return float((msr - mse) / den) if den > 0 else math.nan


def region_agreement(region: str, auto: pd.Series, reader: pd.Series, reviewed: pd.Series,
                     reader_mode: str) -> dict:
    """One row of the agreement table."""
    has_both = auto.notna() & reader.notna()
    use = has_both & reviewed
    a, r = auto[use].to_numpy(dtype=float), reader[use].to_numpy(dtype=float)
    bias, sd, lo, hi = bland_altman(a, r)
    pair = np.column_stack([a, r])
    return {
        "region": region, "n_cases": int(use.sum()), "n_not_reviewed": int((has_both & ~reviewed).sum()),
        "reader_count": reader_mode, "mean_auto": float(a.mean()) if a.size else math.nan,
        "mean_reader": float(r.mean()) if r.size else math.nan, "bias": bias, "sd_difference": sd,
        "loa_low": lo, "loa_high": hi, "icc_absolute": icc(pair, "absolute"),
        "icc_consistency": icc(pair, "consistency"), "n_differ": int((a != r).sum()),
        "n_auto_higher": int((a > r).sum()), "n_auto_lower": int((a < r).sum()),
    }


def agreement_table(pairs: pd.DataFrame, review_complete: pd.Series | None, reader_mode: str) -> pd.DataFrame:
    """One row per region with both ``auto_<region>`` and ``reader_<region>`` in ``pairs`` (same index as
    ``review_complete``) and at least one reviewed case; empty otherwise (nothing to compare yet)."""
    regions = [c[len("auto_"):] for c in pairs.columns if c.startswith("auto_") and f"reader_{c[5:]}" in pairs]
    if not regions:
        return pd.DataFrame(columns=AGREEMENT_COLUMNS)
    reviewed = (review_complete == 1) if review_complete is not None else pd.Series(True, index=pairs.index)
    rows = [region_agreement(r, pairs[f"auto_{r}"], pairs[f"reader_{r}"], reviewed, reader_mode) for r in regions]
    return pd.DataFrame([r for r in rows if r["n_cases"] > 0], columns=AGREEMENT_COLUMNS)
