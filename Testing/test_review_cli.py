"""``cmbquant review``: scriptable decisions and listing; user errors are one line and exit 2."""
from __future__ import annotations

import argparse
import json

from review_helpers import fresh_case

from CMBQuantLib.commands.subcommands import SUBCOMMANDS
from CMBQuantLib.review.replay import effective_records


def run(argv):
    add, run_fn, _ = SUBCOMMANDS[argv[0]]
    parser = argparse.ArgumentParser(prog=f"cmbquant {argv[0]}")
    add(parser)
    return run_fn(parser.parse_args(argv[1:]))


def test_review_decide_undo_and_list_from_the_command_line(tmp_path, capsys):
    case = fresh_case(tmp_path)
    assert run(["review", str(case), "--decide", "2", "rejected", "--reason", "vessel", "--reviewer", "fr"]) == 0
    assert "CMB 2: rejected (vessel)" in capsys.readouterr().out
    assert run(["review", str(case), "--decide", "3", "definite", "--reviewer", "fr", "--comment", "clear"]) == 0
    assert run(["review", str(case), "--undo", "--reviewer", "fr"]) == 0
    status = {r.cmb_id: (r.status, r.reason) for r in effective_records(case)}
    assert status[2] == ("rejected", "vessel") and status[3] == ("pending", "")
    capsys.readouterr()
    assert run(["review", str(case), "--list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 9 and {r["cmb_id"]: r["status"] for r in rows}[2] == "rejected"
    lines = [json.loads(x) for x in (case / "review.jsonl").read_text().splitlines()]
    assert [x["reviewer"] for x in lines] == ["fr", "fr", "fr"] and lines[1]["comment"] == "clear"


def test_review_user_errors_exit_2_with_one_clear_line(tmp_path, capsys):
    case = fresh_case(tmp_path)
    assert run(["review", str(case), "--decide", "2", "rejected"]) == 2
    assert "--reviewer NAME is required" in capsys.readouterr().err
    assert run(["review", str(case), "--decide", "2", "rejected", "--reviewer", "x"]) == 2
    assert "needs a reason" in capsys.readouterr().err
    assert run(["review", str(case), "--decide", "99", "definite", "--reviewer", "x"]) == 2
    assert "no CMB 99" in capsys.readouterr().err
    assert run(["review", str(tmp_path / "nowhere"), "--list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "case.json: not found" in err
    assert not (case / "review.jsonl").exists()
