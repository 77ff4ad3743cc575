"""``cmbquant batch`` on Dask: worker processes build the model once each (one per GPU locally), a killed worker costs
nothing (all case folders end complete and identical to a serial run), and a second run does nothing."""
from __future__ import annotations

import argparse
import json

import pytest
from dask_batch_helpers import (
    KILL_MARKER,
    PHANTOM_GEOMETRY,
    DarkSphereOracle,
    builds,
    case_summary,
    write_phantom_cases,
)

from CMBQuantLib.commands.subcommands import SUBCOMMANDS
from CMBQuantLib.core.case_folder import read_case_json
from CMBQuantLib.pipeline.batch import run_batch

distributed = pytest.importorskip("distributed")
from CMBQuantLib.pipeline.local_cluster import (  # noqa: E402 - needs distributed
    ClusterPlan,
    plan_local_cluster,
    start_local_cluster,
)


def batch(argv, capsys):
    add, run, _ = SUBCOMMANDS["batch"]
    parser = argparse.ArgumentParser()
    add(parser)
    rc = run(parser.parse_args(argv))
    return rc, capsys.readouterr()


def serial_reference(tmp_path, truth):
    """The serial batch on the same inputs; its CMBs are the planted spheres (the oracle returns the truth)."""
    report = run_batch(tmp_path / "in", tmp_path / "ref", DarkSphereOracle(), copy_image=False)
    assert report.done == sorted(truth) and not report.failed
    for case_id, centres in truth.items():
        got = [c[1:] for c in case_summary(tmp_path / "ref" / case_id)["centroids"]]
        want = [tuple(float(x) for x in PHANTOM_GEOMETRY.ijk_to_ras[:3] @ [i, j, k, 1]) for k, j, i in centres]
        assert sorted(got) == sorted(want)


def assert_identical_to_reference(tmp_path, truth):
    for case_id in truth:
        folder = tmp_path / "out" / case_id
        assert read_case_json(folder).status == "complete"
        assert case_summary(folder) == case_summary(tmp_path / "ref" / case_id)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cohort.csv", *sorted(truth)]  # nothing hidden


def stamps(out):
    """Every case file's mtime, and the cohort table's content (each unsharded run rebuilds it from the folders)."""
    return {p: p.stat().st_mtime_ns for p in out.glob("*/*") if p.is_file()}, (out / "cohort.csv").read_text()


def test_joining_a_running_cluster_loads_the_model_once_per_worker_and_a_rerun_does_nothing(tmp_path, capsys):
    truth = write_phantom_cases(tmp_path / "in", 3)
    serial_reference(tmp_path, truth)
    argv = [str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--segmenter", "dask_batch_helpers:create_oracle",
            "--model", str(tmp_path), "--regions", "none", "--no-copy-image"]
    with start_local_cluster(ClusterPlan(2, 1, (), None)) as cluster:
        broken = argv + ["--scheduler", cluster.scheduler_address, "--segmenter", "dask_batch_helpers:create_broken"]
        rc, out = batch(broken, capsys)  # a model the workers cannot load: one line, before any case
        assert rc == 2 and "error: " + str(tmp_path) + "/checkpoint_final.pth: not found" in out.err
        assert not list((tmp_path / "out").iterdir())
        rc, out = batch(argv + ["--scheduler", cluster.scheduler_address], capsys)
        assert rc == 0, out.err
        assert f"Dask: 2 workers at {cluster.scheduler_address}; dashboard: http://127.0.0.1:" in out.out
        assert "done 3, skipped (finished) 0, failed 0" in out.out and "3/3" in out.err
        assert_identical_to_reference(tmp_path, truth)
        built = builds(tmp_path)
        assert len(built) == 2 and len({b.split("-")[0] for b in built}) == 2  # two workers, one build each
        before = stamps(tmp_path / "out")
        rc, out = batch(argv + ["--scheduler", cluster.scheduler_address], capsys)
        assert rc == 0 and "done 0, skipped (finished) 3, failed 0" in out.out and "Dask:" not in out.out
        assert builds(tmp_path) == built and stamps(tmp_path / "out") == before


def test_a_worker_killed_mid_case_leaves_eight_complete_cases_identical_to_a_serial_run(tmp_path, capsys):
    truth = write_phantom_cases(tmp_path / "in", 8)
    serial_reference(tmp_path, truth)
    argv = [str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--workers", "2", "--threads-per-worker", "1",
            "--dashboard", "none", "--segmenter", "dask_batch_helpers:create_kill_once_oracle",
            "--model", str(tmp_path), "--regions", "none", "--no-copy-image"]
    rc, out = batch(argv, capsys)
    assert rc == 0, out.err
    assert "Dask: 2 workers" in out.out and "dashboard: off" in out.out
    assert "done 8, skipped (finished) 0, failed 0" in out.out
    killed = json.loads((tmp_path / KILL_MARKER).read_text())
    assert any(n.startswith(".ph") and ".partial-" in n for n in killed["out"])  # it died inside a staged case
    assert not [n for n in killed["out"] if not n.startswith(".")]  # no case had finished when it died
    assert_identical_to_reference(tmp_path, truth)
    pids = [b.split("-")[0] for b in builds(tmp_path)]
    assert str(killed["pid"]) in pids and len(set(pids)) == len(pids) and 2 <= len(pids) <= 3  # once per worker

    before, built = stamps(tmp_path / "out"), builds(tmp_path)
    rc, out = batch(argv, capsys)
    assert rc == 0 and "done 0, skipped (finished) 8, failed 0" in out.out and "Dask:" not in out.out
    assert builds(tmp_path) == built and stamps(tmp_path / "out") == before


def test_the_local_cluster_has_one_worker_per_gpu_pinned_to_it(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    plan = plan_local_cluster()
    assert (plan.n_workers, plan.gpus) == (2, ("2", "5"))
    assert [plan.worker_env(i)["CUDA_VISIBLE_DEVICES"] for i in range(2)] == ["2", "5"]
    assert plan.worker_env(0)["OMP_NUM_THREADS"] == str(max(1, plan.cpu_count // 2))
    assert plan_local_cluster(workers=3).worker_env(2)["CUDA_VISIBLE_DEVICES"] == "2"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    cpu = plan_local_cluster(threads_per_worker=2)
    assert (cpu.n_workers, cpu.gpus, cpu.threads_per_worker) == (1, (), 2)
    assert "CUDA_VISIBLE_DEVICES" not in cpu.worker_env(0)
    with pytest.raises(ValueError, match="--workers and --threads-per-worker must be >= 1"):
        plan_local_cluster(workers=-1)
