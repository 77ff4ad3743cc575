"""A whole review on the phantom: decisions, queue, undo/redo, added and deleted CMBs, all persisted per decision."""
from __future__ import annotations

import json

import numpy as np
import pytest
from review_helpers import fresh_case, phantom

from CMBQuantLib.core.records import FLAG_ADDED, read_records_csv
from CMBQuantLib.core.scene import headless_context
from CMBQuantLib.core.segments import export_label_array, load_segmentation, read_records
from CMBQuantLib.review.replay import effective_records
from CMBQuantLib.review.session import ReviewSession

CONF = ((1, 0.55), (2, 0.95), (3, 0.7), (4, 0.8), (5, 0.6), (6, 0.9), (7, 0.75), (8, 0.65), (9, 0.85))


def clock_from(start: int = 0):
    t = iter(range(start, 10_000))
    return lambda: f"2026-01-01T00:00:{next(t):02d}Z"


def log_lines(case):
    return [json.loads(x) for x in (case / "review.jsonl").read_text().splitlines()]


def test_queue_is_by_confidence_descending_and_resume_starts_at_first(tmp_path):
    case = fresh_case(tmp_path, confidence=CONF)
    s = ReviewSession.open(case, "alice")
    confs = [s.record(i).confidence_mean for i in s.queue]
    assert confs == sorted(confs, reverse=True)
    assert confs[0] == pytest.approx(0.95)
    assert s.current.cmb_id == s.queue[0]
    by_pos = ReviewSession.open(case, "alice", order="position")
    sup = [by_pos.record(i).s for i in by_pos.queue]
    assert sup == sorted(sup)


def test_every_decision_is_logged_and_written_to_tags_csv_and_counts(tmp_path):
    case = fresh_case(tmp_path)
    s = ReviewSession.open(case, "alice", clock=clock_from())
    first, second, third = s.queue[:3]
    s.accept()
    s.reject("vessel", comment="tubular over 3 slices")
    s.possible()
    assert s.current.cmb_id == s.queue[3]  # auto-advance to the next undecided

    lines = log_lines(case)
    assert [(x["cmb_id"], x["action"], x["old_status"], x["new_status"], x["reason"]) for x in lines] == [
        (first, "decide", "pending", "definite", ""),
        (second, "decide", "pending", "rejected", "vessel"),
        (third, "decide", "pending", "possible", ""),
    ]
    assert lines[1]["comment"] == "tubular over 3 slices"
    assert {x["reviewer"] for x in lines} == {"alice"}
    assert [x["time"] for x in lines] == ["2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"]

    csv_status = {r.cmb_id: (r.status, r.reason) for r in read_records_csv(case / "cmbs.csv")}
    assert csv_status[first] == ("definite", "") and csv_status[second] == ("rejected", "vessel")
    assert csv_status[third] == ("possible", "")
    seg = load_segmentation(headless_context(), case / "cmbs.seg.nrrd")
    tag_status = {r.cmb_id: r.status for r in read_records(seg)}
    assert tag_status == {k: v[0] for k, v in csv_status.items()}
    counts = json.loads((case / "counts.json").read_text())["counts"]
    assert counts["total_definite"] == 1 and counts["total_possible"] == 1
    assert counts["n_rejected"] == 1 and counts["n_pending"] == 6 and counts["review_complete"] == 0
    assert counts["unassigned_definite"] == 1  # the phantom case has no region assignment


def test_next_and_previous_skip_decided_ones_and_wrap(tmp_path):
    case = fresh_case(tmp_path)
    s = ReviewSession.open(case, "alice", auto_advance=False)
    q = s.queue
    s.decide("definite", cmb_id=q[1])
    assert s.current.cmb_id == q[1]
    s.goto(q[0])
    assert s.next().cmb_id == q[2]  # q[1] is decided: skipped
    assert s.next(skip_decided=False).cmb_id == q[3]
    assert s.previous(skip_decided=False).cmb_id == q[2]
    assert s.previous().cmb_id == q[0]
    assert s.previous().cmb_id == q[-1]  # wraps around to the last undecided
    s.goto(q[-1])
    assert s.next(skip_decided=False) is None and s.current.cmb_id == q[-1]


def test_undo_and_redo_restore_every_decision_and_are_logged(tmp_path):
    case = fresh_case(tmp_path)
    seen = []
    s = ReviewSession.open(case, "bob", on_change=lambda action, cmb_id: seen.append((action, cmb_id)))
    a, b = s.queue[:2]
    s.accept()
    s.reject("calcification")
    assert s.undo().cmb_id == b and s.record(b).status == "pending" and s.record(b).reason == ""
    assert s.current.cmb_id == b
    assert s.undo().cmb_id == a and s.record(a).status == "pending"
    assert s.undo() is None and not s.can_undo
    assert s.redo().cmb_id == a and s.record(a).status == "definite"
    s.decide("possible", cmb_id=a)  # a new decision clears the redo stack
    assert not s.can_redo and s.redo() is None
    assert seen == [("decide", a), ("decide", b), ("undo", b), ("undo", a), ("redo", a), ("decide", a)]
    actions = [(x["action"], x["cmb_id"], x["new_status"]) for x in log_lines(case)]
    assert actions == [("decide", a, "definite"), ("decide", b, "rejected"), ("undo", b, "pending"),
                       ("undo", a, "pending"), ("redo", a, "definite"), ("decide", a, "possible")]
    assert {r.cmb_id: r.status for r in read_records_csv(case / "cmbs.csv")}[b] == "pending"
    # the history itself survives a reopen: undo goes back to definite
    s2 = ReviewSession.open(case, "bob")
    assert s2.undo().status == "definite"


def test_bad_decisions_are_refused_with_the_allowed_values(tmp_path):
    case = fresh_case(tmp_path)
    s = ReviewSession.open(case, "alice")
    with pytest.raises(ValueError, match="needs a reason"):
        s.reject("")
    with pytest.raises(ValueError, match="status must be one of"):
        s.decide("maybe")
    with pytest.raises(ValueError, match="only given with 'rejected'"):
        s.decide("definite", reason="vessel")
    with pytest.raises(ValueError, match="reviewer name"):
        ReviewSession.open(case, " ")
    assert not (case / "review.jsonl").exists()


def test_added_cmb_near_a_missed_dark_blob_gets_its_true_centroid(tmp_path):
    truth = next(c for c in phantom().cmbs if c.cmb_id == 3)  # 5.5 mm juxtacortical CMB the "detector" missed
    case = fresh_case(tmp_path, drop=(3,))
    s = ReviewSession.open(case, "alice")
    n_before = len(s.records())
    assert n_before == len(phantom().cmbs) - 1
    click = np.array([truth.r, truth.a, truth.s]) + [1.2, -0.9, 0.8]
    rec = s.add_at(click)
    assert rec.cmb_id == n_before + 1 and rec.flags == [FLAG_ADDED] and rec.status == "definite"
    assert np.linalg.norm(rec.ras - [truth.r, truth.a, truth.s]) < 0.6
    assert rec.diameter_eq_mm == pytest.approx(truth.diameter_mm, abs=1.0)
    assert s.current.cmb_id == rec.cmb_id
    assert np.allclose(phantom().geometry.ijk_to_ras_points([rec.i, rec.j, rec.k])[0], rec.ras)
    assert rec.intensity_min < 0.3  # measured on the SWI: a dark blob
    # persisted: log line with voxels, csv row, and a segment whose exported label sits on the true CMB
    add = log_lines(case)[-1]
    assert add["action"] == "add" and add["cmb_id"] == rec.cmb_id and len(add["voxels"]) == rec.n_voxels
    assert rec.cmb_id in {r.cmb_id for r in read_records_csv(case / "cmbs.csv")}
    s2 = ReviewSession.open(case, "alice")
    labels = export_label_array(s2.case.ctx, s2.case.seg_node, s2.case.volume_node)
    truth_mask = phantom().cmb_labels == 3
    overlap = (labels == rec.cmb_id) & truth_mask
    assert 2 * overlap.sum() / ((labels == rec.cmb_id).sum() + truth_mask.sum()) > 0.8


def test_sphere_add_has_the_chosen_diameter_and_status(tmp_path):
    case = fresh_case(tmp_path)
    s = ReviewSession.open(case, "alice")
    rec = s.add_at([0.0, 0.0, 0.0], method="sphere", diameter_mm=6.0, status="possible")
    assert rec.status == "possible" and FLAG_ADDED in rec.flags
    assert np.allclose(rec.ras, [0.0, 0.0, 0.0], atol=0.5)
    assert rec.diameter_eq_mm == pytest.approx(6.0, rel=0.2)
    with pytest.raises(ValueError, match="outside the volume"):
        s.add_at([500.0, 0.0, 0.0], method="sphere")


def test_delete_is_logged_with_voxels_and_undo_restores_the_segment(tmp_path):
    case = fresh_case(tmp_path)
    s = ReviewSession.open(case, "alice")
    victim = s.queue[2]
    n_vox = s.record(victim).n_voxels
    assert s.delete(victim) == victim
    assert victim not in {r.cmb_id for r in s.records()}
    assert victim not in {r.cmb_id for r in read_records_csv(case / "cmbs.csv")}
    line = log_lines(case)[-1]
    assert line["action"] == "delete" and len(line["voxels"]) == n_vox
    s.undo()
    assert s.record(victim).n_voxels == n_vox
    labels = export_label_array(s.case.ctx, s.case.seg_node, s.case.volume_node)
    assert int((labels == victim).sum()) == n_vox
    # an id freed by a delete is never reused by an add
    s.delete(victim)
    last = max(r.cmb_id for r in s.records())
    assert s.add_at([0.0, 0.0, 0.0], method="sphere").cmb_id == last + 1
    s.delete(last + 1)
    assert s.add_at([0.0, 0.0, 0.0], method="sphere").cmb_id == last + 2  # a deleted id is never reused
    assert victim not in {r.cmb_id for r in effective_records(case)}
