"""Each input table's columns, by role, to canonical analysis columns (WMH burden, clinical data; the cohort counts
are ``cohort_counts``).

A role names a column; a missing required column is a problem, a missing optional one a note in the pooling report.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from CMBQuantStatsLib.pooling_report import PoolingReport
from CMBQuantStatsLib.problems import InputProblem, sheet_row
from CMBQuantStatsLib.roles import ColumnRoles
from CMBQuantStatsLib.values import RANGES, is_missing, parse_coded, parse_numeric, safe_name


def resolve_column(role_value: str | None, canonical: str, columns: list[str], label: str, role: str,
                   problems: list[InputProblem]) -> str | None:
    """The column playing ``role``: the one named, else the canonical name if present, else None."""
    if role_value is None:
        return canonical if canonical in columns else None
    if role_value not in columns:
        problems.append(InputProblem(label, None, role_value, f"column for {role} not found "
                                     f"(columns are {columns})", f"set the {role} role to one of those columns"))
        return None
    return role_value


def parse_wmh(df: pd.DataFrame, label: str, roles: ColumnRoles, problems: list[InputProblem],
              required: bool) -> pd.DataFrame:
    """WMH burden in %, given directly or as 100 · WMH volume / ICV."""
    cols = list(df.columns)
    out = pd.DataFrame(index=df.index)
    b = resolve_column(roles.wmh_burden, "wmh_burden", cols, label, "WMH burden", problems)
    if b is not None:
        out["wmh_burden"] = parse_numeric(df, b, label, problems, *RANGES["wmh_burden"], role="WMH burden (%)")
        return out
    v = resolve_column(roles.wmh_volume, "wmh_volume", cols, label, "WMH volume", problems)
    c = resolve_column(roles.icv, "icv", cols, label, "ICV", problems)
    if v is not None and c is not None:
        vol = parse_numeric(df, v, label, problems, *RANGES["wmh_volume"], role="WMH volume")
        icv = parse_numeric(df, c, label, problems, *RANGES["icv"], role="intracranial volume")
        burden = 100 * vol / icv
        for i in np.flatnonzero((burden > 100).fillna(False).to_numpy()):
            problems.append(InputProblem(label, sheet_row(i), v,
                                         f"WMH volume {vol.iat[i]:g} exceeds ICV {icv.iat[i]:g}",
                                         "give WMH volume and ICV in the same unit (e.g. both in mL)"))
        out["wmh_volume"], out["icv"], out["wmh_burden"] = vol, icv, burden
    elif required:
        problems.append(InputProblem(label, None, roles.wmh_burden or "wmh_burden",
                                     "no WMH burden column and no WMH volume + ICV columns",
                                     "set the wmh_burden role (in %) or the wmh_volume and icv roles"))
    return out


def parse_clinical(df: pd.DataFrame, label: str, roles: ColumnRoles, problems: list[InputProblem],
                   rep: PoolingReport) -> pd.DataFrame:
    """Age, sex, risk factors, lipids, MMSE, education and extra columns; absent optional roles are noted."""
    cols = list(df.columns)
    out = pd.DataFrame(index=df.index)
    for role in ("age", "bmi", "mmse", "education"):
        c = resolve_column(getattr(roles, role), role, cols, label, role, problems)
        if c is not None:
            out[role] = parse_numeric(df, c, label, problems, *RANGES[role], role=role)
        else:
            rep.notes.append(f"no {role} column in {label}; {role} left out")
    c = resolve_column(roles.sex, "sex", cols, label, "sex", problems)
    if c is not None:
        out["sex"] = parse_coded(df, c, roles.sex_coding, label, problems, "sex")
    else:
        rep.notes.append(f"no sex column in {label}; sex left out")
    for role in ("hypertension", "diabetes", "hyperlipidemia"):
        c = resolve_column(getattr(roles, role), role, cols, label, role, problems)
        if c is not None:
            out[role] = parse_coded(df, c, roles.binary_coding, label, problems, role)
        else:
            rep.notes.append(f"no {role} column in {label}; {role} left out")
    for c in roles.lipids:
        if resolve_column(c, c, cols, label, f"lipid '{c}'", problems):
            out[safe_name(c)] = parse_numeric(df, c, label, problems, 0, np.inf, role=f"lipid value {c}")
    for c in roles.extra_numeric:
        if resolve_column(c, c, cols, label, f"extra numeric '{c}'", problems):
            out[safe_name(c)] = parse_numeric(df, c, label, problems, role=c)
    for c in roles.extra_categorical:
        if resolve_column(c, c, cols, label, f"extra categorical '{c}'", problems):
            raw = df[c].astype(str).str.strip()
            out[safe_name(c)] = raw.where(~is_missing(raw), None)
    return out
