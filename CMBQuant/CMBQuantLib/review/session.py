"""A reader's review of one case: a queue of CMBs, a decision per CMB, undo/redo, added and deleted CMBs.

Every decision is persisted the moment it is made: first one JSON line appended and fsynced to ``review.jsonl``
(the source of truth, ``decision_log``), then the segment tags, ``cmbs.seg.nrrd``, ``cmbs.csv`` and ``counts``
rewritten atomically (``scene_sync``). A crash between the two steps loses nothing: reopening replays the log
(``replay``) over whatever the files hold, and the log wins. Undo and redo are logged as decisions of their own, so
the log alone rebuilds the state and its history.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from CMBQuantLib.core.case_folder import REVIEW_LOG, CaseFolderError, utc_now
from CMBQuantLib.core.records import FLAG_ADDED, CMBRecord
from CMBQuantLib.core.scene import SceneContext
from CMBQuantLib.core.segments import read_records
from CMBQuantLib.review.added_region import AddedCMBRegions
from CMBQuantLib.review.decision_log import (
    ADDED_DEFAULT_STATUS,
    LOG_VERSION,
    append_entry,
    check_decision,
    read_log,
)
from CMBQuantLib.review.filtered import queue_order, reader_status_effect, visible_records
from CMBQuantLib.review.marking import click_mask, mask_record
from CMBQuantLib.review.replay import apply_effect, forward_effect, inverse_effect, record_history, replay
from CMBQuantLib.review.scene_sync import SceneSync
from CMBQuantLib.volumes.case_open import OpenCase, open_case

class ReviewSession:
    """One reader reviewing one case. Methods return the record they acted on; the UI only renders."""

    def __init__(self, case: OpenCase, reviewer: str, order: str = "confidence", skip_decided: bool = True,
                 auto_advance: bool = True, clock: Callable[[], str] = utc_now, show_filtered: bool = False,
                 annotate: Callable[[CMBRecord], CMBRecord] | None = None,
                 on_change: Callable[[str, int], None] | None = None):
        if not reviewer or not reviewer.strip():
            raise ValueError("a reviewer name is required: every decision records who made it")
        self.case = case
        self.reviewer = reviewer.strip()
        self.order = order
        self.skip_decided = skip_decided
        self.auto_advance = auto_advance
        self.show_filtered = show_filtered  # list the CMB filter's rejections in the queue (hidden by default)
        self.clock = clock
        # fills region/lobe/side of a CMB the reader adds; default: by the path the case's own CMBs took
        self.annotate = annotate if annotate is not None else AddedCMBRegions.for_case(case)
        self.on_change = on_change  # (action, cmb_id) after each saved change: the UI refreshes from here
        self.log_path = case.folder / REVIEW_LOG
        entries, self.warnings = read_log(case.folder, repair=True)
        self._log_size = self._current_log_size()
        self._scene = SceneSync(case)
        tag_records = read_records(case.seg_node)
        self._state = replay(tag_records, entries)
        self.warnings += self._state.warnings
        self._sync({r.cmb_id: r.to_row() for r in tag_records})
        self._current: int | None = None
        self._current = self._first_pending() or (self.queue[0] if self.queue else None)

    @classmethod
    def open(cls, folder: str | Path, reviewer: str, ctx: SceneContext | None = None, require_image: bool = True,
             **kwargs: Any) -> ReviewSession:
        """Open a case folder into a scene and resume its review at the first undecided CMB."""
        return cls(open_case(folder, ctx, require_image=require_image), reviewer, **kwargs)

    # -- state ---------------------------------------------------------------------------------------------
    def records(self) -> list[CMBRecord]:
        return sorted(self._state.records.values(), key=lambda r: r.cmb_id)

    def record(self, cmb_id: int) -> CMBRecord:
        try:
            return self._state.records[cmb_id]
        except KeyError:
            raise KeyError(f"no CMB {cmb_id} in case {self.case.case_id}") from None

    def comment(self, cmb_id: int) -> str:
        return self._state.comments.get(cmb_id, "")

    @property
    def queue(self) -> list[int]:
        return queue_order(visible_records(self._state.records.values(), self.show_filtered), self.order)

    @property
    def current(self) -> CMBRecord | None:
        return self._state.records.get(self._current) if self._current is not None else None

    @property
    def can_undo(self) -> bool:
        return bool(self._state.undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._state.redo)

    def progress(self) -> tuple[int, int]:
        """(decided, total) CMBs."""
        recs = self._state.records.values()
        return sum(r.status != "pending" for r in recs), len(self._state.records)

    # -- navigation ----------------------------------------------------------------------------------------
    def _first_pending(self) -> int | None:
        return next((i for i in self.queue if self._state.records[i].status == "pending"), None)

    def goto(self, cmb_id: int) -> CMBRecord:
        rec = self.record(cmb_id)
        self._current = cmb_id
        return rec

    def next(self, skip_decided: bool | None = None) -> CMBRecord | None:
        """Move to the next CMB in the queue (the next pending one, wrapping around, when skipping decided ones).
        Returns None and stays put when there is none."""
        return self._step(+1, self.skip_decided if skip_decided is None else skip_decided)

    def previous(self, skip_decided: bool | None = None) -> CMBRecord | None:
        return self._step(-1, self.skip_decided if skip_decided is None else skip_decided)

    def _step(self, direction: int, skip: bool) -> CMBRecord | None:
        queue = self.queue
        if not queue:
            return None
        pos = queue.index(self._current) if self._current in queue else (-1 if direction > 0 else len(queue))
        if skip:
            n = len(queue)
            for off in range(1, n + 1):
                cand = queue[(pos + direction * off) % n]
                if self._state.records[cand].status == "pending" and cand != self._current:
                    self._current = cand
                    return self.current
            return None
        new = pos + direction
        if 0 <= new < len(queue):
            self._current = queue[new]
            return self.current
        return None

    # -- decisions -----------------------------------------------------------------------------------------
    def decide(self, status: str, reason: str = "", comment: str = "", cmb_id: int | None = None,
               advance: bool | None = None) -> CMBRecord:
        """Set a CMB's status (the current one by default); ``rejected`` needs a reason (``decision_log.REASONS``)."""
        status, reason = check_decision(status, reason)
        target = self._current if cmb_id is None else cmb_id
        if target is None:
            raise ValueError(f"case {self.case.case_id}: no CMB selected (the case has no CMBs)")
        rec = self.record(target)
        self._commit("decide", target, reader_status_effect(rec, status, reason), comment)
        self._current = target
        if self.auto_advance if advance is None else advance:
            self.next(skip_decided=True)
        return self._state.records[target]

    def accept(self, comment: str = "") -> CMBRecord:
        return self.decide("definite", comment=comment)

    def possible(self, comment: str = "") -> CMBRecord:
        return self.decide("possible", comment=comment)

    def reject(self, reason: str, comment: str = "") -> CMBRecord:
        return self.decide("rejected", reason=reason, comment=comment)

    def undo(self) -> CMBRecord | int | None:
        """Undo the last decision/add/delete (logged); returns the affected record (or the deleted id), None if
        there is nothing to undo."""
        if not self._state.undo:
            return None
        target = self._state.undo[-1]
        return self._commit("undo", int(target["cmb_id"]), inverse_effect(target), "", target_seq=target["seq"])

    def redo(self) -> CMBRecord | int | None:
        if not self._state.redo:
            return None
        target = self._state.redo[-1]
        return self._commit("redo", int(target["cmb_id"]), forward_effect(target), "", target_seq=target["seq"])

    def add_at(self, ras: Any, method: str = "grow", diameter_mm: float = 3.0, search_radius_mm: float = 3.0,
               max_diameter_mm: float = 10.0, status: str = ADDED_DEFAULT_STATUS, comment: str = "") -> CMBRecord:
        """Add a CMB the detector missed, from one click at ``ras`` (mm): ``grow`` the dark blob under the click or
        place a ``sphere`` of ``diameter_mm``. It gets the next free id, flag ``added_by_reader`` and ``status``."""
        status, _ = check_decision(status, "other" if status == "rejected" else "")
        if method == "grow" and self.case.image is None:
            raise ValueError(f"case {self.case.case_id}: growing needs the SWI image; use method='sphere'")
        mask = click_mask(self.case.image, self.case.geometry, ras, method, diameter_mm, search_radius_mm,
                          max_diameter_mm)
        cmb_id = self._state.max_id + 1
        rec = mask_record(mask, self.case.geometry, self.case.image)
        rec.cmb_id, rec.flags, rec.source = cmb_id, [FLAG_ADDED], "reader"
        if self.annotate is not None:
            rec = self.annotate(rec)
        rec.status = status
        self._commit("add", cmb_id, {"effect": "add", "old_status": "", "new_status": status, "reason": "",
                                     "record": rec.to_row(), "voxels": np.argwhere(mask).tolist()}, comment)
        self._current = cmb_id
        return self._state.records[cmb_id]

    def delete(self, cmb_id: int | None = None, comment: str = "") -> int:
        """Remove a CMB's segment entirely (logged with its voxels, so undo restores it). Prefer ``reject`` for a
        detector false positive: a rejection keeps the evidence for model evaluation."""
        target = self._current if cmb_id is None else cmb_id
        rec = self.record(target)
        voxels = self._scene.segment_voxels(target)
        self._current = target
        self.next(skip_decided=False) or self.previous(skip_decided=False)
        self._commit("delete", target, {"effect": "delete", "old_status": rec.status, "new_status": "",
                                        "reason": "", "old_reason": rec.reason, "record": rec.to_row(),
                                        "voxels": voxels.tolist()}, comment)
        if self._current == target:
            self._current = self._first_pending() or (self.queue[0] if self.queue else None)
        return target

    # -- persistence ---------------------------------------------------------------------------------------
    def _commit(self, action: str, cmb_id: int, effect: dict[str, Any], comment: str,
                target_seq: int | None = None) -> CMBRecord | int:
        entry: dict[str, Any] = {"v": LOG_VERSION, "seq": self._state.last_seq + 1, "time": self.clock(),
                                 "reviewer": self.reviewer, "cmb_id": int(cmb_id), "action": action,
                                 "old_status": "", "new_status": "", "reason": "", "comment": comment}
        entry.update(effect)
        if target_seq is not None:
            entry["target_seq"] = target_seq
        if self._current_log_size() != self._log_size:
            raise CaseFolderError(f"{self.log_path}: changed by another session (Slicer, web or command line) since "
                                  "this case was opened here, so this decision was not written over theirs. Reopen the "
                                  "case (in the review, the next key does) and decide again; no decision was lost.")
        append_entry(self.log_path, entry)  # 1. the log: truth
        self._log_size = self._current_log_size()
        before = {r.cmb_id: r.to_row() for r in self._state.records.values()}  # copies: effects mutate records
        apply_effect(self._state, entry)  # 2. memory, scene, files
        record_history(self._state, entry)
        self._sync(before)
        if action in ("undo", "redo") and cmb_id in self._state.records:
            self._current = cmb_id
        if self.on_change is not None:
            self.on_change(action, int(cmb_id))
        return self._state.records.get(cmb_id, cmb_id)

    def _sync(self, old: dict[int, dict[str, str]]) -> None:
        """Step 2: the scene to the state, then the files (``save``) when anything changed."""
        if self._scene.sync(self._state, old):
            self.save()

    def _current_log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def set_regions(self, assigned: list[CMBRecord]) -> None:
        """Take region, lobe, side and source from ``assigned`` (by cmb_id) into the case: tags, CSV, counts."""
        self._scene.set_regions(self._state.records.values(), assigned)

    def save(self) -> None:
        """Rewrite ``cmbs.seg.nrrd``, ``cmbs.csv`` and the counts atomically from the current state."""
        self._scene.save(self._state.records.values())

