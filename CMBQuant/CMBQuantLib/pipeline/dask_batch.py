"""``cmbquant batch`` on a Dask cluster: the serial batch's plan, one task per case, the model once per worker.

The client plans (``plan_batch``: finished cases are skipped, reviewed ones refused), so a rerun with nothing to do
starts no task and loads no model. A worker killed mid-case leaves only a hidden partial folder (``case_staging``);
the scheduler gives its case to another worker, and ``retries`` covers a task that raised. Case folders must be on a
file system every worker and the client see (a cluster's shared disk).
"""
from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from distributed import Client, as_completed

from CMBQuantLib.detection.candidates import CandidateLimits
from CMBQuantLib.pipeline.batch import BatchReport, finish_batch, plan_batch
from CMBQuantLib.pipeline.case_staging import recover_case_folder
from CMBQuantLib.pipeline.case_tools import CaseToolsSpec
from CMBQuantLib.pipeline.model_plugin import CaseToolsPlugin, worker_tools
from CMBQuantLib.pipeline.process_case import BatchInput, process_case

Progress = Callable[[int, int, str], None]  # (cases finished, cases to do, case id just finished)


@dataclass(frozen=True)
class CaseOutcome:
    case_id: str
    seconds: float
    worker_pid: int


def run_case_task(inp: BatchInput, out_root: str, limits: CandidateLimits | None, copy_image: bool) -> CaseOutcome:
    """One case on a worker, with the worker's own segmenter and region assigner (built once by the plugin)."""
    t0 = time.monotonic()
    tools = worker_tools()
    process_case(inp, out_root, tools.segmenter, tools.regions, limits, copy_image)
    return CaseOutcome(inp.case_id, time.monotonic() - t0, os.getpid())


def run_batch_dask(root: str | Path, out_root: str | Path, client: Client, spec: CaseToolsSpec,
                   shard_spec: tuple[int, int] = (1, 1), limits: CandidateLimits | None = None, force: bool = False,
                   progress: Progress | None = None, write_cohort: bool | None = None, copy_image: bool = True,
                   retries: int = 1) -> BatchReport:
    """``run_batch`` with the cases spread over ``client``'s workers; the same report, in case-id order."""
    t0 = time.monotonic()
    out_root = Path(out_root).resolve()
    out_root.mkdir(parents=True, exist_ok=True)
    todo, report = plan_batch(root, out_root, shard_spec, force)
    if todo:
        install_case_tools(client, spec)
        run_cases(client, todo, out_root, report, limits, copy_image, retries, progress)
    return finish_batch(report, out_root, shard_spec, write_cohort, t0)


def install_case_tools(client: Client, spec: CaseToolsSpec) -> None:
    """Every worker, and every worker that joins later, builds ``spec``'s tools once; a factory that fails on the
    workers already there raises here, before any case is submitted."""
    client.register_plugin(CaseToolsPlugin(spec))


def run_cases(client: Client, todo: list[BatchInput], out_root: Path, report: BatchReport,
              limits: CandidateLimits | None = None, copy_image: bool = True, retries: int = 1,
              progress: Progress | None = None) -> None:
    """Planned cases as tasks on workers holding the case tools (``install_case_tools``); results go into ``report``."""
    out_root = Path(out_root).resolve()
    run = uuid.uuid4().hex[:8]
    futures = {client.submit(run_case_task, replace(inp, path=Path(inp.path).resolve(),
                                                    phase=Path(inp.phase).resolve() if inp.phase else None),
                             str(out_root), limits,
                             copy_image, key=f"case-{inp.case_id}-{run}", retries=retries, pure=False): inp.case_id
               for inp in todo}
    if progress:
        progress(0, len(todo), "")
    done: set[str] = set()
    for n, future in enumerate(as_completed(futures), start=1):
        case_id = futures[future]
        try:
            outcome = future.result()
            done.add(case_id)
            report.case_seconds[case_id] = outcome.seconds
        except Exception as exc:  # noqa: BLE001 - a batch reports every failure (KilledWorker too) and goes on
            report.failed[case_id] = str(exc) or type(exc).__name__
        if progress:
            progress(n, len(todo), case_id)
    report.done.extend(inp.case_id for inp in todo if inp.case_id in done)
    for case_id in set(futures.values()) - done:  # its last worker was killed: no task holds its partial folder
        recover_case_folder(out_root / case_id)
