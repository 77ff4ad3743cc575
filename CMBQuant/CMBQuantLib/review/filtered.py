"""The review queue under the two-stage detector: which CMBs the reader is asked about, in which order, and how a
reader's decision takes a candidate away from the CMB filter.

The CMB filter writes every candidate below its threshold into the case folder as ``rejected``, reason ``filter``,
``decided_by`` ``cmbquant``. Those are decided already, so the queue hides them unless the reader asks to see them
(``show_filtered``); they are never deleted, because the reader must be able to restore a real CMB the filter missed,
and model evaluation needs them. Any decision by the reader (accept, possible, reject with a reader's reason) makes
the reader its owner: ``decided_by`` becomes ``""``, logged in ``review.jsonl`` so replay and undo give it back.

Pure: no scene, no Qt, so the Slicer widget, the web app and the command line share one rule.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from CMBQuantLib.core.records import FILTER_REASON, FLAG_OUTSIDE_BRAIN, CMBRecord

READER_DECIDER = ""
ORDERS = ("confidence", "position")


def is_filtered(rec: CMBRecord) -> bool:
    """True for a candidate the CMB filter rejected and no reader has decided on since (hidden by default).

    The status and reason say it; ``decided_by`` is not required, so a case whose tags lost it still hides the
    filter's rejections rather than flooding the reader with them.
    """
    return rec.status == "rejected" and rec.reason == FILTER_REASON


def visible_records(records: Iterable[CMBRecord], show_filtered: bool = False,
                    hide_rejected: bool = False) -> list[CMBRecord]:
    """The records a reader's queue and table list: filter-rejected ones only with ``show_filtered`` (asking for
    them wins over ``hide_rejected``), the reader's own rejections unless ``hide_rejected`` (a table option)."""
    return [r for r in records
            if (show_filtered if is_filtered(r) else not (hide_rejected and r.status == "rejected"))]


def n_filtered(records: Iterable[CMBRecord]) -> int:
    """How many filter-rejected candidates a case holds (what a hidden-rows hint tells the reader)."""
    return sum(is_filtered(r) for r in records)


class Queue(Protocol):
    """What ``set_show_filtered`` needs of a review session (``ReviewSession`` is one; this module needs no session
    import, so the session can import these rules)."""

    show_filtered: bool

    @property
    def current(self) -> CMBRecord | None: ...

    @property
    def queue(self) -> list[int]: ...

    def next(self, skip_decided: bool | None = None) -> CMBRecord | None: ...

    def goto(self, cmb_id: int) -> CMBRecord: ...


def set_show_filtered(session: Queue, show: bool) -> CMBRecord | None:
    """Show or hide the filter's rejections in ``session``'s queue; returns the current CMB afterwards.

    Hiding them while one is on screen moves to the first undecided CMB (else the first listed one), so the reader
    never decides on a CMB the table no longer lists without seeing it change.
    """
    session.show_filtered = bool(show)
    cur = session.current
    if session.show_filtered or cur is None or not is_filtered(cur):
        return cur
    if session.next(skip_decided=True) is None and session.queue:
        session.goto(session.queue[0])
    return session.current


def confidence_key(rec: CMBRecord) -> tuple:
    """Sort key of the ``confidence`` order: the CMB filter's ``p_cmb`` (highest first) where it ran, because it
    is the detector's final word; then candidates without one by mean (else max) segmenter probability; then those
    with neither (e.g. added by the reader) by id. The two probabilities are never mixed on one scale. A candidate
    the domain rules flagged ``outside_brain`` comes after all others whatever its probability: without a CMB filter
    a confident segmenter hit in the air outside the head was otherwise the first thing a reader was shown."""
    conf = rec.confidence_mean if rec.confidence_mean is not None else rec.confidence_max
    return (FLAG_OUTSIDE_BRAIN in rec.flags, rec.p_cmb is None, -(rec.p_cmb or 0.0), conf is None, -(conf or 0.0),
            rec.cmb_id)


def position_key(rec: CMBRecord) -> tuple:
    """Inferior to superior, then posterior to anterior, then right to left: the order of scrolling up."""
    return (round(rec.s, 3), round(rec.a, 3), round(rec.r, 3), rec.cmb_id)


def queue_order(records: Iterable[CMBRecord], order: str) -> list[int]:
    """CMB ids in review order: ``confidence`` (see ``confidence_key``) or ``position`` (see ``position_key``)."""
    keys = {"confidence": confidence_key, "position": position_key}
    if order not in keys:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    return [r.cmb_id for r in sorted(records, key=keys[order])]


def reader_status_effect(rec: CMBRecord, status: str, reason: str) -> dict[str, Any]:
    """The ``review.jsonl`` effect of a reader's decision on ``rec``: status and reason, and the decider, so that a
    restored filter rejection replays as the reader's and its undo gives the filter's decision back."""
    return {"effect": "status", "old_status": rec.status, "new_status": status, "reason": reason,
            "old_reason": rec.reason, "decided_by": READER_DECIDER, "old_decided_by": rec.decided_by}


def inverse_status_effect(entry: dict[str, Any]) -> dict[str, Any]:
    """The status effect that undoes ``entry`` (old status, reason and decider back). Logs written before the
    decider was logged hold no ``decided_by``: those were all the reader's, hence the ``""`` default."""
    return {"effect": "status", "old_status": entry["new_status"], "new_status": entry["old_status"],
            "reason": entry.get("old_reason", ""), "old_reason": entry.get("reason", ""),
            "decided_by": entry.get("old_decided_by", READER_DECIDER),
            "old_decided_by": entry.get("decided_by", READER_DECIDER)}
