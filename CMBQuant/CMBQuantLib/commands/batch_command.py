"""``cmbquant batch``: SWI folder/BIDS -> case folders, on a Dask cluster (local by default, ``--scheduler`` to join
one) or, with ``--workers 0`` or without Dask installed, one case after another in this process (``--shard I/N``
splits either over machines). User errors print one line naming the fix and return 2 (see ``subcommands``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from CMBQuantLib.commands.batch_progress import progress_bar
from CMBQuantLib.core.case_folder import CaseFolderError
from CMBQuantLib.pipeline.batch import (
    BatchReport,
    finish_batch,
    incomplete_cases,
    parse_shard,
    plan_batch,
    run_batch,
)
from CMBQuantLib.pipeline.case_tools import DEFAULT_SEGMENTER, CaseToolsSpec
from CMBQuantLib.volumes.images import VolumeInputError

USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, KeyError, FileNotFoundError, PermissionError)
DASK_MISSING = 'Dask is not installed (pip install "cmbquant[batch]")'


def add_batch_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", type=Path, help="folder of SWI files, or a BIDS dataset (sub-*/[ses-*/]anat/*_swi.nii.gz)")
    p.add_argument("--out", type=Path, required=True, help="output folder: one case folder per input + cohort.csv")
    p.add_argument("--scheduler", metavar="ADDRESS", help="join this Dask scheduler (tcp://host:8786) instead of "
                   "starting workers here; the cluster must see --out and the inputs on a shared disk")
    p.add_argument("--workers", type=int, default=None, metavar="N", help="local Dask worker processes (default: one "
                   "per GPU, else 1); 0: no Dask, run the cases one by one in this process")
    p.add_argument("--threads-per-worker", type=int, default=1, metavar="T",
                   help="cases a worker runs at once (they share its one model; default 1)")
    p.add_argument("--dashboard", default=":8787", metavar="ADDRESS", help="local cluster's dashboard ('none': off)")
    p.add_argument("--retries", type=int, default=1, help="retries of a case whose task raised (default 1)")
    p.add_argument("--shard", default="1/1", help="I/N: process only shard I of N (1-based; run `merge` after)")
    p.add_argument("--model", help="model folder (passed to the segmenter factory)")
    p.add_argument("--device", default="auto", help="cuda | cpu | mps | auto (passed to the segmenter factory)")
    p.add_argument("--segmenter", default=DEFAULT_SEGMENTER,
                   help="MODULE:FACTORY returning a Segmenter, called with model=, device=")
    p.add_argument("--regions", default="template",
                   help="MARS regions: 'template' (register each SWI to MNI and look CMBs up in the region atlas; "
                        "default), 'none', or MODULE:FACTORY returning a region assigner")
    p.add_argument("--atlas-source", default="auto", choices=("auto", "syn", "bspline", "mars", "aparcaseg"),
                   help="template path (auto: the MNI aparc+aseg warped into the SWI when antspyx is installed, "
                        "else affine; docs/regions.md)")
    p.add_argument("--filter", default="auto", metavar="auto|none|demo|DIR",
                   help="CMB filter (stage 2), as for `cmbquant run` (default: the model's own, if any)")
    p.add_argument("--filter-threshold", type=float, default=None, metavar="P", help="override the filter's threshold")
    p.add_argument("--force", action="store_true", help="redo finished cases (never those with review decisions)")
    p.add_argument("--no-copy-image", action="store_true", help="do not copy the SWI into the case folders")


def tools_spec(args: argparse.Namespace) -> CaseToolsSpec:
    """The picklable recipe of the segmenter and region assigner (built once per worker, or once here)."""
    kwargs: dict[str, Any] = {"model": args.model, "device": args.device}
    if args.segmenter == DEFAULT_SEGMENTER:
        kwargs.update(filter=args.filter, filter_threshold=args.filter_threshold)
    return CaseToolsSpec(args.segmenter, kwargs, args.regions, args.atlas_source)


def _dask_available() -> bool:
    try:
        import distributed  # noqa: F401 - optional `batch` extra
    except ImportError:
        return False
    return True


def _use_dask(args: argparse.Namespace, injected: bool) -> bool:
    if injected or args.workers == 0:
        return False
    if _dask_available():
        return True
    if args.scheduler:
        raise ValueError(f"--scheduler needs Dask: {DASK_MISSING}")
    print(f"note: {DASK_MISSING}: running the cases one by one in this process", file=sys.stderr)
    return False


def _run_serial(args: argparse.Namespace, spec: CaseToolsSpec, shard_spec: tuple[int, int], segmenter: Any,
                regions: Any) -> BatchReport:
    segmenter = segmenter if segmenter is not None else spec.build_segmenter()
    regions = regions if regions is not None else spec.build_regions()
    with progress_bar() as progress:
        return run_batch(args.input, args.out, segmenter, shard_spec, regions=regions, force=args.force,
                         progress=progress, copy_image=not args.no_copy_image)


def _run_dask(args: argparse.Namespace, spec: CaseToolsSpec, shard_spec: tuple[int, int]) -> BatchReport:
    from CMBQuantLib.pipeline.dask_batch import install_case_tools, run_cases  # optional `batch` extra (Dask)
    from CMBQuantLib.pipeline.local_cluster import batch_client, dashboard_link, plan_local_cluster

    t0 = time.monotonic()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    todo, report = plan_batch(args.input, out, shard_spec, args.force)
    if todo:  # with nothing to do, no cluster starts and no model loads
        dashboard = None if str(args.dashboard).lower() in ("", "none", "off") else args.dashboard
        plan = plan_local_cluster(args.workers, args.threads_per_worker, dashboard)
        with batch_client(args.scheduler, plan) as client:
            n = len(client.scheduler_info().get("workers", {}))
            link = dashboard_link(client, enabled=bool(args.scheduler or dashboard))
            print(f"Dask: {n} workers at {client.scheduler.address}; dashboard: {link}", flush=True)
            install_case_tools(client, spec)
            with progress_bar() as progress:
                run_cases(client, todo, out, report, copy_image=not args.no_copy_image, retries=args.retries,
                          progress=progress)
    return finish_batch(report, out, shard_spec, None, t0)


def run_batch_command(args: argparse.Namespace, segmenter: Any = None, regions: Any = None) -> int:
    """``segmenter``/``regions`` may be injected (tests, the Slicer module): those run in this process."""
    try:
        shard_spec = parse_shard(args.shard)
        spec = tools_spec(args)
        if segmenter is None:
            spec.check()
        if _use_dask(args, injected=segmenter is not None or regions is not None):
            report = _run_dask(args, spec, shard_spec)
        else:
            report = _run_serial(args, spec, shard_spec, segmenter, regions)
    except (CaseFolderError, VolumeInputError, *USER_ERRORS) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"cmbquant batch: error: {msg}", file=sys.stderr)
        return 2
    _print_report(args, report, shard_spec)
    return 1 if report.failed else 0


def _print_report(args: argparse.Namespace, report: BatchReport, shard_spec: tuple[int, int]) -> None:
    print(f"done {len(report.done)}, skipped (finished) {len(report.skipped)}, failed {len(report.failed)} "
          f"in {report.seconds:.0f} s")
    for cid, msg in report.failed.items():
        print(f"failed {cid}: {msg}", file=sys.stderr)
    if report.cohort:
        print(f"cohort: {report.cohort}")
    elif shard_spec[1] > 1:
        left = incomplete_cases(args.out)
        print(f"shard {args.shard} finished; when all shards are done run `cmbquant merge {args.out}`"
              + (f" (unfinished: {len(left)})" if left else ""))
