"""Headless batch: inputs found in folders and BIDS, resumable runs, shards that partition, merge to a cohort."""
from __future__ import annotations

import argparse
import csv
import os

import numpy as np
import pytest
from review_helpers import (
    SMALL_GEOMETRY,
    DarkThresholdSegmenter,
    OracleGroundTruthSegmenter,
    phantom,
    small_swi,
    write_small_cases,
)

from CMBQuantLib.commands.subcommands import SUBCOMMANDS
from CMBQuantLib.core.case_folder import CaseFolderError, read_case_json, write_case_json
from CMBQuantLib.export.cohort import COHORT_COLUMNS
from CMBQuantLib.pipeline.batch import discover_inputs, incomplete_cases, merge, parse_shard, run_batch, shard
from CMBQuantLib.pipeline.process_case import BatchInput
from CMBQuantLib.review.session import ReviewSession
from CMBQuantLib.volumes.images import write_image

NAMES = ["s01.nii.gz", "s02.nii.gz", "s03.nrrd", "s04.nii.gz", "s05.nii.gz"]


def read_cohort(path):
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        return reader.fieldnames, list(reader)


def test_plain_folder_and_bids_inputs_are_found_with_stable_case_ids(tmp_path):
    write_small_cases(tmp_path / "plain", NAMES)
    (tmp_path / "plain" / "notes.txt").write_text("ignored")
    assert [(x.case_id, x.path.name) for x in discover_inputs(tmp_path / "plain")] == [
        ("s01", "s01.nii.gz"), ("s02", "s02.nii.gz"), ("s03", "s03.nrrd"), ("s04", "s04.nii.gz"),
        ("s05", "s05.nii.gz")]
    bids = tmp_path / "bids"
    img, _ = small_swi(0)
    write_image(img, SMALL_GEOMETRY, bids / "sub-01" / "anat" / "sub-01_swi.nii.gz")
    write_image(img, SMALL_GEOMETRY, bids / "sub-01" / "anat" / "sub-01_T1w.nii.gz")
    write_image(img, SMALL_GEOMETRY, bids / "sub-02" / "ses-1" / "anat" / "sub-02_ses-1_acq-SWI_run-1_magnitude.nii.gz")
    write_image(img, SMALL_GEOMETRY, bids / "sub-02" / "ses-2" / "anat" / "sub-02_ses-2_swi.nii.gz")
    (bids / "dataset_description.json").write_text('{"Name": "t", "BIDSVersion": "1.8.0"}')
    assert [x.case_id for x in discover_inputs(bids)] == ["sub-01", "sub-02_ses-1_acq-SWI_run-1_magnitude",
                                                          "sub-02_ses-2"]
    write_image(img, SMALL_GEOMETRY, tmp_path / "plain" / "s01.nrrd")
    with pytest.raises(CaseFolderError, match=r"case ids \['s01'\] occur more than once"):
        discover_inputs(tmp_path / "plain")


def test_shards_partition_the_sorted_cases():
    inputs = [BatchInput(f"c{n:02d}", None) for n in (7, 3, 11, 1, 5, 9, 2)]
    parts = [shard(inputs, i, 3) for i in (1, 2, 3)]
    ids = [[x.case_id for x in p] for p in parts]
    assert ids == [["c01", "c05", "c11"], ["c02", "c07"], ["c03", "c09"]]
    assert sorted(i for part in ids for i in part) == sorted(x.case_id for x in inputs)
    assert shard(list(reversed(inputs)), 2, 3) == parts[1]  # input order does not matter
    assert parse_shard("2/4") == (2, 4)
    for bad in ("0/4", "5/4", "2", "a/b"):
        with pytest.raises(ValueError, match="I/N with 1 <= I <= N"):
            parse_shard(bad)


def test_second_run_skips_finished_cases_and_redoes_changed_or_unfinished_ones(tmp_path):
    write_small_cases(tmp_path / "in", NAMES)
    seg = DarkThresholdSegmenter()
    first = run_batch(tmp_path / "in", tmp_path / "out", seg)
    assert first.done == ["s01", "s02", "s03", "s04", "s05"] and not first.failed and seg.calls == 5
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").glob("*/*") if p.is_file()}
    again = run_batch(tmp_path / "in", tmp_path / "out", seg)
    assert again.skipped == first.done and again.done == [] and seg.calls == 5
    assert all(p.stat().st_mtime_ns == t for p, t in mtimes.items())

    img, _ = small_swi(42, n_blobs=3)  # s02's input changes; s04 was left unfinished by a crash
    write_image(img, SMALL_GEOMETRY, tmp_path / "in" / "s02.nii.gz")
    info = read_case_json(tmp_path / "out" / "s04")
    info.status = "processing"
    write_case_json(tmp_path / "out" / "s04", info)
    third = run_batch(tmp_path / "in", tmp_path / "out", seg)
    assert third.done == ["s02", "s04"] and seg.calls == 7
    assert read_case_json(tmp_path / "out" / "s04").status == "complete"


def test_a_reviewed_case_whose_input_changed_is_not_overwritten_and_bad_inputs_do_not_stop_the_batch(tmp_path):
    write_small_cases(tmp_path / "in", NAMES[:3])
    seg = DarkThresholdSegmenter()
    run_batch(tmp_path / "in", tmp_path / "out", seg)
    ReviewSession.open(tmp_path / "out" / "s01", "alice").accept()
    img, _ = small_swi(7)
    write_image(img, SMALL_GEOMETRY, tmp_path / "in" / "s01.nii.gz")
    (tmp_path / "in" / "s00.nii.gz").write_bytes(b"\x1f\x8b broken")
    report = run_batch(tmp_path / "in", tmp_path / "out", seg)
    assert set(report.failed) == {"s00", "s01"}
    assert "review decisions" in report.failed["s01"] and "s00.nii.gz" in report.failed["s00"]
    assert report.skipped == ["s02", "s03"]
    assert (tmp_path / "out" / "s01" / "review.jsonl").exists()


def test_sharded_runs_then_merge_build_one_cohort_with_review_state(tmp_path):
    write_small_cases(tmp_path / "in", NAMES)
    segs = [DarkThresholdSegmenter() for _ in range(2)]
    reports = [run_batch(tmp_path / "in", tmp_path / "out", segs[i - 1], (i, 2)) for i in (1, 2)]
    assert reports[0].done == ["s01", "s03", "s05"] and reports[1].done == ["s02", "s04"]
    assert all(r.cohort is None for r in reports) and not (tmp_path / "out" / "cohort.csv").exists()
    s = ReviewSession.open(tmp_path / "out" / "s03", "bea", require_image=False)
    s.accept()
    s.reject("iron")
    path = merge(tmp_path / "out")
    cols, rows = read_cohort(path)
    assert cols == COHORT_COLUMNS and [r["case_id"] for r in rows] == [n.split(".")[0] for n in NAMES]
    blobs = {r["case_id"]: int(r["total_definite"]) + int(r["n_pending"]) + int(r["n_rejected"]) for r in rows}
    assert blobs == {"s01": 1, "s02": 2, "s03": 3, "s04": 1, "s05": 2}  # 1 + n % 3 dark blobs per case
    s03 = next(r for r in rows if r["case_id"] == "s03")
    assert (s03["total_definite"], s03["unassigned_definite"], s03["n_rejected"], s03["n_pending"]) == \
        ("1", "1", "1", "1")
    assert s03["reviewers"] == "bea" and s03["model"] == "dark-threshold-test" and s03["review_complete"] == "0"
    info = read_case_json(tmp_path / "out" / "s05")
    info.status = "processing"
    write_case_json(tmp_path / "out" / "s05", info)
    assert incomplete_cases(tmp_path / "out") == ["s05"]
    assert [r["case_id"] for r in read_cohort(merge(tmp_path / "out"))[1]] == ["s01", "s02", "s03", "s04"]


def test_phantom_batch_with_the_oracle_segmenter_finds_every_cmb_at_its_place(tmp_path):
    p = phantom()
    write_image(p.image, p.geometry, tmp_path / "in" / "ph01_swi.nii.gz")
    oracle = OracleGroundTruthSegmenter(p.cmb_labels)
    report = run_batch(tmp_path / "in", tmp_path / "out", oracle, copy_image=False)
    assert report.done == ["ph01_swi"] and oracle.calls == 1
    s = ReviewSession.open(tmp_path / "out" / "ph01_swi", "alice")
    truth = np.array([[c.r, c.a, c.s] for c in p.cmbs])
    for rec in s.records():
        assert np.linalg.norm(truth - rec.ras, axis=1).min() < 1.0
    assert len(s.records()) == len(p.cmbs) and not (tmp_path / "out" / "ph01_swi" / "image.nii.gz").exists()
    _, rows = read_cohort(report.cohort)
    assert rows[0]["n_pending"] == str(len(p.cmbs)) and rows[0]["model"] == "oracle-ground-truth"


def cli(argv, **inject):
    add, run_fn, _ = SUBCOMMANDS[argv[0]]
    parser = argparse.ArgumentParser(prog=f"cmbquant {argv[0]}")
    add(parser)
    args = parser.parse_args(argv[1:])
    return run_fn(args, **inject) if inject else run_fn(args)


def test_batch_and_merge_commands(tmp_path, capsys):
    write_small_cases(tmp_path / "in", NAMES[:2])
    seg = DarkThresholdSegmenter()
    assert cli(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--shard", "1/2", "--regions", "none"],
               segmenter=seg) == 0
    assert "run `cmbquant merge" in capsys.readouterr().out
    assert cli(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--shard", "2/2", "--regions", "none"],
               segmenter=seg) == 0
    assert cli(["merge", str(tmp_path / "out")]) == 0
    assert [r["case_id"] for r in read_cohort(tmp_path / "out" / "cohort.csv")[1]] == ["s01", "s02"]
    capsys.readouterr()
    assert cli(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "o2"), "--segmenter", "nope.mod:make"]) == 2
    err = capsys.readouterr().err
    assert "--segmenter 'nope.mod:make' cannot be loaded" in err and err.count("\n") == 1
    assert cli(["batch", str(tmp_path / "missing"), "--out", str(tmp_path / "o3")], segmenter=seg) == 2
    assert "not a folder" in capsys.readouterr().err
    assert cli(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "o4"), "--shard", "3/2"], segmenter=seg) == 2
    assert cli(["merge", str(tmp_path / "nowhere")]) == 2
    assert os.listdir(tmp_path / "out")


class NothingFoundSegmenter:
    def segment(self, image, geometry):
        return np.zeros(image.shape, np.uint8)


def test_a_case_without_candidates_is_complete_and_a_reader_can_still_add_one(tmp_path):
    rng = np.random.default_rng(0)
    write_image((0.6 + 0.02 * rng.standard_normal(SMALL_GEOMETRY.shape)).astype(np.float32), SMALL_GEOMETRY,
                tmp_path / "in" / "clean.nii.gz")
    report = run_batch(tmp_path / "in", tmp_path / "out", NothingFoundSegmenter())
    assert report.done == ["clean"]
    _, rows = read_cohort(report.cohort)
    assert (rows[0]["total_definite"], rows[0]["review_complete"], rows[0]["model"]) == ("0", "1",
                                                                                          "NothingFoundSegmenter")
    s = ReviewSession.open(tmp_path / "out" / "clean", "alice")
    assert s.current is None and s.next() is None and s.progress() == (0, 0)
    with pytest.raises(ValueError, match="no CMB selected"):
        s.accept()
    rec = s.add_at([0.0, 0.0, 0.0], method="sphere", diameter_mm=3.0)
    assert rec.cmb_id == 1 and s.progress() == (1, 1)
    _, rows = read_cohort(merge(tmp_path / "out"))
    assert (rows[0]["total_definite"], rows[0]["unassigned_definite"], rows[0]["reviewers"]) == ("1", "1", "alice")
