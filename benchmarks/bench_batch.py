"""Benchmark: per-case time of ``cmbquant batch`` on 1 vs 2 local Dask workers, in the same run, and their ratio.

Run:  python benchmarks/bench_batch.py [--cases 12] [--seconds 1.0]
      python benchmarks/bench_batch.py --segmenter CMBQuantLib.pipeline.segmenter_factory:create_segmenter --device cpu

The default segmenter is the test oracle on small phantoms (48x48x32) with ``--seconds`` of simulated model time per
case, so the number shows what the cluster adds or saves around the model; the real nnU-Net factory measures the
whole thing. Per case = batch wall time / cases (throughput, model loading on each worker included); task = the
mean time a worker spent on one case. Cluster start-up is excluded (printed apart).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Testing"))  # the phantom and oracle helpers; spawned workers inherit sys.path
sys.path.insert(0, str(ROOT / "CMBQuant"))

from dask_batch_helpers import write_phantom_cases  # noqa: E402
from distributed import Client  # noqa: E402

from CMBQuantLib.pipeline.case_tools import CaseToolsSpec  # noqa: E402
from CMBQuantLib.pipeline.dask_batch import run_batch_dask  # noqa: E402
from CMBQuantLib.pipeline.local_cluster import ClusterPlan, start_local_cluster  # noqa: E402


def one_run(inputs: Path, out: Path, n_workers: int, spec: CaseToolsSpec) -> dict[str, float]:
    t0 = time.monotonic()
    with start_local_cluster(ClusterPlan(n_workers, 1, (), None)) as cluster, Client(cluster) as client:
        client.wait_for_workers(n_workers)
        started = time.monotonic() - t0
        t1 = time.monotonic()
        report = run_batch_dask(inputs, out, client, spec, copy_image=False)
        wall = time.monotonic() - t1
    if report.failed or not report.done:
        raise SystemExit(f"{n_workers} worker(s): failed cases {report.failed}")
    return {"workers": n_workers, "cases": len(report.done), "startup_s": started, "wall_s": wall,
            "per_case_s": wall / len(report.done), "task_s": statistics.mean(report.case_seconds.values())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=1.0, help="simulated model time per case (default oracle)")
    ap.add_argument("--segmenter", default="dask_batch_helpers:create_oracle")
    ap.add_argument("--device", default="cpu", help="for a real segmenter factory")
    args = ap.parse_args(argv)
    kwargs = {"seconds": args.seconds} if args.segmenter.startswith("dask_batch_helpers:") else {"device": args.device}
    spec = CaseToolsSpec(args.segmenter, kwargs, regions="none")
    with tempfile.TemporaryDirectory(prefix="cmbq-bench-batch-") as tmp:
        work = Path(tmp)
        write_phantom_cases(work / "in", args.cases)
        rows = [one_run(work / "in", work / f"out{n}", n, spec) for n in (1, 2)]
    print(f"{'workers':>7} {'cases':>5} {'start s':>8} {'wall s':>7} {'per case s':>10} {'task s':>7}")
    for r in rows:
        print(f"{r['workers']:>7} {r['cases']:>5} {r['startup_s']:>8.2f} {r['wall_s']:>7.2f} {r['per_case_s']:>10.3f} "
              f"{r['task_s']:>7.3f}")
    print(f"per-case time 1 worker / 2 workers: {rows[0]['per_case_s'] / rows[1]['per_case_s']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
