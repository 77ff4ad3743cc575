"""The cohort table's CMB counts per region: by count mode (the reader's definite [+ possible] counts, or the
pipeline's automated ones), or from a column named by a count role (another tool's table, a manual rating sheet).

Also the model-vs-reader pairs (``<region>_auto`` next to the reader's count of the same region) the agreement
statistics need. A missing column is reported as what it is: a table with ``total_definite`` but no
``total_possible`` is told to add it or to count definite CMBs only, not that it has no count columns.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from CMBQuantStatsLib.pooling_report import PoolingReport
from CMBQuantStatsLib.problems import InputProblem
from CMBQuantStatsLib.roles import COUNT_MODES, REGIONS, ColumnRoles
from CMBQuantStatsLib.values import parse_numeric

_CANONICAL = "use the cohort.csv written by CMBQuant (docs/case-folder.md)"


@dataclass
class CohortCounts:
    """One count column per modelled region (plus ``review_complete``), and the auto-vs-reader pairs."""

    counts: pd.DataFrame
    regions: list[str]
    pairs: pd.DataFrame = field(default_factory=pd.DataFrame)  # auto_<region>, reader_<region>
    reader_mode: str = ""


class _Columns:
    """Count columns of one table, each parsed (and checked) once."""

    def __init__(self, df: pd.DataFrame, label: str, problems: list[InputProblem]):
        self.df, self.label, self.problems = df, label, problems
        self._parsed: dict[str, pd.Series] = {}

    def has(self, col: str) -> bool:
        return col in self.df.columns

    def get(self, col: str, what: str) -> pd.Series:
        if col not in self._parsed:
            self._parsed[col] = parse_numeric(self.df, col, self.label, self.problems, 0, np.inf, integer=True,
                                              role=what)
        return self._parsed[col]


def reader_count(cols: _Columns, region: str, mode: str) -> pd.Series | None:
    """The reader's count of ``region``: definite, or definite + possible (None when the columns are absent)."""
    dcol, pcol = f"{region}_definite", f"{region}_possible"
    if not cols.has(dcol) or (mode == "definite+possible" and not cols.has(pcol)):
        return None
    d = cols.get(dcol, f"{region} definite count")
    return d if mode == "definite" else d + cols.get(pcol, f"{region} possible count")


def _mode_count(cols: _Columns, region: str, mode: str) -> pd.Series | None:
    if mode == "auto":
        return cols.get(f"{region}_auto", f"{region} automated count") if cols.has(f"{region}_auto") else None
    return reader_count(cols, region, mode)


def _role_count(cols: _Columns, region: str, column: str, problems: list[InputProblem]) -> pd.Series | None:
    if cols.has(column):
        return cols.get(column, f"{region} count")
    problems.append(InputProblem(cols.label, None, column, f"column for the {region} count role not found "
                                 f"(columns are {list(cols.df.columns)})",
                                 f"set the {region} role to one of those columns (--role {region}=COLUMN)"))
    return None


def _count_problem(cols: _Columns, mode: str, found: bool, by_role: dict[str, str]) -> InputProblem | None:
    """What is wrong with the count columns for ``mode``, naming the columns that do exist instead."""
    have = {kind: [r for r in REGIONS if cols.has(f"{r}_{kind}")] for kind in ("definite", "possible", "auto")}
    missing = [f"{r}_possible" for r in have["definite"] if r not in have["possible"] and r not in by_role]
    if mode == "definite+possible" and missing:
        return InputProblem(cols.label, None, missing[0], f"column(s) {missing} missing for count mode "
                            "'definite+possible' (the table has the matching '_definite' columns)",
                            "add the '_possible' columns, or choose count mode 'definite' (definite CMBs only)")
    if found:
        return None
    if mode == "auto":
        other = "; it has the reader's counts: choose count mode 'definite' or 'definite+possible'" \
            if have["definite"] else ""
        return InputProblem(cols.label, None, "total_auto", f"no automated count columns ('<region>_auto', e.g. "
                            f"total_auto){other}", "build cohort.csv with this CMBQuant (cmbquant merge), or "
                            "name the count columns with --role total=COLUMN")
    if have["auto"]:
        return InputProblem(cols.label, None, "total_definite", "no reviewed count columns ('<region>_definite'); "
                            f"the table has automated counts ({', '.join(r + '_auto' for r in have['auto'][:3])}"
                            " ...)", "choose count mode 'auto' (the pipeline's counts before review)")
    return InputProblem(cols.label, None, "total_definite", "no '<region>_definite' count columns (e.g. "
                        "total_definite) and no count column roles",
                        f"{_CANONICAL}, or name your count columns: --role total=COLUMN (regions: "
                        f"{', '.join(REGIONS)})")


def _pairs(cols: _Columns, mode: str) -> tuple[pd.DataFrame, str]:
    """``auto_<region>`` and ``reader_<region>`` for every region with both (reader: the mode's count, or definite +
    possible under the auto mode)."""
    reader_mode = "definite+possible" if mode == "auto" else mode
    out = pd.DataFrame(index=cols.df.index)
    for r in REGIONS:
        if not cols.has(f"{r}_auto"):
            continue
        reader = reader_count(cols, r, reader_mode)
        if reader is not None:
            out[f"auto_{r}"] = cols.get(f"{r}_auto", f"{r} automated count")
            out[f"reader_{r}"] = reader
    return out, reader_mode


def parse_cohort(df: pd.DataFrame, label: str, roles: ColumnRoles, problems: list[InputProblem],
                 rep: PoolingReport) -> CohortCounts:
    """Per-region counts under the count mode or the count column roles (and review_complete), and the pairs."""
    if roles.count_mode not in COUNT_MODES:
        problems.append(InputProblem("column roles", None, "count_mode", f"unknown count mode '{roles.count_mode}'",
                                     f"use one of {list(COUNT_MODES)}"))
        return CohortCounts(pd.DataFrame(index=df.index), [])
    cols = _Columns(df, label, problems)
    out = pd.DataFrame(index=df.index)
    regions = []
    for r in REGIONS:
        column = roles.count_columns.get(r)
        if column is not None:
            rep.notes.append(f"{r} count from column '{column}' of {label} (count column role; count mode not "
                             "applied)")
        count = _role_count(cols, r, column, problems) if column is not None else _mode_count(cols, r,
                                                                                             roles.count_mode)
        if count is not None:
            out[r] = count
            regions.append(r)
    problem = _count_problem(cols, roles.count_mode, bool(regions) or bool(roles.count_columns), roles.count_columns)
    if problem is not None:
        problems.append(problem)
    if cols.has("review_complete"):
        out["review_complete"] = parse_numeric(df, "review_complete", label, problems, 0, 1, integer=True,
                                               role="review_complete")
    elif roles.require_review_complete:
        problems.append(InputProblem(label, None, "review_complete", "column missing but review completeness required",
                                     "add review_complete (0/1) or turn off require_review_complete"))
    pairs, reader_mode = _pairs(cols, roles.count_mode)
    return CohortCounts(out, regions, pairs, reader_mode)
