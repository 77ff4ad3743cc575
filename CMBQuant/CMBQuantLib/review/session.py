"""A reader's review of one case: a queue of CMBs, a decision per CMB, undo/redo, added and deleted CMBs.

Every decision is persisted the moment it is made: first one JSON line appended and fsynced to ``review.jsonl``
(the source of truth), then the segment tags, ``cmbs.seg.nrrd``, ``cmbs.csv`` and ``counts`` rewritten atomically.
A crash between the two steps loses nothing: reopening replays the log over whatever the files hold, and the log
wins. Undo and redo are logged as decisions of their own, so the log alone rebuilds the state and its history.
"""
from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from CMBQuantLib.core.atomic import append_line_durable, atomic_write_text
from CMBQuantLib.core.case_folder import REVIEW_LOG, CaseFolderError, read_cmbs_csv, utc_now, write_cmbs_csv
from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.core.records import FLAG_ADDED, STATUSES, CMBRecord
from CMBQuantLib.core.scene import SceneContext
from CMBQuantLib.detection.candidates import component_records
from CMBQuantLib.review.filtered import (
    FILTER_REASON,
    inverse_status_effect,
    queue_order,
    reader_status_effect,
    visible_records,
)
from CMBQuantLib.volumes.case_open import OpenCase, open_case

LOG_VERSION = 1
REASONS = ("vessel", "calcification", "iron", "cavernoma", "haemorrhagic_transformation", "macrohaemorrhage",
           "siderosis", "artefact", "other")
# Reasons set by the pipeline, never by a reader's key: ``filter`` = the CMB filter's p_cmb was below its threshold
# (status rejected, decided_by "cmbquant"); hidden from the queue by default, restorable by any decision.
MACHINE_REASONS = (FILTER_REASON,)
ACTIONS = ("decide", "add", "delete", "undo", "redo")
ADDED_DEFAULT_STATUS = "definite"  # the reader clicked it because they saw a CMB


class ReviewLogWarning(UserWarning):
    """The review log had a torn last line (a crash mid-write); it was set aside, nothing else was lost."""


# ---------------------------------------------------------------------------------------------------------------
# The log: reading, torn-line repair, replay (pure: no scene needed, so merge and the cohort can use it)


def read_log(folder: str | Path, repair: bool = False) -> tuple[list[dict[str, Any]], list[str]]:
    """Entries of ``review.jsonl`` and warnings. A torn (unparsable) LAST line is skipped with a warning and, with
    ``repair``, moved to ``review.jsonl.torn`` so later appends start on a clean line; a bad line elsewhere is an error.
    """
    path = Path(folder) / REVIEW_LOG
    if not path.exists():
        return [], []
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    complete_end = raw.endswith(b"\n")
    if complete_end:
        lines = lines[:-1]
    entries, warns = [], []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line.decode("utf-8"))
            if not isinstance(entry, dict) or "action" not in entry:
                raise ValueError("not a decision object")
        except (ValueError, UnicodeDecodeError) as exc:
            if n == len(lines):
                msg = (f"{path}: last line {n} is incomplete (the program stopped while writing it); that one "
                       "decision was not saved and is ignored" + (" (moved to review.jsonl.torn)" if repair else "")
                       + ". Check the last CMB you decided before the crash.")
                warns.append(msg)
                warnings.warn(msg, ReviewLogWarning, stacklevel=2)
                if repair:
                    _set_aside_torn_tail(path, raw, line)
                break
            raise CaseFolderError(f"{path}: line {n} is corrupt ({exc}). Fix or delete that line in a text editor "
                                  "(each line is one decision), then reopen the case.") from None
        if int(entry.get("v", 1)) > LOG_VERSION:
            raise CaseFolderError(f"{path}: line {n} was written by a newer CMBQuant (log version {entry['v']}). "
                                  "Update CMBQuant to open this case.")
        entries.append(entry)
    else:
        if lines and not complete_end and repair:  # a parsable last line missing its newline: finish it
            append_line_durable(path, "")
    return entries, warns


def _set_aside_torn_tail(path: Path, raw: bytes, torn: bytes) -> None:
    keep = raw[: len(raw) - len(torn)] if raw.endswith(torn) else raw[: raw.rfind(torn)]
    append_line_durable(path.with_name(path.name + ".torn"), torn.decode("utf-8", "replace"))
    atomic_write_text(path, keep.decode("utf-8"))


def log_reviewers(folder: str | Path) -> list[str]:
    entries, _ = read_log(folder)
    return sorted({e.get("reviewer", "") for e in entries if e.get("reviewer")})


@dataclass
class ReplayState:
    """What replaying the log gives: the records, masks of added CMBs, comments, and the undo/redo history."""

    records: dict[int, CMBRecord]
    voxels: dict[int, np.ndarray] = field(default_factory=dict)  # [k, j, i] rows of CMBs the log can (re)create
    comments: dict[int, str] = field(default_factory=dict)
    undo: list[dict[str, Any]] = field(default_factory=list)
    redo: list[dict[str, Any]] = field(default_factory=list)
    last_seq: int = 0
    max_id: int = 0
    warnings: list[str] = field(default_factory=list)


def apply_effect(state: ReplayState, entry: dict[str, Any]) -> None:
    """Apply one log line's effect (status / add / delete) to the state; idempotent, so replay over files that
    already hold it changes nothing."""
    cmb_id = int(entry["cmb_id"])
    effect = entry.get("effect", "status")
    state.max_id = max(state.max_id, cmb_id)
    if effect == "status":
        rec = state.records.get(cmb_id)
        if rec is None:
            state.warnings.append(f"review.jsonl line seq {entry.get('seq')}: CMB {cmb_id} no longer exists; skipped")
            return
        rec.status, rec.reason = entry["new_status"], entry.get("reason", "")
        rec.decided_by = entry.get("decided_by", "")  # logs from before the decider was logged: all the reader's
        if entry.get("comment"):
            state.comments[cmb_id] = entry["comment"]
    elif effect == "add":
        rec = CMBRecord.from_row(entry["record"])
        rec.status, rec.reason = entry["new_status"], entry.get("reason", "")
        state.records[cmb_id] = rec
        state.voxels[cmb_id] = np.asarray(entry.get("voxels", []), int).reshape(-1, 3)
    elif effect == "delete":
        state.records.pop(cmb_id, None)
        if entry.get("voxels"):
            state.voxels[cmb_id] = np.asarray(entry["voxels"], int).reshape(-1, 3)
    else:
        raise CaseFolderError(f"review.jsonl: unknown effect {effect!r} at seq {entry.get('seq')}; "
                              "update CMBQuant or remove that line.")


def inverse_effect(entry: dict[str, Any]) -> dict[str, Any]:
    """The effect that undoes ``entry``: old status back, an add deleted, a delete restored."""
    effect = entry.get("effect", "status")
    if effect == "status":
        return inverse_status_effect(entry)
    if effect == "add":
        return {"effect": "delete", "old_status": entry["new_status"], "new_status": "",
                "record": entry["record"], "voxels": entry.get("voxels", []), "reason": ""}
    return {"effect": "add", "old_status": "", "new_status": entry["old_status"], "reason": entry.get("old_reason", ""),
            "record": entry["record"], "voxels": entry.get("voxels", [])}


def forward_effect(entry: dict[str, Any]) -> dict[str, Any]:
    keys = ("effect", "old_status", "new_status", "reason", "old_reason", "decided_by", "old_decided_by", "record",
            "voxels")
    return {k: entry[k] for k in keys if k in entry}


def replay(records: list[CMBRecord], entries: list[dict[str, Any]]) -> ReplayState:
    """Rebuild the review state from starting records and the log (statuses, adds, deletes, undo/redo stacks)."""
    state = ReplayState({r.cmb_id: CMBRecord.from_row(r.to_row()) for r in records})
    state.max_id = max(state.records, default=0)
    for entry in entries:
        apply_effect(state, entry)
        state.last_seq = max(state.last_seq, int(entry.get("seq", 0)))
        action = entry["action"]
        if action in ("decide", "add", "delete"):
            state.undo.append(entry)
            state.redo.clear()
        elif action == "undo":
            _move(state.undo, state.redo, entry.get("target_seq"))
        elif action == "redo":
            _move(state.redo, state.undo, entry.get("target_seq"))
    return state


def _move(src: list[dict[str, Any]], dst: list[dict[str, Any]], seq: Any) -> None:
    for idx in range(len(src) - 1, -1, -1):
        if src[idx].get("seq") == seq:
            dst.append(src.pop(idx))
            return


def effective_records(folder: str | Path) -> list[CMBRecord]:
    """The case's CMB records as the reader left them: ``cmbs.csv`` with ``review.jsonl`` replayed (no scene)."""
    entries, _ = read_log(folder)
    state = replay(read_cmbs_csv(folder), entries)
    return sorted(state.records.values(), key=lambda r: r.cmb_id)


# ---------------------------------------------------------------------------------------------------------------
# The session


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
        self.annotate = annotate  # e.g. regions: fills region/lobe/side of a CMB the reader adds
        self.on_change = on_change  # (action, cmb_id) after each saved change: the UI refreshes from here
        self.log_path = case.folder / REVIEW_LOG
        entries, self.warnings = read_log(case.folder, repair=True)
        self._log_size = self._current_log_size()
        from CMBQuantLib.core.segments import read_records

        tag_records = read_records(case.seg_node)
        self._state = replay(tag_records, entries)
        self.warnings += self._state.warnings
        self._sync_scene({r.cmb_id: r.to_row() for r in tag_records})
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
        """Set a CMB's status (the current one by default); ``rejected`` needs a reason from ``REASONS``."""
        status, reason = _check_decision(status, reason)
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
        from CMBQuantLib.review.marking import grow_dark_blob, sphere_mask

        status, _ = _check_decision(status, "other" if status == "rejected" else "")
        ras = np.asarray(ras, float).reshape(3)
        if method == "grow":
            if self.case.image is None:
                raise ValueError(f"case {self.case.case_id}: growing needs the SWI image; use method='sphere'")
            mask = grow_dark_blob(self.case.image, self.case.geometry, ras, search_radius_mm, max_diameter_mm)
        elif method == "sphere":
            mask = sphere_mask(self.case.geometry, ras, diameter_mm)
        else:
            raise ValueError(f"method must be 'grow' or 'sphere', got {method!r}")
        cmb_id = self._state.max_id + 1
        rec = _features(mask, self.case.geometry, self.case.image)
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
        from CMBQuantLib.core.segments import segment_id_of

        target = self._current if cmb_id is None else cmb_id
        rec = self.record(target)
        voxels = self._segment_voxels(segment_id_of(self.case.seg_node, target))
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
                                  "this case was opened here. Reopen the case to continue; no decision was lost.")
        append_line_durable(self.log_path, json.dumps(entry, separators=(",", ":")))  # 1. the log: truth
        self._log_size = self._current_log_size()
        before = {r.cmb_id: r.to_row() for r in self._state.records.values()}  # copies: effects mutate records
        apply_effect(self._state, entry)  # 2. memory, scene, files
        self._state.last_seq = entry["seq"]
        if action in ("decide", "add", "delete"):
            self._state.undo.append(entry)
            self._state.redo.clear()
        elif action == "undo":
            _move(self._state.undo, self._state.redo, target_seq)
        else:
            _move(self._state.redo, self._state.undo, target_seq)
        self._sync_scene(before)
        if action in ("undo", "redo") and cmb_id in self._state.records:
            self._current = cmb_id
        if self.on_change is not None:
            self.on_change(action, int(cmb_id))
        return self._state.records.get(cmb_id, cmb_id)

    def _current_log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def _segment_voxels(self, seg_id: str | None) -> np.ndarray:
        import slicer
        import vtk

        if seg_id is None:
            return np.zeros((0, 3), int)
        ids = vtk.vtkStringArray()
        ids.InsertNextValue(seg_id)
        scene = self.case.ctx.scene
        label = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "__CMBQuantVoxels__")
        try:
            if not self.case.ctx.segmentations_logic.ExportSegmentsToLabelmapNode(self.case.seg_node, ids, label,
                                                                                  self.case.volume_node):
                raise RuntimeError(f"Slicer could not export segment {seg_id}")
            return np.argwhere(slicer.util.arrayFromVolume(label) > 0)
        finally:
            scene.RemoveNode(label)

    def _sync_scene(self, old: dict[int, dict[str, str]]) -> None:
        """Make segments, tags and files match the state (``old``: rows the scene holds now); writes files only
        when something changed."""
        from CMBQuantLib.core.segments import add_cmb_segment, remove_cmb_segment, update_record

        seg_ids = set(old)
        changed = False
        for cmb_id in sorted(seg_ids - set(self._state.records)):
            remove_cmb_segment(self.case.seg_node, cmb_id)
            changed = True
        for cmb_id, rec in sorted(self._state.records.items()):
            if cmb_id not in seg_ids:
                vox = self._state.voxels.get(cmb_id)
                if vox is None or not len(vox):
                    raise CaseFolderError(f"{self.log_path}: CMB {cmb_id} was added but its voxels are not in the "
                                          "log; restore cmbs.seg.nrrd from a backup.")
                mask = np.zeros(self.case.geometry.shape, bool)
                mask[vox[:, 0], vox[:, 1], vox[:, 2]] = True
                add_cmb_segment(self.case.seg_node, mask, self.case.volume_node, rec)
                changed = True
            elif old[cmb_id] != rec.to_row():
                update_record(self.case.seg_node, rec)
                changed = True
        csv_stale = self._csv_stale()
        if changed or csv_stale:
            self.save()

    def _csv_stale(self) -> bool:
        try:
            on_disk = {r.cmb_id: r.to_row() for r in read_cmbs_csv(self.case.folder)}
        except CaseFolderError:
            return True
        return on_disk != {i: r.to_row() for i, r in self._state.records.items()}

    def set_regions(self, assigned: list[CMBRecord]) -> None:
        """Take region, lobe, side and source from ``assigned`` (by cmb_id) into the case: tags, CSV, counts.

        Regions are anatomy, not reader decisions, so they live in the segment tags rather than the review log;
        a replay of the log onto the tags keeps them.
        """
        from CMBQuantLib.core.segments import update_record

        by_id = {r.cmb_id: r for r in assigned}
        for rec in self._state.records.values():
            src = by_id.get(rec.cmb_id)
            if src is not None:
                rec.region, rec.lobe, rec.side, rec.region_source = src.region, src.lobe, src.side, src.region_source
                update_record(self.case.seg_node, rec)
        self.save()

    def save(self) -> None:
        """Rewrite ``cmbs.seg.nrrd``, ``cmbs.csv`` and the counts atomically from the current state."""
        from CMBQuantLib.core.case_folder import SEG_FILE
        from CMBQuantLib.core.counts import write_counts
        from CMBQuantLib.core.segments import save_segmentation

        folder = self.case.folder
        save_segmentation(self.case.seg_node, folder / SEG_FILE)
        write_cmbs_csv(folder, self.records())
        write_counts(folder, self.records(), self.case.case_id)


def _features(mask: np.ndarray, geometry: Geometry, image: np.ndarray | None) -> CMBRecord:
    """The record of one mask, measured on its bounding box (a whole-volume pass costs seconds on a 512² SWI)."""
    kji = np.argwhere(mask)
    lo, hi = kji.min(0), kji.max(0) + 1
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    shift = np.eye(4)
    shift[:3, 3] = lo[::-1]  # (i, j, k) offset of the box
    local = Geometry(geometry.ijk_to_ras @ shift, tuple(int(x) for x in hi - lo))
    rec = component_records(mask[box].astype(np.uint32), 1, local, image=None if image is None else image[box])[0]
    rec.i, rec.j, rec.k = rec.i + lo[2], rec.j + lo[1], rec.k + lo[0]
    return rec


def _check_decision(status: str, reason: str) -> tuple[str, str]:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    if status == "rejected":
        if reason in MACHINE_REASONS:
            raise ValueError(f"'{reason}' is set by the CMB filter, not by a reader: reject with one of {REASONS}")
        if reason not in REASONS:
            raise ValueError(f"a rejection needs a reason from {REASONS}, got {reason!r}")
        return status, reason
    if reason:
        raise ValueError(f"a reason is only given with 'rejected' (status {status!r}, reason {reason!r})")
    return status, ""
