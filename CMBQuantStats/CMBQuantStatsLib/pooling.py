"""Pooling: validate the cohort, clinical and WMH tables and inner-join them on the case ID.

Every bad value raises one :class:`StatsInputError` listing all problems; every row that does not make it into the
pooled table is listed with its reason in the :class:`PoolingReport` (nothing disappears silently).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from CMBQuantStatsLib.agreement import AGREEMENT_COLUMNS, agreement_table
from CMBQuantStatsLib.case_ids import case_ids, dedupe
from CMBQuantStatsLib.cohort_counts import parse_cohort
from CMBQuantStatsLib.pooling_report import DroppedRow, PoolingReport
from CMBQuantStatsLib.problems import InputProblem, StatsInputError, sheet_row
from CMBQuantStatsLib.reading import TableSource, read_table
from CMBQuantStatsLib.roles import ColumnRoles
from CMBQuantStatsLib.table_parsers import parse_clinical, parse_wmh
from CMBQuantStatsLib.versions import VERSION_COLUMN, apply_version_policy, version_labels

#: CMB burden categories for proportional-odds models: 0, 1, 2–4, ≥5 CMBs -> codes 0, 1, 2, 3 (``cat_<region>``).
BURDEN_BINS = (1, 2, 5)
BURDEN_LABELS = ("0", "1", "2-4", ">=5")
COVARIATES = ("age", "sex", "hypertension", "diabetes", "hyperlipidemia", "bmi", "wmh_burden")


@dataclass
class PooledData:
    """The analysis-ready table (one row per case, canonical column names) and how it was made."""

    data: pd.DataFrame
    report: PoolingReport
    covariates: list[str]
    regions: list[str]
    #: model-vs-reader agreement per region on the cohort table's reviewed cases (``agreement.agreement_table``)
    agreement: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=AGREEMENT_COLUMNS))
    #: ``--mixed-versions stratify``: the 0/1 model-version covariates every seed model gets (``versions``)
    version_terms: list[str] = field(default_factory=list)


@dataclass
class _Parsed:
    """Each table's canonical columns (one row per usable ID) plus what the join needs to explain drops."""

    frames: dict[str, pd.DataFrame]
    raw_ids: dict[str, set[str]]
    labels: dict[str, str]
    regions: list[str]
    agreement: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=AGREEMENT_COLUMNS))


def _parse_tables(frames: dict[str, tuple[pd.DataFrame, str]], roles: ColumnRoles, has_wmh: bool,
                  rep: PoolingReport) -> _Parsed:
    problems: list[InputProblem] = []
    id_cols = {"cohort": roles.cohort_id, "clinical": roles.clinical_id, "wmh": roles.wmh_id}
    out = _Parsed({}, {}, {}, [])
    for table, (df, label) in frames.items():
        out.labels[table] = label
        rep.files[table] = label
        rep.n_rows[table] = len(df)
        ids = case_ids(df, id_cols[table], label, table, problems)
        if ids.empty and len(df):
            continue
        counts = parse_cohort(df, label, roles, problems, rep) if table == "cohort" else None
        if counts is not None:
            p, out.regions = counts.counts, counts.regions
            versions = version_labels(df)
            if versions is not None:
                p[VERSION_COLUMN] = versions
        elif table == "clinical":
            p = parse_clinical(df, label, roles, problems, rep)
            if not has_wmh:
                p = p.join(parse_wmh(df, label, roles, problems, required=False))
        else:
            p = parse_wmh(df, label, roles, problems, required=True)
        p.insert(0, "case_id", ids)
        p["_row"] = [sheet_row(i) for i in range(len(df))]
        out.raw_ids[table] = set(ids)
        keep = dedupe(df, ids, table, label, rep)
        out.frames[table] = p.loc[keep]
        if counts is not None and not problems:  # on the cohort table's own rows (valid, unique IDs)
            out.agreement = agreement_table(counts.pairs.loc[keep], p.loc[keep].get("review_complete"),
                                            counts.reader_mode)
    if problems:
        raise StatsInputError(problems)
    return out


def _drop_incomplete_reviews(parsed: _Parsed, rep: PoolingReport) -> None:
    c = parsed.frames["cohort"]
    inc = c["review_complete"] != 1
    for _, r in c[inc].iterrows():
        rep.dropped.append(DroppedRow("cohort", parsed.labels["cohort"], int(r["_row"]), r["case_id"],
                                      "review not complete (review_complete != 1)"))
    parsed.frames["cohort"] = c[~inc]


def _report_unmatched(parsed: _Parsed, rep: PoolingReport) -> set[str]:
    """Record IDs absent from (or dropped from) another table; returns the IDs present in every table."""
    id_sets = {t: set(p["case_id"]) for t, p in parsed.frames.items()}
    common = set.intersection(*id_sets.values())
    union = set.union(*id_sets.values())
    for t, s in id_sets.items():
        rep.missing_ids[t] = sorted(union - s)
    for t, p in parsed.frames.items():
        others = [o for o in parsed.frames if o != t]
        for _, r in p[~p["case_id"].isin(common)].iterrows():
            cid = r["case_id"]
            absent = [o for o in others if cid not in parsed.raw_ids[o]]
            unusable = [o for o in others if cid in parsed.raw_ids[o] and cid not in id_sets[o]]
            why = []
            if absent:
                why.append(f"ID not in the {' and '.join(absent)} table(s)")
            if unusable:
                why.append(f"ID's row dropped from the {' and '.join(unusable)} table(s) (see those rows)")
            rep.dropped.append(DroppedRow(t, parsed.labels[t], int(r["_row"]), cid, "; ".join(why)))
    return common


def _join(parsed: _Parsed, common: set[str]) -> pd.DataFrame:
    merged = None
    for t, p in parsed.frames.items():
        p = p[p["case_id"].isin(common)].drop(columns="_row")
        merged = p if merged is None else merged.merge(p, on="case_id", how="inner", suffixes=("", f"_{t}"))
    merged = merged.sort_values("case_id", kind="stable").reset_index(drop=True)
    for r in parsed.regions:
        merged[f"log_{r}"] = np.log1p(merged[r])
        merged[f"any_{r}"] = (merged[r] > 0).astype(float).where(merged[r].notna())
        merged[f"cat_{r}"] = pd.Series(np.digitize(merged[r].fillna(0), BURDEN_BINS), dtype=float,
                                       index=merged.index).where(merged[r].notna())
    return merged


def pool_tables(cohort: TableSource, clinical: TableSource, wmh: TableSource | None = None,
                roles: ColumnRoles | None = None) -> PooledData:
    """Validate the tables and inner-join them on the case ID.

    Raises :class:`StatsInputError` listing every bad cell. IDs present in one table but not another, duplicate IDs,
    empty IDs and cases with an incomplete review (when required) are dropped and listed in the report.
    Without a WMH table, WMH columns are looked for in the clinical table.
    """
    roles = roles or ColumnRoles()
    rep = PoolingReport(count_mode=roles.count_mode)
    frames = {"cohort": read_table(cohort, "cohort table"), "clinical": read_table(clinical, "clinical table")}
    if wmh is not None:
        frames["wmh"] = read_table(wmh, "WMH table")
    parsed = _parse_tables(frames, roles, wmh is not None, rep)
    if roles.require_review_complete and "review_complete" in parsed.frames["cohort"].columns:
        _drop_incomplete_reviews(parsed, rep)
    merged = _join(parsed, _report_unmatched(parsed, rep))
    rep.n_pooled = len(merged)
    if rep.n_pooled == 0:
        raise StatsInputError([InputProblem("pooled table", None, "case_id", "no case ID is present in every table",
                                            "use the same case IDs in all tables and set the ID column roles")])
    terms = apply_version_policy(merged, roles.mixed_versions, rep, parsed.labels["cohort"])
    covs = [c for c in COVARIATES if c in merged.columns] + terms
    if len(parsed.agreement):
        a = parsed.agreement
        rep.notes.append(f"model-vs-reader agreement on {int(a['n_cases'].max())} reviewed case(s) of the cohort "
                         f"table ({int(a['n_not_reviewed'].max())} not reviewed, left out); reader count: "
                         f"{a['reader_count'].iat[0]}")
    return PooledData(data=merged, report=rep, covariates=covs, regions=parsed.regions, agreement=parsed.agreement,
                      version_terms=terms)
