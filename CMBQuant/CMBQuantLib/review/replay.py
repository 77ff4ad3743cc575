"""Replay: the review state (records, added masks, comments, undo/redo history) rebuilt from ``review.jsonl``.

Each log line carries its own effect (status / add / delete), so replay needs no knowledge of how a line was made;
undo and redo are lines of their own that move entries between the two history stacks. Applying an effect twice
changes nothing, so the log can be replayed over files that already hold some of it. Pure: no scene.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from CMBQuantLib.core.case_folder import CaseFolderError, read_cmbs_csv
from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.review.decision_log import read_log
from CMBQuantLib.review.filtered import inverse_status_effect

HISTORY_ACTIONS = ("decide", "add", "delete")  # the actions undo can take back (undo/redo themselves cannot)


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
        known = state.records.get(cmb_id)
        if known is not None and known.region and not rec.region:  # regions assigned after the add (cmbquant
            rec.region, rec.lobe, rec.side, rec.region_source = (  # regions) live in the files, not in the log
                known.region, known.lobe, known.side, known.region_source)
        state.records[cmb_id] = rec
        state.voxels[cmb_id] = np.asarray(entry.get("voxels", []), int).reshape(-1, 3)
    elif effect == "delete":
        state.records.pop(cmb_id, None)
        if entry.get("voxels"):
            state.voxels[cmb_id] = np.asarray(entry["voxels"], int).reshape(-1, 3)
    else:
        raise CaseFolderError(f"review.jsonl: unknown effect {effect!r} at seq {entry.get('seq')}; "
                              "update CMBQuant or remove that line.")


def record_history(state: ReplayState, entry: dict[str, Any]) -> None:
    """Put a line (whose effect is applied) into the history: a new action clears redo, undo/redo move the target."""
    state.last_seq = max(state.last_seq, int(entry.get("seq", 0)))
    action = entry["action"]
    if action in HISTORY_ACTIONS:
        state.undo.append(entry)
        state.redo.clear()
    elif action == "undo":
        _move(state.undo, state.redo, entry.get("target_seq"))
    elif action == "redo":
        _move(state.redo, state.undo, entry.get("target_seq"))


def _move(src: list[dict[str, Any]], dst: list[dict[str, Any]], seq: Any) -> None:
    for idx in range(len(src) - 1, -1, -1):
        if src[idx].get("seq") == seq:
            dst.append(src.pop(idx))
            return


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
    """The effect that redoes ``entry`` (its own effect again)."""
    keys = ("effect", "old_status", "new_status", "reason", "old_reason", "decided_by", "old_decided_by", "record",
            "voxels")
    return {k: entry[k] for k in keys if k in entry}


def replay(records: list[CMBRecord], entries: list[dict[str, Any]]) -> ReplayState:
    """Rebuild the review state from starting records and the log (statuses, adds, deletes, undo/redo stacks)."""
    state = ReplayState({r.cmb_id: CMBRecord.from_row(r.to_row()) for r in records})
    state.max_id = max(state.records, default=0)
    for entry in entries:
        apply_effect(state, entry)
        record_history(state, entry)
    return state


def effective_records(folder: str | Path) -> list[CMBRecord]:
    """The case's CMB records as the reader left them: ``cmbs.csv`` with ``review.jsonl`` replayed (no scene)."""
    entries, _ = read_log(folder)
    state = replay(read_cmbs_csv(folder), entries)
    return sorted(state.records.values(), key=lambda r: r.cmb_id)
