"""Score a folder of CMB predictions against a folder of reference label maps (what ``cmbquant evaluate`` runs).

Pairs files by case ID (``inputs``), scores each case (``metrics``), summarises the cohort (``summary``) and
writes ``per_case.csv``, ``lesions.csv``, ``summary.csv``, ``summary.json``, ``sizes.csv`` (``regions.csv``) and
``validation.html`` (``report``).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import pandas as pd

from CMBQuantLib.detection.validation.inputs import (
    GeometryTolerance,
    InputError,
    find_cases,
    load_pair,
    load_regions,
)
from CMBQuantLib.detection.validation.lesion_sizes import size_table
from CMBQuantLib.detection.validation.matching import DEFAULT_DISTANCE_MM, DetectionCounts
from CMBQuantLib.detection.validation.metrics import CaseResult, evaluate_case
from CMBQuantLib.detection.validation.report import LESION_COLUMNS, lesion_rows, write_html
from CMBQuantLib.detection.validation.summary import CohortSummary, pooled_region_counts, summarize_cohort

REGION_COUNT_KEYS = ("tp", "fp", "fn", "n_pred", "n_ref")
REGION_COLUMNS = ["region", "tp", "fp", "fn", "n_pred", "n_ref", "sensitivity", "precision", "f1",
                  "count_difference", "abs_count_difference"]


@dataclass
class EvaluationOutput:
    """What ``evaluate_folders`` produced (also written to ``out``)."""

    results: list[CaseResult]
    per_case: pd.DataFrame
    lesions: pd.DataFrame
    summary: list[CohortSummary]
    only_pred: list[str]
    only_ref: list[str]


@dataclass(frozen=True)
class _Pairs:
    """Case files found on both sides (``common``) and the IDs found on one side only."""

    preds: dict[str, Path]
    refs: dict[str, Path]
    common: list[str]
    only_pred: list[str]
    only_ref: list[str]


def _pair_cases(pred_dir: Path, ref_dir: Path) -> _Pairs:
    preds, refs = find_cases(pred_dir), find_cases(ref_dir)
    common = sorted(set(preds) & set(refs))
    if not common:
        raise InputError(f"{pred_dir} and {ref_dir}: no case ID in both folders ({len(preds)} predictions, "
                         f"{len(refs)} references). Name files <case_id>.nii.gz (or .nrrd/.seg.nrrd) on both sides.")
    return _Pairs(preds, refs, common, sorted(set(preds) - set(refs)), sorted(set(refs) - set(preds)))


def _per_case_table(results: list[CaseResult], pairs: _Pairs, sites: Mapping[str, str] | None,
                    region_totals: Mapping[str, DetectionCounts]) -> pd.DataFrame:
    per_case = pd.DataFrame([r.row() for r in results])
    per_case.insert(1, "pred_file", [pairs.preds[c].name for c in pairs.common])
    per_case.insert(2, "ref_file", [pairs.refs[c].name for c in pairs.common])
    if sites:
        per_case.insert(1, "site", [sites.get(c, "unknown") for c in pairs.common])
    for name in region_totals:  # a region with no lesion in a case has zero counts there, not NaN
        for k in REGION_COUNT_KEYS:
            col = f"{name}_{k}"
            per_case[col] = per_case[col].fillna(0).astype(int) if col in per_case else 0
    return per_case


def _settings(pred_dir: Path, ref_dir: Path, rule: str, distance_mm: float, threshold: float, n_boot: int,
              seed: int) -> dict[str, object]:
    return {"prediction_dir": str(pred_dir), "reference_dir": str(ref_dir), "match_rule": rule,
            "distance_mm": distance_mm if rule == "centroid" else None, "threshold": threshold,
            "connectivity": 26, "n_bootstrap": n_boot, "seed": seed, "ci": "percentile 95 %",
            "icc": "ICC(2,1) absolute agreement (also ICC(3,1) consistency)"}


def _json_safe(d: Mapping[str, object]) -> dict[str, object]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def _write_summaries(out_dir: Path, summary: list[CohortSummary], sizes: pd.DataFrame, settings: dict[str, object],
                     pairs: _Pairs) -> None:
    """``summary.csv`` (with the matching settings on each row) and ``summary.json`` (settings, groups, sizes)."""
    summ_df = pd.DataFrame([s.as_dict() for s in summary])
    summ_df.insert(1, "match_rule", settings["match_rule"])
    summ_df.insert(2, "distance_mm", math.nan if settings["distance_mm"] is None else settings["distance_mm"])
    summ_df.insert(3, "threshold", settings["threshold"])
    summ_df.to_csv(out_dir / "summary.csv", index=False)
    doc = {"settings": settings, "groups": [_json_safe(s.as_dict()) for s in summary],
           "by_size": [_json_safe(r) for r in sizes.to_dict("records")],
           "n_scored": len(pairs.common), "only_prediction": pairs.only_pred, "only_reference": pairs.only_ref}
    (out_dir / "summary.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")


def evaluate_folders(pred_dir: Path, ref_dir: Path, out_dir: Path, rule: str = "centroid",
                     distance_mm: float = DEFAULT_DISTANCE_MM, threshold: float = 0.5, n_boot: int = 2000,
                     seed: int = 0, sites: Mapping[str, str] | None = None,
                     tol: GeometryTolerance = GeometryTolerance(), html: bool = True,
                     regions_dir: Path | None = None, region_names: Mapping[int, str] | None = None,
                     ) -> EvaluationOutput:
    """Score every case present in both folders and write the tables and the report into ``out_dir``.

    ``regions_dir`` (optional): one region label map per case (``<case_id>.nii.gz`` ..., on the reference grid);
    a lesion's region is the label at its centre of mass, named by ``region_names`` (label -> name).
    """
    pred_dir, ref_dir, out_dir = Path(pred_dir), Path(ref_dir), Path(out_dir)
    pairs = _pair_cases(pred_dir, ref_dir)
    region_files = find_cases(Path(regions_dir)) if regions_dir is not None else None
    results, lesions = [], []
    for cid in pairs.common:
        pred, ref, aff = load_pair(pairs.preds[cid], pairs.refs[cid], threshold, tol)
        regions = None if region_files is None else \
            load_regions(region_files, Path(regions_dir), cid, pairs.refs[cid], tol)
        r = evaluate_case(pred, ref, affine=aff, case_id=cid, rule=rule, distance_mm=distance_mm,
                          regions=regions, region_names=region_names)
        results.append(r)
        lesions += lesion_rows(r)
    region_totals = pooled_region_counts(results)
    per_case = _per_case_table(results, pairs, sites, region_totals)
    lesions_df = pd.DataFrame(lesions, columns=LESION_COLUMNS)
    summary = summarize_cohort(results, sites, n_boot=n_boot, seed=seed)
    settings = _settings(pred_dir, ref_dir, rule, distance_mm, threshold, n_boot, seed)
    sizes = size_table(lesions_df, len(pairs.common))

    out_dir.mkdir(parents=True, exist_ok=True)
    per_case.to_csv(out_dir / "per_case.csv", index=False)
    lesions_df.to_csv(out_dir / "lesions.csv", index=False)
    sizes.to_csv(out_dir / "sizes.csv", index=False)
    if region_files is not None:
        pd.DataFrame([{"region": n, **c.as_dict()} for n, c in region_totals.items()],
                     columns=REGION_COLUMNS).to_csv(out_dir / "regions.csv", index=False)
    _write_summaries(out_dir, summary, sizes, settings, pairs)
    if html:
        write_html(out_dir / "validation.html", per_case, summary, settings, pairs.only_pred, pairs.only_ref)
    return EvaluationOutput(results, per_case, lesions_df, summary, pairs.only_pred, pairs.only_ref)
