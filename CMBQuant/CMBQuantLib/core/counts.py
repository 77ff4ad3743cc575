"""Per-case MARS counts by region x status, in exactly the cohort-table column names of docs/case-folder.md.

The one counts writer (``write_counts``): the pipeline, the review session, region updates and exports all call it,
so ``counts.json`` and ``counts.csv`` can never disagree with each other or with ``cmbs.csv``.

Only reviewed CMBs (definite / possible) are counted by region; pending and rejected are counted apart
(``n_pending``, ``n_rejected``) so an unfinished review can never inflate a region count.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from CMBQuantLib.core.atomic import atomic_write_json, atomic_write_text
from CMBQuantLib.core.case_folder import COUNTS_CSV, COUNTS_JSON
from CMBQuantLib.core.records import STATUSES, CMBRecord

COUNT_REGIONS = ("total", "lobar", "frontal", "parietal", "temporal", "occipital", "insula", "deep",
                 "infratentorial", "cerebellar", "brainstem", "unassigned")
COUNTED_STATUSES = ("definite", "possible")
SIDE_KEYS = ("L", "R", "M", "")
_SUB_COLUMN = {"frontal": "frontal", "parietal": "parietal", "temporal": "temporal", "occipital": "occipital",
               "insula": "insula", "cerebellum": "cerebellar", "brainstem": "brainstem"}


def count_columns() -> list[str]:
    """``<region>_<status>`` columns, then ``n_pending``, ``n_rejected`` (cohort table order)."""
    return [f"{r}_{s}" for r in COUNT_REGIONS for s in COUNTED_STATUSES] + ["n_pending", "n_rejected"]


def count_keys(rec: CMBRecord) -> list[str]:
    """The count rows one CMB adds to: total, its MARS region and, where one applies, its lobe/infratentorial part.

    A CMB without a region (never assigned) counts as unassigned: a count never silently loses a CMB.
    """
    region = rec.region if rec.region in ("lobar", "deep", "infratentorial") else "unassigned"
    keys = ["total", region]
    sub = _SUB_COLUMN.get(rec.lobe)
    if sub and region in ("lobar", "infratentorial"):
        keys.append(sub)
    return keys


def count_case(records: list[CMBRecord]) -> dict[str, int]:
    """One cohort row's counts (without case_id and the review columns)."""
    out = dict.fromkeys(count_columns(), 0)
    for rec in records:
        if rec.status not in STATUSES:
            raise ValueError(f"CMB {rec.cmb_id}: unknown status '{rec.status}' (one of {STATUSES})")
        if rec.status in ("pending", "rejected"):
            out[f"n_{rec.status}"] += 1
            continue
        for key in count_keys(rec):
            out[f"{key}_{rec.status}"] += 1
    return out


def counts_by_side(records: list[CMBRecord]) -> dict[str, dict[str, int]]:
    """The same counts per hemisphere: ``L``, ``R``, ``M`` (midline: brainstem, corpus callosum), '' (no side)."""
    return {side: count_case([r for r in records if r.side == side]) for side in SIDE_KEYS}


def _base_document(records: list[CMBRecord], region_source: str = "") -> dict:
    """Cohort-named counts, the per-side split, lobar CMBs of unknown lobe."""
    reviewed = [r for r in records if r.status in COUNTED_STATUSES]
    unknown_lobe = {s: sum(1 for r in reviewed if r.region == "lobar" and not r.lobe and r.status == s)
                    for s in COUNTED_STATUSES}
    return {
        "counts": count_case(records),
        "by_side": counts_by_side(records),
        "lobar_unknown_lobe": unknown_lobe,
        "region_source": region_source or ";".join(sorted({r.region_source for r in records if r.region_source})),
        "n_cmbs": len(records),
    }


COUNT_COLUMNS = count_columns() + ["review_complete"]


def case_counts(records: Iterable[CMBRecord]) -> dict[str, int]:
    """Counts for one case, keyed exactly by the cohort count columns (``COUNT_COLUMNS``).

    The region counting itself is ``regions.counts.count_case`` (one rule everywhere); ``review_complete`` is 1
    when no CMB is pending (a case with no candidates counts as complete).
    """
    counts = count_case(list(records))
    counts["review_complete"] = int(counts["n_pending"] == 0)
    return counts


def counts_document(records: list[CMBRecord], region_source: str = "") -> dict[str, Any]:
    """``counts.json``: cohort-named counts, per side, and a region x status table including pending and rejected."""
    doc = _base_document(records, region_source)
    doc["counts"] = case_counts(records)
    by_region: dict[str, dict[str, int]] = {}
    for rec in records:
        status = rec.status or "pending"
        for region in count_keys(rec):
            by_region.setdefault(region, {}).setdefault(status, 0)
            by_region[region][status] += 1
    doc["by_region_status"] = by_region
    return doc


def one_row_csv(row: dict[str, Any], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerow({c: row.get(c, "") for c in columns})
    return buf.getvalue()


def write_counts(folder: str | Path, records: list[CMBRecord], case_id: str,
                 region_source: str = "") -> tuple[Path, Path]:
    """``counts.json`` and the one-row ``counts.csv`` (``case_id`` + count columns) of a case, atomically."""
    folder = Path(folder)
    doc = counts_document(records, region_source)
    j = atomic_write_json(folder / COUNTS_JSON, doc)
    c = atomic_write_text(folder / COUNTS_CSV, one_row_csv({"case_id": case_id, **doc["counts"]},
                                                           ["case_id"] + COUNT_COLUMNS))
    return j, c

