"""Reading, validating and pooling the three input tables.

Clinical researchers bring spreadsheets in whatever shape their centre uses, so the user maps columns to roles
(:class:`ColumnRoles`) instead of renaming files. Every value is checked before any model sees it; a bad value
raises :class:`StatsInputError` naming file, row and column and how to fix it, and every row that does not make it
into the pooled table is listed with its reason in the :class:`PoolingReport` (nothing disappears silently).

Row numbers follow the spreadsheet convention: the header is row 1, the first data row is row 2.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Union

import numpy as np
import pandas as pd

TableSource = Union[str, Path, pd.DataFrame]  # noqa: UP007 - runtime alias, kept simple

#: Regions of the cohort table (docs/case-folder.md).
REGIONS = (
    "total", "lobar", "frontal", "parietal", "temporal", "occipital", "insula",
    "deep", "infratentorial", "cerebellar", "brainstem", "unassigned",
)
COUNT_MODES = ("definite", "definite+possible")
#: CMB burden categories for proportional-odds models: 0, 1, 2–4, ≥5 CMBs -> codes 0, 1, 2, 3 (``cat_<region>``).
BURDEN_BINS = (1, 2, 5)
BURDEN_LABELS = ("0", "1", "2-4", ">=5")
_MISSING = {"", "na", "n/a", "nan", "none", "null", "."}
_DEFAULT_SEX = {"M": 1, "F": 0, "male": 1, "female": 0, "1": 1, "0": 0}
_DEFAULT_BINARY = {"1": 1, "0": 0, "yes": 1, "no": 0, "y": 1, "n": 0, "true": 1, "false": 0}

#: Plausible ranges (inclusive); values outside are typing errors or wrong units, never real.
RANGES: dict[str, tuple[float, float]] = {
    "age": (0, 120), "mmse": (0, 30), "bmi": (10, 80), "education": (0, 30),
    "wmh_burden": (0, 100), "wmh_volume": (0, np.inf), "icv": (1e-9, np.inf),
}


# --------------------------------------------------------------------------------------------- errors
@dataclass(frozen=True)
class InputProblem:
    """One bad cell (or missing column when ``row`` is None)."""

    file: str
    row: int | None
    column: str | None
    problem: str
    fix: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column '{self.column}'"
        return f"{where}: {self.problem}. Fix: {self.fix}"


class StatsInputError(ValueError):
    """Raised for unusable input; ``problems`` holds every bad cell found, the message lists the first ones."""

    def __init__(self, problems: list[InputProblem]):
        self.problems = list(problems)
        head = [str(p) for p in self.problems[:10]]
        more = len(self.problems) - len(head)
        msg = "\n".join(head) + (f"\n... and {more} more problem(s)" if more > 0 else "")
        super().__init__(msg)

    @property
    def first(self) -> InputProblem:
        return self.problems[0]


# --------------------------------------------------------------------------------------------- roles
@dataclass
class ColumnRoles:
    """Which column of which table plays which role.

    A role left at ``None`` means "use the canonical column name if the table has it, else leave that variable
    out (noted in the pooling report)"; a role set to a name means "this column must exist".
    Codings map cell text (case-insensitive) to 1/0; sex is coded male = 1, female = 0 by default.
    """

    cohort_id: str = "case_id"
    wmh_id: str = "case_id"
    clinical_id: str = "case_id"
    age: str | None = None
    sex: str | None = None
    sex_coding: dict[str, int] = field(default_factory=lambda: dict(_DEFAULT_SEX))
    hypertension: str | None = None
    diabetes: str | None = None
    hyperlipidemia: str | None = None
    binary_coding: dict[str, int] = field(default_factory=lambda: dict(_DEFAULT_BINARY))
    lipids: list[str] = field(default_factory=list)
    bmi: str | None = None
    mmse: str | None = None
    education: str | None = None
    wmh_burden: str | None = None
    wmh_volume: str | None = None
    icv: str | None = None
    extra_numeric: list[str] = field(default_factory=list)
    extra_categorical: list[str] = field(default_factory=list)
    count_mode: str = "definite+possible"
    require_review_complete: bool = False

    @classmethod
    def from_dict(cls, d: dict) -> ColumnRoles:
        """Build from a JSON-like dict, rejecting unknown keys (typos would otherwise be silently ignored)."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise StatsInputError([InputProblem(
                "column roles", None, None, f"unknown role(s) {unknown}",
                f"use only {sorted(known)}")])
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------------------------- reading
def read_table(source: TableSource, name: str | None = None) -> tuple[pd.DataFrame, str]:
    """Read CSV / TSV / Excel as text (so IDs like ``007`` and odd cells survive) and return (frame, label).

    The label is the file name used in error messages; a DataFrame source is labelled ``name`` or "<table>".
    """
    if isinstance(source, pd.DataFrame):
        return source.astype(object).where(source.notna(), "").astype(str).reset_index(drop=True), name or "<table>"
    path = Path(source)
    label = path.name
    if not path.exists():
        raise StatsInputError([InputProblem(str(path), None, None, "file not found",
                                            "check the path (relative paths are relative to the working folder)")])
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            df = pd.read_excel(path, dtype=str, keep_default_na=False, engine="openpyxl")
        elif suffix in (".tsv", ".tab"):
            df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, skip_blank_lines=False)
        elif suffix in (".csv", ".txt"):
            # blank lines are kept (as rows with an empty ID, reported) so row numbers match the file
            df = pd.read_csv(path, sep=_sniff_sep(path), dtype=str, keep_default_na=False, skip_blank_lines=False)
        else:
            raise StatsInputError([InputProblem(label, None, None, f"unsupported file type '{suffix}'",
                                                "save the table as .csv, .tsv or .xlsx")])
    except StatsInputError:
        raise
    except Exception as exc:  # parser errors: report them in our format
        raise StatsInputError([InputProblem(label, None, None, f"cannot read table ({exc})",
                                            "save it as a plain .csv, .tsv or .xlsx with one header row")]) from exc
    df.columns = [str(c).strip() for c in df.columns]
    return df.fillna("").astype(str).reset_index(drop=True), label


def _sniff_sep(path: Path) -> str:
    """Comma, semicolon (European Excel exports) or tab, judged from the header line."""
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        header = fh.readline()
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    return max(counts, key=counts.get) if max(counts.values()) else ","


def _row(i: int) -> int:
    return int(i) + 2


def _is_missing(s: pd.Series) -> pd.Series:
    return s.str.strip().str.lower().isin(_MISSING)


def _numeric(df: pd.DataFrame, col: str, label: str, problems: list[InputProblem],
             lo: float = -np.inf, hi: float = np.inf, integer: bool = False, role: str | None = None) -> pd.Series:
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
        miss = sub.str.lower().isin(_MISSING).to_numpy()
        fixed = pd.to_numeric(sub.str.replace(",", ".", regex=False), errors="coerce").to_numpy(dtype=float, copy=True)
        fixed[~np.isfinite(fixed)] = np.nan
        fixed[miss] = np.nan
        val.iloc[todo] = fixed
        for k in np.flatnonzero(~miss & np.isnan(fixed)):
            problems.append(InputProblem(label, _row(todo[k]), col, f"'{sub.iat[k]}' is not a number",
                                         f"enter a number for {what} or leave the cell empty if unknown"))
    bad = ((val < lo) | (val > hi)).to_numpy()
    for i in np.flatnonzero(bad):
        rng = f"{lo:g}–{hi:g}" if np.isfinite(hi) else f"≥ {lo:g}"
        problems.append(InputProblem(label, _row(i), col,
                                     f"{what} = {str(s.iat[i]).strip()} is outside the possible range {rng}",
                                     "correct the value (check units) or leave the cell empty if unknown"))
    if integer:
        frac = (val.notna() & (val != np.round(val))).to_numpy()
        for i in np.flatnonzero(frac):
            problems.append(InputProblem(label, _row(i), col, f"count '{str(s.iat[i]).strip()}' is not a whole "
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


def _coded(df: pd.DataFrame, col: str, coding: dict[str, int], label: str, problems: list[InputProblem],
           role: str) -> pd.Series:
    """Map coded text (e.g. M/F, yes/no) to 1/0, recording cells the coding does not cover."""
    table = {_norm_key(k): v for k, v in coding.items()}
    raw = df[col].astype(str).str.strip()
    missing = _is_missing(raw)
    out = raw.str.lower().map(table).astype(float)
    slow = np.flatnonzero((~missing & out.isna()).to_numpy())  # e.g. "1.0" for code "1"
    if len(slow):
        out.iloc[slow] = raw.iloc[slow].map(_norm_key).map(table).astype(float).to_numpy()
    for i in np.flatnonzero((~missing & out.isna()).to_numpy()):
        problems.append(InputProblem(label, _row(i), col, f"'{raw.iat[i]}' is not one of the codes for {role} "
                                     f"{sorted(coding)}", f"add it to the {role} coding in the column roles "
                                     "or correct the cell"))
    out[missing] = np.nan
    return out


def _safe_name(col: str) -> str:
    """Column name usable in a model formula."""
    s = re.sub(r"\W+", "_", col.strip()).strip("_").lower()
    return s if s and not s[0].isdigit() else f"x_{s}"


# --------------------------------------------------------------------------------------------- report
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


@dataclass
class PooledData:
    """The analysis-ready table (one row per case, canonical column names) and how it was made."""

    data: pd.DataFrame
    report: PoolingReport
    covariates: list[str]
    regions: list[str]


# --------------------------------------------------------------------------------------------- pooling
def _resolve(role_value: str | None, canonical: str, columns: list[str], label: str, role: str,
             problems: list[InputProblem]) -> str | None:
    if role_value is None:
        return canonical if canonical in columns else None
    if role_value not in columns:
        problems.append(InputProblem(label, None, role_value, f"column for {role} not found "
                                     f"(columns are {columns})", f"set the {role} role to one of those columns"))
        return None
    return role_value


def _ids(df: pd.DataFrame, col: str, label: str, table: str, problems: list[InputProblem]) -> pd.Series:
    if col not in df.columns:
        problems.append(InputProblem(label, None, col, f"ID column not found (columns are {list(df.columns)})",
                                     f"set the {table} ID column role to the column holding the case IDs"))
        return pd.Series([], dtype=str)
    return df[col].astype(str).str.strip()


def _dedupe(df: pd.DataFrame, ids: pd.Series, table: str, label: str, rep: PoolingReport) -> pd.Series:
    """Keep one row per ID: exact repeats keep the first; conflicting repeats are all dropped (which is right?)."""
    keep = pd.Series(True, index=df.index)
    empty = ids.eq("")
    for i in np.flatnonzero(empty.to_numpy()):
        rep.dropped.append(DroppedRow(table, label, _row(i), "", "empty case ID"))
    keep &= ~empty
    dup_mask = ids.duplicated(keep=False) & ~empty
    dups = sorted(ids[dup_mask].unique().tolist())
    rep.duplicate_ids[table] = dups
    for case in dups:
        idx = np.flatnonzero((ids == case).to_numpy())
        rows = df.iloc[idx]
        rows_txt = ", ".join(str(_row(i)) for i in idx)
        if len(rows.drop_duplicates()) == 1:
            for i in idx[1:]:
                rep.dropped.append(DroppedRow(table, label, _row(i), case,
                                              f"exact duplicate of row {_row(idx[0])}"))
                keep.iat[i] = False
        else:
            for i in idx:
                rep.dropped.append(DroppedRow(table, label, _row(i), case,
                                              f"ID appears in rows {rows_txt} with different values; "
                                              "fix the table so each ID appears once"))
                keep.iat[i] = False
    return keep


def _parse_cohort(df: pd.DataFrame, label: str, roles: ColumnRoles, problems: list[InputProblem],
                  rep: PoolingReport) -> tuple[pd.DataFrame, list[str]]:
    if roles.count_mode not in COUNT_MODES:
        problems.append(InputProblem("column roles", None, "count_mode", f"unknown count mode '{roles.count_mode}'",
                                     f"use one of {list(COUNT_MODES)}"))
        return pd.DataFrame(index=df.index), []
    out = pd.DataFrame(index=df.index)
    regions = []
    for r in REGIONS:
        dcol, pcol = f"{r}_definite", f"{r}_possible"
        if dcol not in df.columns:
            continue
        d = _numeric(df, dcol, label, problems, 0, np.inf, integer=True, role=f"{r} definite count")
        if roles.count_mode == "definite":
            out[r] = d
        else:
            if pcol not in df.columns:
                problems.append(InputProblem(label, None, pcol, "column missing for count mode 'definite+possible'",
                                             "add the column or choose count mode 'definite'"))
                continue
            out[r] = d + _numeric(df, pcol, label, problems, 0, np.inf, integer=True, role=f"{r} possible count")
        regions.append(r)
    if not regions:
        problems.append(InputProblem(label, None, "total_definite",
                                     "no '<region>_definite' count columns (e.g. total_definite)",
                                     "use the cohort.csv written by CMBQuant (docs/case-folder.md)"))
    if "review_complete" in df.columns:
        rc = _numeric(df, "review_complete", label, problems, 0, 1, integer=True, role="review_complete")
        out["review_complete"] = rc
    elif roles.require_review_complete:
        problems.append(InputProblem(label, None, "review_complete", "column missing but review completeness required",
                                     "add review_complete (0/1) or turn off require_review_complete"))
    return out, regions


def _parse_wmh(df: pd.DataFrame, label: str, roles: ColumnRoles, problems: list[InputProblem],
               required: bool) -> pd.DataFrame:
    cols = list(df.columns)
    out = pd.DataFrame(index=df.index)
    b = _resolve(roles.wmh_burden, "wmh_burden", cols, label, "WMH burden", problems)
    if b is not None:
        out["wmh_burden"] = _numeric(df, b, label, problems, *RANGES["wmh_burden"], role="WMH burden (%)")
        return out
    v = _resolve(roles.wmh_volume, "wmh_volume", cols, label, "WMH volume", problems)
    c = _resolve(roles.icv, "icv", cols, label, "ICV", problems)
    if v is not None and c is not None:
        vol = _numeric(df, v, label, problems, *RANGES["wmh_volume"], role="WMH volume")
        icv = _numeric(df, c, label, problems, *RANGES["icv"], role="intracranial volume")
        burden = 100 * vol / icv
        for i in np.flatnonzero((burden > 100).fillna(False).to_numpy()):
            problems.append(InputProblem(label, _row(i), v, f"WMH volume {vol.iat[i]:g} exceeds ICV {icv.iat[i]:g}",
                                         "give WMH volume and ICV in the same unit (e.g. both in mL)"))
        out["wmh_volume"], out["icv"], out["wmh_burden"] = vol, icv, burden
    elif required:
        problems.append(InputProblem(label, None, roles.wmh_burden or "wmh_burden",
                                     "no WMH burden column and no WMH volume + ICV columns",
                                     "set the wmh_burden role (in %) or the wmh_volume and icv roles"))
    return out


def _parse_clinical(df: pd.DataFrame, label: str, roles: ColumnRoles, problems: list[InputProblem],
                    rep: PoolingReport) -> pd.DataFrame:
    cols = list(df.columns)
    out = pd.DataFrame(index=df.index)
    for role in ("age", "bmi", "mmse", "education"):
        c = _resolve(getattr(roles, role), role, cols, label, role, problems)
        if c is not None:
            out[role] = _numeric(df, c, label, problems, *RANGES[role], role=role)
        else:
            rep.notes.append(f"no {role} column in {label}; {role} left out")
    c = _resolve(roles.sex, "sex", cols, label, "sex", problems)
    if c is not None:
        out["sex"] = _coded(df, c, roles.sex_coding, label, problems, "sex")
    else:
        rep.notes.append(f"no sex column in {label}; sex left out")
    for role in ("hypertension", "diabetes", "hyperlipidemia"):
        c = _resolve(getattr(roles, role), role, cols, label, role, problems)
        if c is not None:
            out[role] = _coded(df, c, roles.binary_coding, label, problems, role)
        else:
            rep.notes.append(f"no {role} column in {label}; {role} left out")
    for c in roles.lipids:
        if _resolve(c, c, cols, label, f"lipid '{c}'", problems):
            out[_safe_name(c)] = _numeric(df, c, label, problems, 0, np.inf, role=f"lipid value {c}")
    for c in roles.extra_numeric:
        if _resolve(c, c, cols, label, f"extra numeric '{c}'", problems):
            out[_safe_name(c)] = _numeric(df, c, label, problems, role=c)
    for c in roles.extra_categorical:
        if _resolve(c, c, cols, label, f"extra categorical '{c}'", problems):
            raw = df[c].astype(str).str.strip()
            out[_safe_name(c)] = raw.where(~_is_missing(raw), None)
    return out


def pool_tables(cohort: TableSource, clinical: TableSource, wmh: TableSource | None = None,
                roles: ColumnRoles | None = None) -> PooledData:
    """Validate the tables and inner-join them on the case ID.

    Raises :class:`StatsInputError` listing every bad cell. IDs present in one table but not another, duplicate IDs,
    empty IDs and cases with an incomplete review (when required) are dropped and listed in the report.
    Without a WMH table, WMH columns are looked for in the clinical table.
    """
    roles = roles or ColumnRoles()
    rep = PoolingReport(count_mode=roles.count_mode)
    problems: list[InputProblem] = []
    frames = {"cohort": read_table(cohort, "cohort table"), "clinical": read_table(clinical, "clinical table")}
    if wmh is not None:
        frames["wmh"] = read_table(wmh, "WMH table")
    id_cols = {"cohort": roles.cohort_id, "clinical": roles.clinical_id, "wmh": roles.wmh_id}

    parsed: dict[str, pd.DataFrame] = {}
    raw_ids: dict[str, set[str]] = {}
    labels: dict[str, str] = {}
    regions: list[str] = []
    for table, (df, label) in frames.items():
        labels[table] = label
        rep.files[table] = label
        rep.n_rows[table] = len(df)
        ids = _ids(df, id_cols[table], label, table, problems)
        if ids.empty and len(df):
            continue
        if table == "cohort":
            p, regions = _parse_cohort(df, label, roles, problems, rep)
        elif table == "clinical":
            p = _parse_clinical(df, label, roles, problems, rep)
            if wmh is None:
                p = p.join(_parse_wmh(df, label, roles, problems, required=False))
        else:
            p = _parse_wmh(df, label, roles, problems, required=True)
        p.insert(0, "case_id", ids)
        p["_row"] = [_row(i) for i in range(len(df))]
        raw_ids[table] = set(ids)
        parsed[table] = p.loc[_dedupe(df, ids, table, label, rep)]
    if problems:
        raise StatsInputError(problems)

    if roles.require_review_complete and "review_complete" in parsed["cohort"].columns:
        c = parsed["cohort"]
        inc = c["review_complete"] != 1
        for _, r in c[inc].iterrows():
            rep.dropped.append(DroppedRow("cohort", labels["cohort"], int(r["_row"]), r["case_id"],
                                          "review not complete (review_complete != 1)"))
        parsed["cohort"] = c[~inc]

    id_sets = {t: set(p["case_id"]) for t, p in parsed.items()}
    common = set.intersection(*id_sets.values())
    union = set.union(*id_sets.values())
    for t, s in id_sets.items():
        rep.missing_ids[t] = sorted(union - s)
    for t, p in parsed.items():
        others = [o for o in parsed if o != t]
        for _, r in p[~p["case_id"].isin(common)].iterrows():
            cid = r["case_id"]
            absent = [o for o in others if cid not in raw_ids[o]]
            unusable = [o for o in others if cid in raw_ids[o] and cid not in id_sets[o]]
            why = []
            if absent:
                why.append(f"ID not in the {' and '.join(absent)} table(s)")
            if unusable:
                why.append(f"ID's row dropped from the {' and '.join(unusable)} table(s) (see those rows)")
            rep.dropped.append(DroppedRow(t, labels[t], int(r["_row"]), cid, "; ".join(why)))

    merged = None
    for t, p in parsed.items():
        p = p[p["case_id"].isin(common)].drop(columns="_row")
        merged = p if merged is None else merged.merge(p, on="case_id", how="inner", suffixes=("", f"_{t}"))
    merged = merged.sort_values("case_id", kind="stable").reset_index(drop=True)
    for r in regions:
        merged[f"log_{r}"] = np.log1p(merged[r])
        merged[f"any_{r}"] = (merged[r] > 0).astype(float).where(merged[r].notna())
        merged[f"cat_{r}"] = pd.Series(np.digitize(merged[r].fillna(0), BURDEN_BINS), dtype=float,
                                       index=merged.index).where(merged[r].notna())
    rep.n_pooled = len(merged)
    if rep.n_pooled == 0:
        raise StatsInputError([InputProblem("pooled table", None, "case_id", "no case ID is present in every table",
                                            "use the same case IDs in all tables and set the ID column roles")])
    covs = [c for c in ("age", "sex", "hypertension", "diabetes", "hyperlipidemia", "bmi", "wmh_burden")
            if c in merged.columns]
    return PooledData(data=merged, report=rep, covariates=covs, regions=regions)


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
