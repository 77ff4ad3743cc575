"""Automated counts (``<region>_auto``): the pipeline's own result before review, recorded by the one counts writer,
unchanged by every reader decision (a deletion included), following region updates, and in the cohort table."""
from __future__ import annotations

import csv
import json

from auto_count_cases import pipeline_case, save_review
from review_helpers import fresh_case

from CMBQuantLib.core.counts import AUTO_COLUMNS, auto_section, pipeline_accepts, write_counts
from CMBQuantLib.core.records import (
    FILTER_REASON,
    FLAG_ADDED,
    FLAG_OUTSIDE_BRAIN,
    FLAG_TOO_BIG,
    FLAG_TUBULAR,
    PIPELINE_DECIDER,
    CMBRecord,
    read_records_csv,
)
from CMBQuantLib.export.cohort import COHORT_COLUMNS, cohort_row, write_cohort
from CMBQuantLib.review.session import ReviewSession


def rec(i, region="deep", lobe="thalamus", status="pending", **kw):
    return CMBRecord(cmb_id=i, status=status, region=region, lobe=lobe, **kw)


def auto_json(folder):
    return json.loads((folder / "counts.json").read_text())["auto"]


def test_the_pipeline_accepts_what_its_filter_keeps_and_nothing_flagged():
    assert pipeline_accepts(rec(1, p_cmb=0.9, source="nnunet"))
    assert pipeline_accepts(rec(2))  # one-stage (no filter): every unflagged candidate
    assert not pipeline_accepts(rec(3, status="rejected", reason=FILTER_REASON, decided_by=PIPELINE_DECIDER))
    for flag in (FLAG_TUBULAR, FLAG_OUTSIDE_BRAIN, FLAG_TOO_BIG):
        assert not pipeline_accepts(rec(4, flags=[flag]))
    assert not pipeline_accepts(rec(5, flags=[FLAG_ADDED], source="reader"))
    assert pipeline_accepts(rec(6, status="rejected", reason="vessel"))  # a reader's rejection: still the model's


def test_first_write_records_the_pipelines_counts_by_region(tmp_path):
    records = [rec(1, "lobar", "frontal"), rec(2, "lobar", "frontal"), rec(3, "deep"),
               rec(4, "infratentorial", "cerebellum"), rec(5, "", ""),
               rec(6, status="rejected", reason=FILTER_REASON, decided_by=PIPELINE_DECIDER),
               rec(7, "lobar", "temporal", flags=[FLAG_TUBULAR])]
    folder = pipeline_case(tmp_path, "c1", records)
    auto = auto_json(folder)
    assert auto["inferred"] is False
    assert {k: v for k, v in auto["counts"].items() if v} == {
        "total_auto": 5, "lobar_auto": 2, "frontal_auto": 2, "deep_auto": 1, "infratentorial_auto": 1,
        "cerebellar_auto": 1, "unassigned_auto": 1}
    assert auto["cmbs"]["1"] == ["total", "lobar", "frontal"] and set(auto["cmbs"]) == {"1", "2", "3", "4", "5"}
    with open(folder / "counts.csv", newline="") as fh:
        row = next(csv.DictReader(fh))
    assert list(row)[-len(AUTO_COLUMNS):] == AUTO_COLUMNS and row["total_auto"] == "5" and row["total_definite"] == "0"


def test_reader_decisions_and_deletions_keep_them_region_updates_move_them(tmp_path):
    folder = pipeline_case(tmp_path, "c1", [rec(1, "lobar", "frontal"), rec(2, "deep"), rec(3, "deep")])
    reviewed = [rec(1, "lobar", "frontal", status="rejected", reason="vessel"), rec(2, "deep", status="definite"),
                rec(9, "deep", status="definite", flags=[FLAG_ADDED], source="reader")]  # 3 deleted, 9 added
    save_review(folder, reviewed)
    auto = auto_json(folder)["counts"]
    assert (auto["total_auto"], auto["lobar_auto"], auto["frontal_auto"], auto["deep_auto"]) == (3, 1, 1, 2)
    moved = [rec(1, "lobar", "parietal", status="rejected", reason="vessel"), reviewed[1], reviewed[2]]
    write_counts(folder, moved, "c1")  # regions re-assigned: a CMB still there follows, the deleted one keeps its own
    auto = auto_json(folder)["counts"]
    assert (auto["total_auto"], auto["frontal_auto"], auto["parietal_auto"], auto["deep_auto"]) == (3, 0, 1, 2)
    counts = json.loads((folder / "counts.json").read_text())["counts"]
    assert counts["total_definite"] == 2 and counts["n_rejected"] == 1


def test_old_case_folder_infers_them_from_its_records(tmp_path):
    records = [rec(1, status="definite"), rec(2, "lobar", "insula", status="rejected", reason="iron"),
               rec(3, status="rejected", reason=FILTER_REASON, decided_by=PIPELINE_DECIDER),
               rec(4, status="possible", flags=[FLAG_ADDED], source="reader")]
    section = auto_section(records, None)
    assert section["inferred"] is True  # reader decisions were there before the first automated record
    c = section["counts"]
    assert (c["total_auto"], c["insula_auto"], c["deep_auto"]) == (2, 1, 1)
    folder = pipeline_case(tmp_path, "old", records)
    doc = json.loads((folder / "counts.json").read_text())
    del doc["auto"]  # a counts.json from before automated counts
    (folder / "counts.json").write_text(json.dumps(doc))
    row = cohort_row(folder)
    assert row["total_auto"] == 2 and row["total_definite"] == 1 and row["total_possible"] == 1


def test_a_real_review_on_the_phantom_never_changes_them(tmp_path):
    case = fresh_case(tmp_path)
    before = auto_json(case)
    accepted = [r.cmb_id for r in read_records_csv(case / "cmbs.csv") if pipeline_accepts(r)]
    assert before["inferred"] is False and before["counts"]["total_auto"] == len(accepted) > 3
    s = ReviewSession.open(case, "alice")
    first, second, third = s.queue[:3]
    s.decide("rejected", reason="vessel", cmb_id=first)
    s.decide("definite", cmb_id=second)
    s.delete(third)
    s.add_at([0.0, 0.0, 0.0], method="sphere", diameter_mm=4.0, status="definite")
    assert auto_json(case) == before
    row = cohort_row(case)
    assert {c: row[c] for c in AUTO_COLUMNS} == before["counts"]
    assert row["total_definite"] == 2 and row["n_rejected"] == 1 and row["reviewers"] == "alice"
    cohort = write_cohort([case], tmp_path / "cohort.csv")
    with open(cohort, newline="") as fh:
        (line,) = list(csv.DictReader(fh))
    assert list(line) == COHORT_COLUMNS and int(line["total_auto"]) == len(accepted)
