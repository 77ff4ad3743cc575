"""The append-only decision log ``review.jsonl``: its vocabulary, reading it, and repairing a torn last line.

The log is the source of truth of a review (the segment tags and CSV are rebuilt from it), so reading it is strict:
only the last line may be incomplete (a crash while writing it), and that one is set aside, never guessed at.
Pure: no scene, so merge, the cohort table and the worklist read it too.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from CMBQuantLib.core.atomic import append_line_durable, atomic_write_text
from CMBQuantLib.core.case_folder import REVIEW_LOG, CaseFolderError
from CMBQuantLib.core.records import FILTER_REASON, STATUSES

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
        entry = _parse(path, n, line, last=n == len(lines))
        if entry is None:  # the torn last line
            msg = (f"{path}: last line {n} is incomplete (the program stopped while writing it); that one "
                   "decision was not saved and is ignored" + (" (moved to review.jsonl.torn)" if repair else "")
                   + ". Check the last CMB you decided before the crash.")
            warns.append(msg)
            warnings.warn(msg, ReviewLogWarning, stacklevel=2)
            if repair:
                _set_aside_torn_tail(path, raw, line)
            break
        entries.append(entry)
    else:
        if lines and not complete_end and repair:  # a parsable last line missing its newline: finish it
            append_line_durable(path, "")
    return entries, warns


def _parse(path: Path, n: int, line: bytes, last: bool) -> dict[str, Any] | None:
    """One log line as a dict; None for an unparsable last line (torn), an error for any other bad line."""
    try:
        entry = json.loads(line.decode("utf-8"))
        if not isinstance(entry, dict) or "action" not in entry:
            raise ValueError("not a decision object")
    except (ValueError, UnicodeDecodeError) as exc:
        if last:
            return None
        raise CaseFolderError(f"{path}: line {n} is corrupt ({exc}). Fix or delete that line in a text editor "
                              "(each line is one decision), then reopen the case.") from None
    if int(entry.get("v", 1)) > LOG_VERSION:
        raise CaseFolderError(f"{path}: line {n} was written by a newer CMBQuant (log version {entry['v']}). "
                              "Update CMBQuant to open this case.")
    return entry


def _set_aside_torn_tail(path: Path, raw: bytes, torn: bytes) -> None:
    keep = raw[: len(raw) - len(torn)] if raw.endswith(torn) else raw[: raw.rfind(torn)]
    append_line_durable(path.with_name(path.name + ".torn"), torn.decode("utf-8", "replace"))
    atomic_write_text(path, keep.decode("utf-8"))


def log_reviewers(folder: str | Path) -> list[str]:
    """Everyone who wrote to the case's log, sorted (the cohort table lists them)."""
    entries, _ = read_log(folder)
    return sorted({e.get("reviewer", "") for e in entries if e.get("reviewer")})


def append_entry(path: Path, entry: dict[str, Any]) -> None:
    """Append one decision line, flushed and fsynced: after this returns the decision survives a crash."""
    append_line_durable(path, json.dumps(entry, separators=(",", ":")))


def check_decision(status: str, reason: str) -> tuple[str, str]:
    """A reader's (status, reason), validated: ``rejected`` needs a reader's reason, other statuses none."""
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
