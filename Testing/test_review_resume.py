"""Crash safety: a reviewer's process killed mid-review (no shutdown, no save) loses no decision; a torn last log
line is set aside with a clear warning; the log wins over stale tags and tables."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from review_helpers import fresh_case

from CMBQuantLib.core.case_folder import CaseFolderError
from CMBQuantLib.core.records import read_records_csv
from CMBQuantLib.review.decision_log import ReviewLogWarning
from CMBQuantLib.review.replay import effective_records
from CMBQuantLib.review.session import ReviewSession

LIB = str(Path(__file__).resolve().parents[1] / "CMBQuant")

CHILD = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {lib!r})
    from CMBQuantLib.review.session import ReviewSession
    s = ReviewSession.open({case!r}, "carol")
    s.accept()
    s.reject("iron")
    print(s.current.cmb_id, flush=True)
    # the third decision reaches the log, then the process dies before tags/cmbs.csv are rewritten
    ReviewSession.save = lambda self: os.kill(os.getpid(), signal.SIGKILL)
    s.possible()
""")


def test_killed_review_process_resumes_with_nothing_lost(tmp_path):
    case = fresh_case(tmp_path)
    queue = ReviewSession.open(case, "carol").queue
    proc = subprocess.run([sys.executable, "-c", CHILD.format(lib=LIB, case=str(case))], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == -9, proc.stderr  # SIGKILL: no shutdown code ran
    # on disk the table is stale (2 decisions), the log holds 3
    assert [r.status for r in read_records_csv(case / "cmbs.csv") if r.status != "pending"] != []
    stale = {r.cmb_id: r.status for r in read_records_csv(case / "cmbs.csv")}
    assert stale[queue[2]] == "pending"
    assert len((case / "review.jsonl").read_text().splitlines()) == 3

    s = ReviewSession.open(case, "carol")  # a new scene and session from disk
    assert [s.record(i).status for i in queue[:3]] == ["definite", "rejected", "possible"]
    assert s.record(queue[1]).reason == "iron"
    assert s.current.cmb_id == queue[3]  # resumes at the first undecided CMB
    # replay repaired the files
    fixed = {r.cmb_id: r.status for r in read_records_csv(case / "cmbs.csv")}
    assert fixed[queue[2]] == "possible"
    s.accept()
    assert [s.record(i).status for i in queue[:4]] == ["definite", "rejected", "possible", "definite"]
    assert [json.loads(x)["seq"] for x in (case / "review.jsonl").read_text().splitlines()] == [1, 2, 3, 4]


def test_torn_last_line_is_set_aside_with_a_warning_and_the_log_stays_appendable(tmp_path):
    case = fresh_case(tmp_path)
    s = ReviewSession.open(case, "dan")
    a, b = s.queue[:2]
    s.accept()
    with open(case / "review.jsonl", "ab") as fh:  # a crash in the middle of writing the second decision
        fh.write(b'{"v":1,"seq":2,"time":"2026-01-01T00:00:09Z","reviewer":"dan","cmb_id":')
    with pytest.warns(ReviewLogWarning, match=r"review\.jsonl: last line 2 is incomplete"):
        s2 = ReviewSession.open(case, "dan")
    assert any("incomplete" in w for w in s2.warnings)
    assert s2.record(a).status == "definite" and s2.record(b).status == "pending"
    assert s2.current.cmb_id == b
    assert (case / "review.jsonl.torn").read_text().startswith('{"v":1,"seq":2')
    s2.reject("artefact")
    lines = (case / "review.jsonl").read_text().splitlines()
    assert [json.loads(x)["seq"] for x in lines] == [1, 2]  # every line parses again
    assert {r.cmb_id: r.status for r in effective_records(case)}[b] == "rejected"


def test_corrupt_line_inside_the_log_is_a_clear_error_naming_the_line(tmp_path):
    case = fresh_case(tmp_path)
    s = ReviewSession.open(case, "dan")
    s.accept()
    s.accept()
    lines = (case / "review.jsonl").read_text().splitlines()
    (case / "review.jsonl").write_text(lines[0][:-5] + "\n" + lines[1] + "\n")
    with pytest.raises(CaseFolderError, match=r"review\.jsonl: line 1 is corrupt.*Fix or delete that line"):
        ReviewSession.open(case, "dan")


def test_log_wins_over_stale_segment_tags(tmp_path):
    case = fresh_case(tmp_path)
    s = ReviewSession.open(case, "erin")
    target = s.queue[0]
    s.reject("cavernoma")
    seg_bytes = (case / "cmbs.seg.nrrd").read_bytes()
    s.undo()
    s.redo()
    s.decide("possible", cmb_id=target)
    # restore an older segmentation file (stale tags say rejected); the log says possible
    (case / "cmbs.seg.nrrd").write_bytes(seg_bytes)
    s2 = ReviewSession.open(case, "erin")
    assert s2.record(target).status == "possible" and s2.record(target).reason == ""
    assert os.path.getsize(case / "cmbs.csv") > 0


def test_a_second_session_writing_the_same_case_is_detected_before_it_can_clash(tmp_path):
    case = fresh_case(tmp_path)
    slicer_side = ReviewSession.open(case, "ann", auto_advance=False)
    cli_side = ReviewSession.open(case, "ben", auto_advance=False)
    first = slicer_side.queue[0]
    cli_side.decide("rejected", reason="other", cmb_id=first)
    with pytest.raises(CaseFolderError, match=r"review\.jsonl: changed by another session.*Reopen the case"):
        slicer_side.accept()
    reopened = ReviewSession.open(case, "ann")
    assert reopened.record(first).status == "rejected"
    assert len((case / "review.jsonl").read_text().splitlines()) == 1
