"""The pooling report: what happened while joining the tables, so nothing disappears silently.

Every row that does not make it into the pooled table, and every case a model leaves out for missing values, is
listed with its reason; the text form goes into the methods section.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd


@dataclass
class DroppedRow:
    """A row of an input table (or of the pooled table, for a model) left out, and why."""

    table: str
    file: str
    row: int | None
    case_id: str
    reason: str


@dataclass
class PoolingReport:
    """What happened while joining the tables: sizes, missing and duplicate IDs, dropped rows, n per model."""

    files: dict[str, str] = field(default_factory=dict)
    n_rows: dict[str, int] = field(default_factory=dict)
    n_pooled: int = 0
    missing_ids: dict[str, list[str]] = field(default_factory=dict)
    duplicate_ids: dict[str, list[str]] = field(default_factory=dict)
    dropped: list[DroppedRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    model_n: dict[str, int] = field(default_factory=dict)
    model_dropped: list[DroppedRow] = field(default_factory=list)
    count_mode: str = "definite+possible"

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    def to_text(self) -> str:
        """Plain-text summary for the methods section and for checking the join."""
        lines = [f"Count mode: {self.count_mode}"]
        for t, n in self.n_rows.items():
            lines.append(f"{t}: {n} rows ({self.files.get(t, '')})")
        lines.append(f"Pooled cases: {self.n_pooled}")
        for t, ids in self.missing_ids.items():
            if ids:
                lines.append(f"IDs missing from {t} ({len(ids)}): {', '.join(ids)}")
        for t, ids in self.duplicate_ids.items():
            if ids:
                lines.append(f"Duplicate IDs in {t} ({len(ids)}): {', '.join(ids)}")
        if self.dropped:
            lines.append(f"Dropped rows ({len(self.dropped)}):")
            lines += [f"  {d.table} row {d.row} [{d.case_id}]: {d.reason}" for d in self.dropped]
        for note in self.notes:
            lines.append(f"Note: {note}")
        if self.model_n:
            lines.append("Cases per model (complete cases):")
            lines += [f"  {k}: n = {v}" for k, v in self.model_n.items()]
        if self.model_dropped:
            lines.append(f"Excluded from models for missing values ({len(self.model_dropped)}):")
            lines += [f"  {d.table} [{d.case_id}]: {d.reason}" for d in self.model_dropped]
        return "\n".join(lines) + "\n"


def complete_cases(data: pd.DataFrame, columns: list[str], model: str,
                   report: PoolingReport | None = None) -> pd.DataFrame:
    """Rows with every listed column present; the others are recorded in ``report.model_dropped``."""
    cols = [c for c in dict.fromkeys(columns) if c in data.columns]
    na = data[cols].isna()
    miss = na.any(axis=1)
    if report is not None:
        report.model_n[model] = int((~miss).sum())
        for i in np.flatnonzero(miss.to_numpy()):
            gone = [c for c, m in zip(cols, na.iloc[i].to_numpy()) if m]
            report.model_dropped.append(DroppedRow(model, "pooled", None, str(data["case_id"].iat[i])
                                                   if "case_id" in data.columns else str(i),
                                                   f"missing {', '.join(gone)}"))
    return data.loc[~miss]
