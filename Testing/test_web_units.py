"""The web review's pieces that need no browser or phantom: keys, click mapping, worklist, CLI."""
from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path

import numpy as np
import pytest

from CMBQuantLib.core.case_folder import CaseFolderError
from CMBQuantLib.review.key_dispatch import KeyDispatcher
from CMBQuantLib.review.keymap import DEFAULT_KEYMAP, REJECT_REASON_KEYS, normalise
from CMBQuantLib.review.worklist import list_cases
from CMBQuantLib.web import serve
from CMBQuantLib.web.keys import browser_keys, sequence
from CMBQuantLib.web.viewport import pixel_to_ras, ras_to_pixel


def test_every_keymap_key_is_forwarded_and_means_the_same():
    forwarded = browser_keys()
    for binding in DEFAULT_KEYMAP:
        for key in binding.keys:
            assert any(normalise(key) == sequence(str(k["key"]), bool(k["ctrlKey"]), bool(k["shiftKey"]),
                                                  bool(k["altKey"])) for k in forwarded), key
    d = KeyDispatcher()
    assert d.press("a").status == "definite"
    assert d.press("s").status == "possible"
    assert d.press(" ").action == "next" and d.press("n").action == "next"
    assert d.press(" ", shift=True).action == "previous"
    assert d.press("z", ctrl=True).action == "undo"
    assert d.press("Z", ctrl=True, shift=True).action == "redo"
    assert d.press("1") is None  # a digit means nothing outside the reject menu


def test_reject_menu_takes_a_reason_or_escape():
    d = KeyDispatcher()
    assert d.press("x").action == "reject_menu" and d.awaiting_reason
    cmd = d.press("1")
    assert (cmd.status, cmd.reason) == ("rejected", REJECT_REASON_KEYS["1"])
    d.press("x")
    assert d.press("Escape").action == "cancel" and not d.awaiting_reason
    d.press("x")
    assert d.press("a").status == "definite" and not d.awaiting_reason  # another decision key leaves the menu


def test_pixel_ras_round_trip_and_orientation():
    m = np.array([[-0.1, 0, 0, 10], [0, 0.1, 0, -5], [0, 0, 1, 3], [0, 0, 0, 1.0]])
    ras = pixel_to_ras(m, 0, 0, 512)  # top-left of the page image = top row of VTK's bottom-up XY
    assert np.allclose(ras, [10, -5 + 0.1 * 511, 3])
    assert np.allclose(ras_to_pixel(m, pixel_to_ras(m, 100.0, 300.0, 512), 512), (100.0, 300.0))


def _case(folder, case_id="c1"):
    folder.mkdir(parents=True)
    (folder / "case.json").write_text(json.dumps({"schema_version": 1, "case_id": case_id}))
    (folder / "cmbs.csv").write_text("cmb_id,status\n1,definite\n2,pending\n")


def test_worklist_lists_case_subfolders_with_progress(tmp_path):
    _case(tmp_path / "b", "b")
    _case(tmp_path / "a", "a")
    (tmp_path / "not_a_case").mkdir()
    cases = list_cases(tmp_path)
    assert [(c.case_id, c.decided, c.total) for c in cases] == [("a", 1, 2), ("b", 1, 2)]
    assert [c.case_id for c in list_cases(tmp_path / "a")] == ["a"]  # one case folder works too
    with pytest.raises(CaseFolderError, match="no case folders"):
        list_cases(tmp_path / "not_a_case")


def test_serve_defaults_to_loopback_and_reports_a_bad_folder(tmp_path, capsys):
    args = serve.add_arguments(argparse.ArgumentParser()).parse_args([str(tmp_path)])
    assert args.host == "127.0.0.1" and args.reviewer == ""
    assert serve.host_warning("127.0.0.1") is None
    assert "WARNING" in serve.host_warning("0.0.0.0")
    assert serve.view_names("coronal, axial,sagittal") == ("Red", "Green", "Yellow")
    with pytest.raises(ValueError, match="axial, coronal, sagittal"):
        serve.view_names("axial,3d")
    assert serve.run(args) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "cmbquant batch" in err


def test_trame_stays_inside_the_web_subpackage():
    lib = Path(__file__).resolve().parents[1] / "CMBQuant" / "CMBQuantLib"
    outside = [p for p in lib.rglob("*.py") if "web" not in p.relative_to(lib).parts and "trame" in p.read_text(encoding="utf-8")]
    assert outside == []


def test_busy_port_is_one_clear_message(tmp_path, capsys):
    (tmp_path / "c").mkdir()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = serve.add_arguments(argparse.ArgumentParser()).parse_args([str(tmp_path), "--port", str(port)])
        assert serve.run(args) == 2
    assert f"127.0.0.1:{port}" in capsys.readouterr().err
    assert serve.usable_port("127.0.0.1", 0) > 0
