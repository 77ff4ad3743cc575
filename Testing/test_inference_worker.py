"""The worker subprocess: JSON progress lines, a result file, batch with one model load, and a cancel that ends the
whole process tree. Also the CLI's error contract (exit 2, message naming the file and the fix)."""
from __future__ import annotations

import argparse
import io
import json
import os
import time

import numpy as np
import pytest

from CMBQuantLib.pipeline.progress import ProgressEvent, ProgressWriter, parse_line


def test_progress_lines_round_trip_and_are_monotone():
    buf = io.StringIO()
    w = ProgressWriter(buf, n_cases=2)
    w.emit("load_model", 5.0, "loaded")
    w.case_progress(0, 0.5, "predict", "tile 1/2", "a.nii.gz")
    w.case_progress(0, 0.2, "predict", "late line", "a.nii.gz")  # never goes backwards
    w.log("careful", "warning")
    w.result("/tmp/r.json", True)
    lines = buf.getvalue().splitlines()
    evs = [parse_line(x) for x in lines]
    assert all(json.loads(x) for x in lines)
    assert [e.type for e in evs] == ["progress", "progress", "progress", "log", "result"]
    assert evs[1].percent == pytest.approx(5 + 95 * 0.25, abs=0.1) and evs[1].case == "a.nii.gz"
    assert evs[2].percent == evs[1].percent
    assert evs[3].stage == "warning" and evs[3].message == "careful"
    assert evs[4].extra == {"result_file": "/tmp/r.json", "ok": True} and evs[4].percent == 100.0


def test_non_protocol_lines_become_log_events():
    assert parse_line("perform_everything_on_device=True ...") == ProgressEvent("log", message="perform_everything_on_device=True ...")
    assert parse_line("[1, 2]").type == "log"
    assert parse_line('{"type": "progress", "stage": "predict", "percent": "12.5"}').percent == 12.5


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purpose
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


@pytest.mark.skipif(os.name == "nt", reason="pid checks use POSIX signals")
def test_cancel_ends_worker_and_its_children(tmp_path):
    from CMBQuantLib.pipeline.worker import InferenceClient

    client = InferenceClient([tmp_path / "x.nii.gz"], tmp_path / "out", extra_args=["--test-spawn-child"])
    client.start()
    child = None
    deadline = time.monotonic() + 60
    while child is None and time.monotonic() < deadline:
        for ev in client.poll():
            child = ev.extra.get("child_pid", child)
        time.sleep(0.05)
    assert child is not None, list(client.stderr_tail)
    worker = client.pid
    assert _alive(worker) and _alive(child)
    client.cancel(grace=2.0)
    deadline = time.monotonic() + 10
    while (_alive(child) or _alive(worker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(worker) and not _alive(child)
    assert client.cancelled and not client.running() and client.result() is None


def _run_args(argv):
    from CMBQuantLib.commands.run_command import add_arguments

    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args(argv)


def test_cli_missing_input_exits_2_naming_the_file(tmp_path, capsys):
    from CMBQuantLib.commands.run_command import run

    rc = run(_run_args([str(tmp_path / "missing.nii.gz"), "--out", str(tmp_path / "o")]))
    assert rc == 2
    assert f"{tmp_path / 'missing.nii.gz'}: not found" in capsys.readouterr().err


def test_cli_bad_model_exits_2_naming_the_fix(tmp_path, capsys):
    from inference_helpers import write_fake_model

    from CMBQuantLib.commands.run_command import run
    from CMBQuantLib.core.geometry import Geometry
    from CMBQuantLib.volumes.images import write_image

    img = write_image(np.random.default_rng(0).random((8, 8, 8), dtype=np.float32), Geometry(np.eye(4), (8, 8, 8)),
                      tmp_path / "a.nii.gz")
    model = write_fake_model(tmp_path / "m", channels=3)
    rc = run(_run_args([str(img), "--out", str(tmp_path / "o"), "--model", str(model)]))
    err = capsys.readouterr().err
    assert rc == 2
    assert "expects 3 input channels" in err and "dataset.json" in err


@pytest.mark.slow
def test_worker_batch_writes_case_folders_and_loads_model_once(tmp_path):
    pytest.importorskip("nnunetv2")
    from CMBQuantLib.core.geometry import Geometry
    from CMBQuantLib.pipeline.run_options import RunOptions
    from CMBQuantLib.pipeline.worker import InferenceClient
    from CMBQuantLib.training.export import build_untrained_model
    from CMBQuantLib.volumes.images import write_image

    model = build_untrained_model(tmp_path / "m", final_bias=(0.0, -10.0))
    rng = np.random.default_rng(1)
    geom = Geometry(np.diag([0.9, 0.9, 2.0, 1.0]), (20, 60, 50))
    for i in range(2):
        write_image(rng.random(geom.shape, dtype=np.float32), geom, tmp_path / "in" / f"c{i}.nii.gz")
    (tmp_path / "in" / "bad.nii.gz").write_bytes(b"not a volume")
    client = InferenceClient([tmp_path / "in"], tmp_path / "out", RunOptions(model=str(model), device="cpu",
                                                                                 regions="none"))
    client.start()
    events = []
    while client.running():
        events += client.poll()
        time.sleep(0.05)
    assert client.wait() == 2  # one bad case: the others still run
    events += client.poll()
    stages = [e.stage for e in events if e.type == "progress"]
    assert stages.count("load_model") == 2  # "loading" + "loaded", once for the whole batch
    assert stages.count("case_done") == 2
    pct = [e.percent for e in events if e.type == "progress"]
    assert pct == sorted(pct) and pct[-1] == 100.0
    errors = [e for e in events if e.type == "error"]
    assert len(errors) == 1 and "bad.nii.gz" in errors[0].message
    res = client.result()
    assert [c["n_cmbs"] for c in res["cases"] if not c["error"]] == [0, 0]
    assert res["model"]["device"] == "cpu" and len(res["model"]["sha256"]) == 64
    for i in range(2):
        case = tmp_path / "out" / f"c{i}"
        assert {p.name for p in case.iterdir()} == {"case.json", "cmbs.csv", "prob.nii.gz", "cmbs.seg.nrrd",
                                                    "image.nii.gz", "counts.json", "counts.csv"}
        doc = json.loads((case / "case.json").read_text())
        assert doc["model"]["step_size"] == 1.0 and doc["model"]["mirroring"] is False
        assert doc["geometry"]["shape"] == [20, 60, 50] and doc["status"] == "complete"
