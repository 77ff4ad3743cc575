"""Case IDs of one table: found, stripped, and de-duplicated with every dropped row reported.

Exact repeats keep the first row; conflicting repeats are all dropped, because which of them is right cannot be known.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from CMBQuantStatsLib.pooling_report import DroppedRow, PoolingReport
from CMBQuantStatsLib.problems import InputProblem, sheet_row


def case_ids(df: pd.DataFrame, col: str, label: str, table: str, problems: list[InputProblem]) -> pd.Series:
    """The stripped ID column (empty when it is missing, with the problem recorded)."""
    if col not in df.columns:
        problems.append(InputProblem(label, None, col, f"ID column not found (columns are {list(df.columns)})",
                                     f"set the {table} ID column role to the column holding the case IDs"))
        return pd.Series([], dtype=str)
    return df[col].astype(str).str.strip()


def dedupe(df: pd.DataFrame, ids: pd.Series, table: str, label: str, rep: PoolingReport) -> pd.Series:
    """Keep one row per ID: exact repeats keep the first; conflicting repeats are all dropped (which is right?)."""
    keep = pd.Series(True, index=df.index)
    empty = ids.eq("")
    for i in np.flatnonzero(empty.to_numpy()):
        rep.dropped.append(DroppedRow(table, label, sheet_row(i), "", "empty case ID"))
    keep &= ~empty
    dup_mask = ids.duplicated(keep=False) & ~empty
    dups = sorted(ids[dup_mask].unique().tolist())
    rep.duplicate_ids[table] = dups
    for case in dups:
        idx = np.flatnonzero((ids == case).to_numpy())
        rows = df.iloc[idx]
        rows_txt = ", ".join(str(sheet_row(i)) for i in idx)
        if len(rows.drop_duplicates()) == 1:
            for i in idx[1:]:
                rep.dropped.append(DroppedRow(table, label, sheet_row(i), case,
                                              f"exact duplicate of row {sheet_row(idx[0])}"))
                keep.iat[i] = False
        else:
            for i in idx:
                rep.dropped.append(DroppedRow(table, label, sheet_row(i), case,
                                              f"ID appears in rows {rows_txt} with different values; "
                                              "fix the table so each ID appears once"))
                keep.iat[i] = False
    return keep
