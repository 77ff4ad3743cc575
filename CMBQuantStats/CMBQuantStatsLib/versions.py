"""Mixed model versions in one cohort: refuse (the default), stratify or allow.

A retrained detector (``cmbquant train-filter`` / ``train``) counts differently from its parent, so a cohort whose
cases were processed by different model or CMB-filter versions confounds the CMB counts with the software. The
cohort table carries ``model_version`` and ``filter_version`` per case (docs/case-folder.md); a table without them
(older CMBQuant, another tool) is not checked. ``stratify`` adds one 0/1 covariate per non-reference version
(``model_version_2`` ...; the reference is the first version in sorted order) to every seed model and reports the
cases per version; ``allow`` only notes the mix.
"""
from __future__ import annotations

import pandas as pd

from CMBQuantStatsLib.pooling_report import PoolingReport
from CMBQuantStatsLib.problems import InputProblem, StatsInputError

MIXED_VERSION_MODES = ("refuse", "stratify", "allow")
PROVENANCE = ("model_version", "filter_version")
VERSION_COLUMN = "model_version"  # in the pooled table: "<model version> | <filter version>" per case
NOT_RECORDED = "(not recorded)"
_SHOWN = 6  # case ids listed per version in the refusal


def version_labels(df: pd.DataFrame) -> pd.Series | None:
    """Per row of the cohort table: model version and filter version as one label (None: no provenance columns)."""
    if not any(c in df.columns for c in PROVENANCE):
        return None
    parts = [df[c].fillna("").astype(str).str.strip() if c in df.columns else pd.Series("", index=df.index)
             for c in PROVENANCE]
    label = parts[0].where(parts[1] == "", parts[0] + " | " + parts[1])
    return label.where(label != "", NOT_RECORDED)


def apply_version_policy(data: pd.DataFrame, mode: str, rep: PoolingReport, label: str) -> list[str]:
    """Check the pooled cohort's versions under ``mode``; returns the covariates to add (stratify), else []."""
    if mode not in MIXED_VERSION_MODES:
        raise StatsInputError([InputProblem("column roles", None, "mixed_versions", f"unknown mode '{mode}'",
                                            f"use one of {list(MIXED_VERSION_MODES)}")])
    if VERSION_COLUMN not in data.columns:
        return []
    versions = sorted(data[VERSION_COLUMN].unique())
    by_version = {v: sorted(data.loc[data[VERSION_COLUMN] == v, "case_id"]) for v in versions}
    if len(versions) == 1:
        rep.notes.append(f"all {len(data)} cases processed by model version {versions[0]}")
        return []
    listing = "; ".join(f"{v}: {len(ids)} case(s) ({', '.join(ids[:_SHOWN])}{' ...' * (len(ids) > _SHOWN)})"
                        for v, ids in by_version.items())
    if mode == "refuse":
        raise StatsInputError([InputProblem(label, None, VERSION_COLUMN, f"the cohort mixes {len(versions)} model "
                                            f"versions: {listing}", "reprocess the cases with one model version, "
                                            "or pass --mixed-versions stratify (a version covariate) or allow")])
    if mode == "allow":
        rep.notes.append(f"mixed model versions allowed (counts may differ by version): {listing}")
        return []
    terms = []
    for n, v in enumerate(versions[1:], start=2):
        term = f"{VERSION_COLUMN}_{n}"
        data[term] = (data[VERSION_COLUMN] == v).astype(float)
        terms.append(term)
    names = ", ".join(f"{t} = {v}" for t, v in zip(terms, versions[1:]))
    rep.notes.append(f"mixed model versions stratified (reference {versions[0]}; {names}): {listing}")
    return terms
