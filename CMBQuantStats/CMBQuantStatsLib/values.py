"""Cell values: numbers (with decimal commas and missing markers), coded categories (M/F, yes/no), formula names.

Every value is checked before any model sees it; each bad cell becomes an :class:`InputProblem` (never a silent NaN).
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from CMBQuantStatsLib.problems import InputProblem, sheet_row

MISSING = {"", "na", "n/a", "nan", "none", "null", "."}

#: Plausible ranges (inclusive); values outside are typing errors or wrong units, never real.
RANGES: dict[str, tuple[float, float]] = {
    "age": (0, 120), "mmse": (0, 30), "bmi": (10, 80), "education": (0, 30),
    "wmh_burden": (0, 100), "wmh_volume": (0, np.inf), "icv": (1e-9, np.inf),
}


def is_missing(s: pd.Series) -> pd.Series:
    return s.str.strip().str.lower().isin(MISSING)


def parse_numeric(df: pd.DataFrame, col: str, label: str, problems: list[InputProblem],
                  lo: float = -np.inf, hi: float = np.inf, integer: bool = False,
                  role: str | None = None) -> pd.Series:
    """Parse one column to float, recording non-numeric, out-of-range and non-integer cells.

    Fast path: the whole column through ``pd.to_numeric``; only cells that fail are looked at as text
    (missing markers, decimal commas, typos).
    """
    s = df[col]
    val = pd.to_numeric(s, errors="coerce").astype(float)
    val[~np.isfinite(val)] = np.nan
    what = role or col
    todo = np.flatnonzero(val.isna().to_numpy())
    if len(todo):
        sub = s.iloc[todo].astype(str).str.strip()
        miss = sub.str.lower().isin(MISSING).to_numpy()
        fixed = pd.to_numeric(sub.str.replace(",", ".", regex=False), errors="coerce").to_numpy(dtype=float, copy=True)
        fixed[~np.isfinite(fixed)] = np.nan
        fixed[miss] = np.nan
        val.iloc[todo] = fixed
        for k in np.flatnonzero(~miss & np.isnan(fixed)):
            problems.append(InputProblem(label, sheet_row(todo[k]), col, f"'{sub.iat[k]}' is not a number",
                                         f"enter a number for {what} or leave the cell empty if unknown"))
    bad = ((val < lo) | (val > hi)).to_numpy()
    for i in np.flatnonzero(bad):
        rng = f"{lo:g}–{hi:g}" if np.isfinite(hi) else f"≥ {lo:g}"
        problems.append(InputProblem(label, sheet_row(i), col,
                                     f"{what} = {str(s.iat[i]).strip()} is outside the possible range {rng}",
                                     "correct the value (check units) or leave the cell empty if unknown"))
    if integer:
        frac = (val.notna() & (val != np.round(val))).to_numpy()
        for i in np.flatnonzero(frac):
            problems.append(InputProblem(label, sheet_row(i), col, f"count '{str(s.iat[i]).strip()}' is not a whole "
                                         "number", "counts must be whole numbers ≥ 0"))
    return val


def _norm_key(x: object) -> str:
    s = str(x).strip().lower()
    try:
        f = float(s)
        if f == int(f):
            return str(int(f))
    except ValueError:
        pass
    return s


def parse_coded(df: pd.DataFrame, col: str, coding: dict[str, int], label: str, problems: list[InputProblem],
                role: str) -> pd.Series:
    """Map coded text (e.g. M/F, yes/no) to 1/0, recording cells the coding does not cover."""
    table = {_norm_key(k): v for k, v in coding.items()}
    raw = df[col].astype(str).str.strip()
    missing = is_missing(raw)
    out = raw.str.lower().map(table).astype(float)
    slow = np.flatnonzero((~missing & out.isna()).to_numpy())  # e.g. "1.0" for code "1"
    if len(slow):
        out.iloc[slow] = raw.iloc[slow].map(_norm_key).map(table).astype(float).to_numpy()
    for i in np.flatnonzero((~missing & out.isna()).to_numpy()):
        problems.append(InputProblem(label, sheet_row(i), col, f"'{raw.iat[i]}' is not one of the codes for {role} "
                                     f"{sorted(coding)}", f"add it to the {role} coding in the column roles "
                                     "or correct the cell"))
    out[missing] = np.nan
    return out


def safe_name(col: str) -> str:
    """Column name usable in a model formula."""
    s = re.sub(r"\W+", "_", col.strip()).strip("_").lower()
    return s if s and not s[0].isdigit() else f"x_{s}"
