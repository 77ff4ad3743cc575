"""Per-case MARS counts by region x status, in exactly the cohort-table column names of docs/case-folder.md.

The one counts writer (``write_counts``): the pipeline, the review session, region updates and exports all call it,
so ``counts.json`` and ``counts.csv`` can never disagree with each other or with ``cmbs.csv``.

Only reviewed CMBs (definite / possible) are counted by region; pending and rejected are counted apart
(``n_pending``, ``n_rejected``) so an unfinished review can never inflate a region count.

The automated counts (``<region>_auto``) are the pipeline's own result before review: the candidates it accepts
(``pipeline_accepts``), by region. The first ``write_counts`` of a case (the pipeline's) stores which CMBs they are in
``counts.json`` ``auto``; every later write (review, region updates) keeps that set, so no reader decision, not even
a deletion, changes them, while a CMB still in the case follows its current region.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from CMBQuantLib.core.atomic import atomic_write_json, atomic_write_text
from CMBQuantLib.core.case_folder import COUNTS_CSV, COUNTS_JSON
from CMBQuantLib.core.records import FILTER_REASON, FLAG_ADDED, PIPELINE_DECIDER, STATUSES, CMBRecord

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
AUTO_COLUMNS = [f"{r}_auto" for r in COUNT_REGIONS]


def pipeline_accepts(rec: CMBRecord) -> bool:
    """The pipeline's verdict on a candidate: kept by the CMB filter (without a filter: every candidate) and carrying
    no flag. Flagged candidates are not counted: the pipeline itself marks them as not CMB-like (``tubular``,
    ``outside_brain``), beyond MARS' 10 mm (``exceeds_cmb_size``), below the run's size or confidence limits, or as
    a reader's addition (``added_by_reader``)."""
    filtered = rec.reason == FILTER_REASON and rec.decided_by == PIPELINE_DECIDER
    return not filtered and not rec.flags and rec.source != "reader"


def _reviewed(rec: CMBRecord) -> bool:
    """A status only a reader sets (the pipeline sets pending, or rejected by the filter)."""
    return rec.status != "pending" and not (rec.reason == FILTER_REASON and rec.decided_by == PIPELINE_DECIDER)


def auto_section(records: list[CMBRecord], stored: dict | None = None) -> dict[str, Any]:
    """``counts.json`` ``auto``: the automatically counted CMBs (id -> count keys), their counts, and ``inferred``.

    With a stored section, its CMBs stay the set: one still in ``records`` takes its current count keys (regions
    may be updated), a deleted one keeps its stored keys. Without one (the pipeline's first write, or a case folder
    from before automated counts), the set is ``pipeline_accepts`` over ``records``; ``inferred`` is true when those
    records already hold reader decisions (an older case: CMBs deleted before, or filter rejections a reader
    restored, cannot be told apart any more).
    """
    present = {r.cmb_id: r for r in records if r.source != "reader" and FLAG_ADDED not in r.flags}
    if stored and isinstance(stored.get("cmbs"), dict):
        members = {int(i): count_keys(present[int(i)]) if int(i) in present else list(keys)
                   for i, keys in stored["cmbs"].items()}
        inferred = bool(stored.get("inferred", False))
    else:
        members = {r.cmb_id: count_keys(r) for r in records if pipeline_accepts(r)}
        inferred = any(_reviewed(r) for r in records)
    counts = dict.fromkeys(AUTO_COLUMNS, 0)
    for keys in members.values():
        for key in keys:
            counts[f"{key}_auto"] += 1
    return {"counts": counts, "cmbs": {str(i): members[i] for i in sorted(members)}, "inferred": inferred}


def read_auto_section(folder: str | Path) -> dict | None:
    """The stored ``auto`` section of a case's ``counts.json`` (None when absent or unreadable: then inferred)."""
    try:
        doc = json.loads((Path(folder) / COUNTS_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    auto = doc.get("auto") if isinstance(doc, dict) else None
    return auto if isinstance(auto, dict) else None


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


def write_counts(folder: str | Path, records: list[CMBRecord], case_id: str, region_source: str = "", *,
                 names: tuple[str, str] = (COUNTS_JSON, COUNTS_CSV),
                 case_folder: str | Path | None = None) -> tuple[Path, Path]:
    """``counts.json`` and the one-row ``counts.csv`` (``case_id`` + count columns + automated counts) of a case,
    atomically; the automated counts' CMB set already stored in the case's ``counts.json`` is kept
    (``auto_section``). An export writes the same files elsewhere: ``names`` in ``folder``, read from
    ``case_folder``."""
    folder = Path(folder)
    doc = counts_document(records, region_source)
    doc["auto"] = auto_section(records, read_auto_section(Path(case_folder) if case_folder else folder))
    j = atomic_write_json(folder / names[0], doc)
    row = {"case_id": case_id, **doc["counts"], **doc["auto"]["counts"]}
    c = atomic_write_text(folder / names[1], one_row_csv(row, ["case_id"] + COUNT_COLUMNS + AUTO_COLUMNS))
    return j, c

