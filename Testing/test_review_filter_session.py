"""The CMB filter's rejections in review, on a real phantom case folder and real MRML: hidden from the queue by
default, listed on demand, restored by any reader decision (logged, replayed, undone), counted once restored; and
p_cmb / decided_by / source survive the .seg.nrrd tags and cmbs.csv."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from review_helpers import fresh_case

from CMBQuantLib.core.case_folder import SEG_FILE, write_cmbs_csv
from CMBQuantLib.core.counts import write_counts
from CMBQuantLib.core.records import FILTER_REASON, PIPELINE_DECIDER, CMBRecord, read_records_csv
from CMBQuantLib.core.scene import headless_context
from CMBQuantLib.core.segments import load_segmentation, read_records, save_segmentation, update_record
from CMBQuantLib.export.cohort import case_folders, write_cohort
from CMBQuantLib.review.filtered import (
    is_filtered,
    n_filtered,
    set_show_filtered,
    visible_records,
)
from CMBQuantLib.review.filtered import queue_order
from CMBQuantLib.review.replay import effective_records
from CMBQuantLib.review.session import ReviewSession
from CMBQuantLib.volumes.case_open import open_case

# segmenter confidence (the oracle's) and the CMB filter's p_cmb, deliberately in different orders
CONF = ((1, 0.55), (2, 0.95), (3, 0.7), (4, 0.8), (5, 0.6), (6, 0.9), (7, 0.75), (8, 0.65), (9, 0.85))
P_CMB = {1: 0.9, 2: 0.12, 3: 0.8, 4: 0.05, 5: 0.6, 6: 0.7, 7: 0.3, 8: 0.95, 9: 0.45}
THRESHOLD = 0.25
FILTERED = sorted(i for i, p in P_CMB.items() if p < THRESHOLD)  # [2, 4]
SOURCES = {i: ("nnunet+dark_spot" if i % 3 == 0 else "nnunet") for i in P_CMB}


def make_filtered_case(tmp_path: Path) -> Path:
    """A phantom case folder as the two-stage detector writes it: every candidate with its p_cmb and source, those
    below THRESHOLD rejected with reason ``filter`` by ``cmbquant`` (segment tags, .seg.nrrd, cmbs.csv, counts)."""
    case = fresh_case(tmp_path, confidence=CONF)
    opened = open_case(case, headless_context())
    records = read_records(opened.seg_node)
    assert sorted(r.cmb_id for r in records) == sorted(P_CMB)
    for rec in records:
        rec.p_cmb, rec.source = P_CMB[rec.cmb_id], SOURCES[rec.cmb_id]
        if rec.p_cmb < THRESHOLD:
            rec.status, rec.reason, rec.decided_by = "rejected", FILTER_REASON, PIPELINE_DECIDER
        update_record(opened.seg_node, rec)
    save_segmentation(opened.seg_node, case / SEG_FILE)
    write_cmbs_csv(case, records)
    write_counts(case, records, opened.case_id)
    return case


def counts(case: Path) -> dict[str, int]:
    return json.loads((case / "counts.json").read_text())["counts"]


def csv_rows(case: Path) -> dict[int, dict[str, str]]:
    with open(case / "cmbs.csv", newline="", encoding="utf-8") as fh:
        return {int(r["cmb_id"]): r for r in csv.DictReader(fh)}


def tag_records(case: Path) -> dict[int, object]:
    return {r.cmb_id: r for r in read_records(load_segmentation(headless_context(), case / SEG_FILE))}


def log_lines(case: Path) -> list[dict]:
    return [json.loads(x) for x in (case / "review.jsonl").read_text().splitlines()]


@pytest.fixture()
def case(tmp_path: Path) -> Path:
    return make_filtered_case(tmp_path)


def test_filter_rejections_are_hidden_by_default_and_listed_on_demand(case):
    s = ReviewSession.open(case, "alice")
    assert sorted(set(P_CMB) - set(s.queue)) == FILTERED
    assert s.current.cmb_id not in FILTERED
    assert s.progress() == (2, 9)  # decided by the pipeline: they count as decided, and are still in the case
    assert n_filtered(s.records()) == 2 and [r.cmb_id for r in s.records() if is_filtered(r)] == FILTERED
    for cmb_id in FILTERED:
        rec = s.record(cmb_id)
        assert (rec.status, rec.reason, rec.decided_by) == ("rejected", "filter", "cmbquant")
    shown = ReviewSession.open(case, "alice", show_filtered=True)
    assert sorted(shown.queue) == sorted(P_CMB)
    set_show_filtered(s, True)
    assert sorted(s.queue) == sorted(P_CMB)
    s.goto(FILTERED[0])
    after = set_show_filtered(s, False)  # hiding the one on screen moves on to an undecided CMB
    assert after is s.current and after.status == "pending" and FILTERED[0] not in s.queue
    assert not (case / "review.jsonl").exists()  # showing and hiding decide nothing


def test_queue_orders_by_p_cmb_when_the_filter_ran(case):
    s = ReviewSession.open(case, "alice")
    expected = sorted((i for i in P_CMB if i not in FILTERED), key=lambda i: -P_CMB[i])
    assert s.queue == expected == [8, 1, 3, 6, 5, 9, 7]
    assert s.current.cmb_id == 8  # resume starts at the filter's most likely CMB, not the segmenter's (2)
    unscored = [CMBRecord(100, confidence_mean=0.99), CMBRecord(101, confidence_mean=0.2), CMBRecord(102)]
    mixed = queue_order(unscored + [r for r in s.records() if r.cmb_id not in FILTERED], "confidence")
    assert mixed == expected + [100, 101, 102]  # unscored after scored, by segmenter confidence, then by id


def test_accept_restores_a_filter_rejection_and_counts_follow(case, tmp_path):
    before = counts(case)
    assert before["total_definite"] == 0 and before["n_rejected"] == 2 and before["n_pending"] == 7
    s = ReviewSession.open(case, "alice", clock=lambda: "2026-01-01T00:00:00Z")
    target = FILTERED[0]
    s.goto(target)
    rec = s.accept()
    assert rec.cmb_id == target
    assert (rec.status, rec.reason, rec.decided_by) == ("definite", "", "")
    assert target in s.queue and not is_filtered(rec)
    entry = log_lines(case)[-1]
    assert (entry["action"], entry["old_status"], entry["new_status"], entry["old_reason"], entry["reason"]) == (
        "decide", "rejected", "definite", "filter", "")
    assert (entry["old_decided_by"], entry["decided_by"], entry["reviewer"]) == ("cmbquant", "", "alice")
    after = counts(case)
    assert after["total_definite"] == before["total_definite"] + 1 == 1
    assert after["n_rejected"] == 1 and after["n_pending"] == 7 and after["unassigned_definite"] == 1
    row = csv_rows(case)[target]
    assert (row["status"], row["reason"], row["decided_by"]) == ("definite", "", "")
    tags = tag_records(case)[target]
    assert (tags.status, tags.decided_by, tags.p_cmb) == ("definite", "", pytest.approx(P_CMB[target]))

    cohort = write_cohort(case_folders(case.parent), tmp_path / "cohort.csv")
    with open(cohort, newline="", encoding="utf-8") as fh:
        (crow,) = list(csv.DictReader(fh))
    assert (crow["total_definite"], crow["n_rejected"], crow["reviewers"]) == ("1", "1", "alice")

    reopened = ReviewSession.open(case, "bob")  # replay of review.jsonl keeps it restored
    again = reopened.record(target)
    assert (again.status, again.reason, again.decided_by) == ("definite", "", "")
    assert target in reopened.queue
    eff = {r.cmb_id: r for r in effective_records(case)}
    assert (eff[target].status, eff[target].decided_by) == ("definite", "")


def test_the_log_alone_restores_it_after_a_crash_before_the_files(case):
    """Kill between step 1 (log line) and step 2 (files): the stale files still say 'filter'; replay wins."""
    stale = {name: (case / name).read_bytes() for name in (SEG_FILE, "cmbs.csv", "counts.json", "counts.csv")}
    s = ReviewSession.open(case, "alice")
    s.decide("possible", cmb_id=FILTERED[1])
    for name, data in stale.items():
        (case / name).write_bytes(data)
    assert csv_rows(case)[FILTERED[1]]["reason"] == "filter"
    eff = {r.cmb_id: r for r in effective_records(case)}
    assert (eff[FILTERED[1]].status, eff[FILTERED[1]].decided_by) == ("possible", "")
    reopened = ReviewSession.open(case, "alice")  # rewrites the stale files from the log
    assert reopened.record(FILTERED[1]).status == "possible"
    row = csv_rows(case)[FILTERED[1]]
    assert (row["status"], row["reason"], row["decided_by"]) == ("possible", "", "")
    assert tag_records(case)[FILTERED[1]].decided_by == ""
    assert counts(case)["total_possible"] == 1 and counts(case)["n_rejected"] == 1


def test_undo_gives_the_filter_its_decision_back_and_redo_restores_again(case):
    s = ReviewSession.open(case, "alice")
    target = FILTERED[0]
    s.decide("definite", cmb_id=target)
    undone = s.undo()
    assert (undone.status, undone.reason, undone.decided_by) == ("rejected", "filter", "cmbquant")
    assert target not in s.queue and counts(case)["total_definite"] == 0
    assert tag_records(case)[target].decided_by == "cmbquant"
    reopened = ReviewSession.open(case, "alice")
    rec = reopened.record(target)
    assert (rec.status, rec.reason, rec.decided_by) == ("rejected", "filter", "cmbquant")
    redone = reopened.redo()
    assert (redone.status, redone.decided_by) == ("definite", "") and counts(case)["total_definite"] == 1
    assert [e["action"] for e in log_lines(case)] == ["decide", "undo", "redo"]


def test_a_reader_rejection_takes_it_from_the_filter(case):
    s = ReviewSession.open(case, "alice", show_filtered=True)
    rec = s.decide("rejected", reason="vessel", cmb_id=FILTERED[1])
    assert (rec.status, rec.reason, rec.decided_by) == ("rejected", "vessel", "")
    hidden = ReviewSession.open(case, "alice")  # no longer the filter's: listed even with the default
    assert FILTERED[1] in hidden.queue and FILTERED[0] not in hidden.queue
    assert counts(case)["n_rejected"] == 2 and counts(case)["total_definite"] == 0
    assert visible_records(hidden.records(), hide_rejected=True) == [
        r for r in hidden.records() if r.status != "rejected"]


def test_p_cmb_decided_by_and_source_survive_tags_and_csv(case, tmp_path):
    tags, rows = tag_records(case), {r.cmb_id: r for r in read_records_csv(case / "cmbs.csv")}
    for cmb_id, p in P_CMB.items():
        for rec in (tags[cmb_id], rows[cmb_id]):
            assert rec.p_cmb == pytest.approx(p, rel=1e-6)
            assert rec.source == SOURCES[cmb_id]
            assert rec.decided_by == ("cmbquant" if cmb_id in FILTERED else "")
    with open(case / "cmbs.csv", newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert {"p_cmb", "decided_by", "source"} <= set(header)
    s = ReviewSession.open(case, "alice")  # a reader's decision rewrites tags and CSV: p_cmb must not be lost
    s.decide("possible", cmb_id=8)
    copy = tmp_path / "copy"
    shutil.copytree(case, copy)
    assert tag_records(copy)[8].p_cmb == pytest.approx(0.95) and csv_rows(copy)[8]["p_cmb"] == "0.95"
    added = s.add_at(s.record(8).ras, method="sphere", diameter_mm=3.0)
    assert (added.source, added.p_cmb, added.decided_by) == ("reader", None, "")
    assert csv_rows(case)[added.cmb_id]["source"] == "reader"
