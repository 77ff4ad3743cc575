"""The shared review controller (no UI) driven by keys on real phantom case folders and a real MRML scene: the
decisions that land in ``review.jsonl`` (status, reason, CMB, undo/redo targets) are exactly what the keys asked
for, the reject step waits for a reason digit, H lists the filter's rejections, and the listeners a UI binds to
hear every change."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from review_helpers import fresh_case, phantom
from test_review_filter_session import FILTERED, P_CMB, make_filtered_case

from CMBQuantLib.review.controller import Outcome, ReviewController
from CMBQuantLib.review.decision_log import REASONS
from CMBQuantLib.review.replay import effective_records
from CMBQuantLib.review.session import ReviewSession


def log(case: Path) -> list[dict]:
    return [json.loads(x) for x in (case / "review.jsonl").read_text().splitlines()]


class Heard:
    """What a UI bound to the controller would have been told."""

    def __init__(self, ctl: ReviewController):
        self.cases: list[str | None] = []
        self.current: list[int | None] = []
        self.records = 0
        ctl.on_case_changed(lambda case: self.cases.append(case.case_id if case is not None else None))
        ctl.on_current_changed(lambda rec: self.current.append(rec.cmb_id if rec is not None else None))
        ctl.on_records_changed(self._records)

    def _records(self) -> None:
        self.records += 1


def test_a_key_sequence_writes_exactly_these_decisions(tmp_path):
    case = make_filtered_case(tmp_path)
    ctl = ReviewController(case, "keyboard-reader")
    heard = Heard(ctl)
    assert ctl.open_case(ctl.cases[0].case_id)
    assert ctl.session.queue == [8, 1, 3, 6, 5, 9, 7]  # p_cmb order; the filter's rejections 2 and 4 hidden
    assert heard.cases == [ctl.case_id] and heard.current == [8]
    try:
        steps = [  # key, CMB current afterwards
            ("A", 1),  # 8 definite, on to the next undecided
            ("X", 1),  # waits for a reason
            ("3", 3),  # reason 3: 1 rejected (iron)
            ("N", 6),  # skip 3
            ("P", 3),  # back to 3
            ("S", 6),  # 3 possible
            ("Ctrl+Z", 3),  # undo: 3 pending, back on it
            ("Ctrl+Y", 3),  # redo: 3 possible again
            ("Ctrl+Shift+Z", 3),  # nothing to redo
            ("Ctrl+Z", 3),  # undo again
            ("X", 3),
            ("Escape", 3),  # the reject is cancelled: nothing written
            ("H", 3),  # list the filter's rejections
        ]
        for key, after in steps:
            out = ctl.press(key)
            assert isinstance(out, Outcome) and out, (key, out)
            assert ctl.current().cmb_id == after, key
            if key == "X":
                assert ctl.snapshot()["awaiting_reason"] and "reason key" in out.message
        assert not ctl.snapshot()["awaiting_reason"]
        assert ctl.snapshot()["show_filtered"] and sorted(r["cmb_id"] for r in ctl.rows()) == sorted(P_CMB)
        assert not ctl.press("1")  # a digit outside the reject step means nothing
        assert ctl.select(FILTERED[0]) and ctl.current().cmb_id == FILTERED[0]
        assert ctl.press("Space") and ctl.current().cmb_id == 3  # next undecided, wrapping past the decided ones
        assert ctl.select(FILTERED[0]) and ctl.press("a")  # restore the filter's rejection by accepting it
        assert ctl.press("Shift+Space") and ctl.current().cmb_id == 7  # previous undecided, wrapping backwards

        entries = log(case)
        assert [(e["action"], e["cmb_id"], e["new_status"], e["reason"]) for e in entries] == [
            ("decide", 8, "definite", ""),
            ("decide", 1, "rejected", REASONS[2]),
            ("decide", 3, "possible", ""),
            ("undo", 3, "pending", ""),
            ("redo", 3, "possible", ""),
            ("undo", 3, "pending", ""),
            ("decide", FILTERED[0], "definite", ""),
        ]
        assert REASONS[2] == "iron"
        assert [e.get("target_seq") for e in entries] == [None, None, None, 3, 3, 3, None]
        assert [e["seq"] for e in entries] == list(range(1, 8))
        assert {e["reviewer"] for e in entries} == {"keyboard-reader"}
        assert (entries[-1]["old_status"], entries[-1]["old_reason"], entries[-1]["decided_by"],
                entries[-1]["old_decided_by"]) == ("rejected", "filter", "", "cmbquant")

        final = {r.cmb_id: (r.status, r.reason) for r in effective_records(case)}
        assert final == {8: ("definite", ""), 1: ("rejected", "iron"), FILTERED[0]: ("definite", ""),
                         FILTERED[1]: ("rejected", "filter"), **{i: ("pending", "") for i in (3, 5, 6, 7, 9)}}
        snap = ctl.snapshot()
        assert (snap["decided"], snap["total"], snap["progress"]) == (4, 9, "4/9 decided")
        assert snap["can_undo"] and not snap["can_redo"]
        assert heard.records == 10  # open, A, 3, S, undo, redo, redo (none left), undo, H, A
    finally:
        ctl.close_case()
    assert heard.cases[-1] is None and ctl.session is None


def test_h_hides_again_and_the_toggle_and_order_survive_reopening(tmp_path):
    case = make_filtered_case(tmp_path)
    ctl = ReviewController(case, "reader")
    ctl.open_case(ctl.cases[0].case_id)
    try:
        assert ctl.filtered_hint() == "2 filter-rejected candidate(s) hidden (H shows them)."
        ctl.press("H")
        ctl.select(FILTERED[1])
        ctl.press("H")  # hiding the one on screen moves on to an undecided CMB
        assert ctl.current().cmb_id == 8 and FILTERED[1] not in {r["cmb_id"] for r in ctl.rows()}
        ctl.press("H")
        ctl.set_order("position")
        with pytest.raises(ValueError, match="order must be one of"):
            ctl.set_order("size")
        ctl.open_case(ctl.case_id)
        assert ctl.session.show_filtered and ctl.session.order == "position"
        assert ctl.snapshot()["order"] == "position"
        assert not (case / "review.jsonl").exists()  # showing, hiding and ordering decide nothing
    finally:
        ctl.close_case()


def test_add_missed_flow_and_its_undo(tmp_path):
    truth = next(c for c in phantom().cmbs if c.cmb_id == 3)  # the CMB the "detector" missed
    case = fresh_case(tmp_path, drop=(3,))
    ctl = ReviewController(case, "adder")
    heard = Heard(ctl)
    ctl.open_case(ctl.cases[0].case_id)
    new_id = len(ctl.session.records()) + 1  # the next free id
    try:
        ctl.arm_add()
        assert ctl.snapshot()["add_armed"]
        assert ctl.press("Escape") and not ctl.add_armed  # Escape leaves the add flow too
        ctl.arm_add()
        out = ctl.add_at([truth.r, truth.a, truth.s])
        assert out and out.action == "add" and out.message.startswith(f"Added CMB {new_id} ")
        assert not ctl.add_armed and ctl.current().cmb_id == new_id and heard.current[-1] == new_id
        rec = ctl.session.record(new_id)
        assert rec.status == "definite" and "added_by_reader" in rec.flags
        assert np.linalg.norm(rec.ras - np.array([truth.r, truth.a, truth.s])) < 2.0
        assert not ctl.add_at([500.0, 0.0, 0.0], method="sphere")  # outside the volume: a message, no CMB
        assert "Could not add a CMB there" in ctl.message and "outside the volume" in ctl.message
        assert ctl.press("Ctrl+Z") and new_id not in {r["cmb_id"] for r in ctl.rows()}
        assert [(e["action"], e["cmb_id"], e["new_status"]) for e in log(case)] == [
            ("add", new_id, "definite"), ("undo", new_id, "")]
    finally:
        ctl.close_case()


def test_no_reviewer_no_decisions_and_a_change_on_disk_is_reloaded_first(tmp_path):
    case = fresh_case(tmp_path)
    ctl = ReviewController(case)
    assert not ctl.open_case(ctl.cases[0].case_id) and "reviewer" in ctl.message
    assert not ctl.press("A") and not (case / "review.jsonl").exists()
    ctl.set_reviewer("late-reader")  # the waiting case opens under the name
    try:
        assert ctl.session is not None and ctl.snapshot()["reviewer"] == "late-reader"
        first = ctl.current().cmb_id
        other = ReviewSession.open(case, "slicer-reader")  # another program decides meanwhile
        other.decide("rejected", reason="vessel", cmb_id=first)
        out = ctl.press("A")
        assert out.action == "reload" and "changed on disk" in out.message  # nothing decided on the stale state
        assert ctl.session.record(first).status == "rejected" and ctl.current().cmb_id == first
        assert ctl.press("A") and ctl.session.record(first).status == "definite"
        assert [(e["reviewer"], e["new_status"]) for e in log(case)] == [("slicer-reader", "rejected"),
                                                                          ("late-reader", "definite")]
        labels = [c["label"] for c in ctl.snapshot()["cases"]]
        assert labels == [f"{ctl.case_id}  1/9"]
        assert not ctl.open_case("nope") and "no case 'nope'" in ctl.message
    finally:
        ctl.close_case()
