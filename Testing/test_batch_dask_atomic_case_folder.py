"""A case folder appears whole or not at all (written beside it, renamed into place), a rewrite keeps the reader's
files, what a killed writer left is recovered; without Dask the batch command runs the cases in this process."""
from __future__ import annotations

import argparse
import shutil

import pytest
from dask_batch_helpers import DarkSphereOracle, write_phantom_cases

from CMBQuantLib.commands import batch_command
from CMBQuantLib.core.case_folder import read_case_json
from CMBQuantLib.export.cohort import case_folders
from CMBQuantLib.pipeline.case_staging import recover_case_folder
from CMBQuantLib.pipeline.process_case import BatchInput, process_case
from CMBQuantLib.review.session import ReviewSession


class FailsMidCase(DarkSphereOracle):
    def segment(self, image, geometry):
        raise RuntimeError("GPU fell off the bus")


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def case_input(tmp_path):
    write_phantom_cases(tmp_path / "in", 2)
    return BatchInput("ph02", tmp_path / "in" / "ph02.nii.gz")


def test_a_case_failing_mid_way_leaves_no_folder_and_an_earlier_folder_as_it_was(tmp_path, case_input):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="fell off"):
        process_case(case_input, out, FailsMidCase())
    assert list(out.iterdir()) == []
    folder = process_case(case_input, out, DarkSphereOracle())
    ReviewSession.open(folder, "alice").accept()
    before = snapshot(folder)
    with pytest.raises(RuntimeError, match="fell off"):
        process_case(case_input, out, FailsMidCase())
    assert snapshot(folder) == before and [p.name for p in out.iterdir()] == ["ph02"]


def test_rewriting_a_case_keeps_the_files_the_pipeline_does_not_write(tmp_path, case_input):
    out = tmp_path / "out"
    folder = process_case(case_input, out, DarkSphereOracle())
    ReviewSession.open(folder, "alice").accept()
    (folder / "notes.txt").write_text("check slice 12")
    log = (folder / "review.jsonl").read_bytes()
    first = read_case_json(folder).updated
    assert process_case(case_input, out, DarkSphereOracle()) == folder
    assert (folder / "review.jsonl").read_bytes() == log and (folder / "notes.txt").read_text() == "check slice 12"
    info = read_case_json(folder)
    assert info.status == "complete" and info.updated >= first and info.detection["n_candidates"] == 3
    assert [p.name for p in out.iterdir()] == ["ph02"]


def test_what_a_killed_writer_left_is_recovered(tmp_path, case_input):
    out = tmp_path / "out"
    folder = process_case(case_input, out, DarkSphereOracle())
    whole = snapshot(folder)
    (out / ".ph02.partial-dead").mkdir()
    (out / ".ph02.partial-dead" / "case.json").write_text("{}")
    folder.rename(out / ".ph02.replaced-cut")  # killed between the two renames of a swap
    recover_case_folder(folder)
    assert [p.name for p in out.iterdir()] == ["ph02"] and snapshot(folder) == whole
    shutil.copytree(folder, out / ".ph02.replaced-done")  # killed after the swap, before removing the old one
    recover_case_folder(folder)
    assert [p.name for p in out.iterdir()] == ["ph02"] and snapshot(folder) == whole


def test_a_staging_folder_is_never_listed_as_a_case(tmp_path, case_input):
    out = tmp_path / "out"
    process_case(case_input, out, DarkSphereOracle())
    shutil.copytree(out / "ph02", out / ".ph03.partial-killed")  # a whole-looking partial of a killed serial run
    assert [p.name for p in case_folders(out)] == ["ph02"]


def batch(argv, capsys):
    parser = argparse.ArgumentParser()
    batch_command.add_batch_arguments(parser)
    rc = batch_command.run_batch_command(parser.parse_args(argv))
    return rc, capsys.readouterr()


def test_without_dask_the_batch_runs_in_this_process_and_refuses_a_scheduler(tmp_path, capsys, monkeypatch):
    write_phantom_cases(tmp_path / "in", 2)
    common = [str(tmp_path / "in"), "--segmenter", "dask_batch_helpers:create_oracle", "--regions", "none"]
    monkeypatch.setattr(batch_command, "_dask_available", lambda: False)
    rc, out = batch(common + ["--out", str(tmp_path / "a"), "--scheduler", "tcp://127.0.0.1:1"], capsys)
    assert rc == 2 and "--scheduler needs Dask" in out.err and not (tmp_path / "a").exists()
    rc, out = batch(common + ["--out", str(tmp_path / "a")], capsys)
    assert rc == 0 and "Dask is not installed" in out.err and "done 2, skipped (finished) 0, failed 0" in out.out
    monkeypatch.undo()
    rc, out = batch(common + ["--out", str(tmp_path / "b"), "--workers", "0"], capsys)
    assert rc == 0 and "Dask" not in out.out + out.err and "cohort:" in out.out
    rc, out = batch(common + ["--out", str(tmp_path / "b")], capsys)  # nothing left to do: no cluster starts
    assert rc == 0 and "done 0, skipped (finished) 2" in out.out and "Dask:" not in out.out
