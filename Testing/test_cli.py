"""The command line reaches every capability and writes documented, machine-readable outputs."""
import json
import subprocess
import sys

import pytest

from CMBQuantLib.commands.cli import SUBCOMMANDS, main
from CMBQuantLib.core.records import read_records_csv
from CMBQuantLib.core.scene import headless_context
from CMBQuantLib.core.segments import load_segmentation, read_records
from CMBQuantLib.phantoms.phantom import read_cmb_table


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_each_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([name, "--help"])
    assert exit_.value.code == 0
    assert "usage: cmbquant " + name in capsys.readouterr().out


def test_phantom_command_writes_image_labels_and_table(tmp_path, capsys):
    assert main(["phantom", "--out", str(tmp_path), "--seed", "5", "--n-cmbs", "4", "--case-id", "p5"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_cmbs"] == 4
    table = read_cmb_table(tmp_path / "p5_cmbs.csv")
    assert len(table) == 4 and (tmp_path / "p5_swi.nii.gz").exists() and (tmp_path / "p5_cmb.nii.gz").exists()


def _summary(out: str) -> dict:
    """The demo's JSON summary (libraries may print a line before it)."""
    return json.loads(out[out.index("{\n"):out.index("\nNext:")])


def test_demo_with_phantom_truth_gives_every_cmb_a_segment_and_a_region(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--seed", "1", "--detector", "truth"]) == 0
    summary = _summary(capsys.readouterr().out)
    case = tmp_path / "demo_case"
    records = read_records_csv(case / "cmbs.csv")
    segs = read_records(load_segmentation(headless_context(), case / "cmbs.seg.nrrd"))
    assert len(records) == len(segs) == summary["true_cmbs"] == summary["found"] == 8
    assert summary["false_positives"] == 0 and summary["missed"] == 0
    assert [r.cmb_id for r in records] == [s.cmb_id for s in segs]
    assert all(r.region in ("lobar", "deep", "infratentorial") for r in records)
    assert (case / "overview.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_demo_runs_the_shipped_model_into_a_reviewable_case(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--seed", "0"]) == 0
    summary = _summary(capsys.readouterr().out)
    assert summary["detector"] == "CMBQuantDemo" and summary["true_cmbs"] == 8
    assert summary["cmb_filter"] == "CMBQuantDemoFilter" and summary["anatomy"] in ("mni-aparc+aseg", "builtin")
    assert summary["found"] + summary["missed"] == 8 and summary["found"] >= 4  # measured 5 (see MODEL_CARD.md)
    records = read_records_csv(tmp_path / "demo_case" / "cmbs.csv")
    shown = [r for r in records if r.status == "pending"]
    assert len(shown) == summary["n_candidates_for_review"] == summary["found"] + summary["false_positives"]
    assert all(r.p_cmb is not None for r in records)
    assert all(r.reason == "filter" for r in records if r.status == "rejected")


def test_bad_input_is_one_clear_line_and_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "CMBQuantLib.commands.cli", "phantom", "--out", str(tmp_path),
                           "--label-map", str(tmp_path / "missing.nii.gz")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "missing.nii.gz" in proc.stderr and "Traceback" not in proc.stderr
