"""What a review UI shows, as plain data and text: the CMB table's rows, case labels, the messages after an action.

One wording and one table for Slicer and the web, so a reader switching between them reads the same thing.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from CMBQuantLib.core.records import FLAG_ADDED, CMBRecord
from CMBQuantLib.core.segments import STATUS_COLOURS
from CMBQuantLib.review.filtered import is_filtered, visible_records
from CMBQuantLib.review.keymap import CANCEL_KEY, REJECT_REASON_KEYS
from CMBQuantLib.review.worklist import CaseEntry


def table_rows(records: Iterable[CMBRecord], show_filtered: bool, hide_rejected: bool = False) -> list[dict[str, Any]]:
    """One dict per listed CMB: id, status, reason, region, lobe, diameter (mm, 0.1), confidence and p_cmb (0.01,
    "" when absent), ``score`` (p_cmb where the CMB filter ran, else the confidence: what the queue is ordered by),
    ``flags`` (comma-separated), the status colour (RGB 0-1), and whether the reader added it / the filter rejected
    it."""
    return [{"cmb_id": r.cmb_id, "status": r.status, "reason": r.reason, "region": r.region or "-",
             "score": score(r), "flags": ", ".join(r.flags),
             "lobe": r.lobe, "diameter": round(r.diameter_eq_mm, 1),
             "confidence": "" if r.confidence_mean is None else round(r.confidence_mean, 2),
             "p_cmb": "" if r.p_cmb is None else round(r.p_cmb, 2),
             "colour": tuple(STATUS_COLOURS.get(r.status, STATUS_COLOURS["pending"])),
             "added": FLAG_ADDED in r.flags, "filtered": is_filtered(r)}
            for r in visible_records(records, show_filtered, hide_rejected)]


def score(rec: CMBRecord) -> float | str:
    """The one number the table shows per CMB: the filter's p_cmb when present, else the mean (or max) segmenter
    confidence, 0.01; "" with neither (a CMB the reader added)."""
    value = rec.p_cmb if rec.p_cmb is not None else (
        rec.confidence_mean if rec.confidence_mean is not None else rec.confidence_max)
    return "" if value is None else round(value, 2)


def case_label(entry: CaseEntry, session: Any | None = None) -> str:
    """A worklist line; the open case (``session``) shows its live progress, the others what their files say."""
    if session is not None:
        decided, total = session.progress()
        return f"{entry.case_id}  {decided}/{total}"
    return entry.label


def filtered_hint(n_filtered: int, shown: bool) -> str:
    """How many filter-rejected candidates are hidden, or that they are listed ("" when the case has none)."""
    if not n_filtered:
        return ""
    if shown:
        return f"{n_filtered} filter-rejected candidate(s) listed (H hides them); any decision restores one."
    return f"{n_filtered} filter-rejected candidate(s) hidden (H shows them)."


def reject_prompt() -> str:
    reasons = ", ".join(f"{k} {r}" for k, r in REJECT_REASON_KEYS.items())
    return f"Reject: press the reason key ({reasons}); {CANCEL_KEY} cancels."


def decision_message(rec: CMBRecord) -> str:
    return f"CMB {rec.cmb_id}: {rec.status}" + (f" ({rec.reason})" if rec.reason else "")


def add_message(rec: CMBRecord, ras: Any) -> str:
    r, a, s = (float(v) for v in list(ras)[:3])
    return f"Added CMB {rec.cmb_id} ({rec.diameter_eq_mm:.1f} mm) at R {r:.1f} A {a:.1f} S {s:.1f}"
