"""Per-case MARS counts by region x status, in exactly the cohort-table column names of docs/case-folder.md.

Only reviewed CMBs (definite / possible) are counted by region; pending and rejected are counted apart
(``n_pending``, ``n_rejected``) so an unfinished review can never inflate a region count.
"""
from __future__ import annotations

from pathlib import Path

from ..candidates import STATUSES, CMBRecord

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


def counts_document(records: list[CMBRecord], region_source: str = "") -> dict:
    """What ``counts.json`` holds: cohort-named counts, the per-side split, lobar CMBs of unknown lobe."""
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


def write_counts_json(records: list[CMBRecord], path: str | Path, region_source: str = "") -> Path:
    """Write ``counts.json`` atomically."""
    from ..atomic import atomic_write_json

    return atomic_write_json(Path(path), counts_document(records, region_source))
