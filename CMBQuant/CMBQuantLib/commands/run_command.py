"""``cmbquant run``: SWI files -> case folders through the worker, with human-readable progress on stderr."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from CMBQuantLib.pipeline.run_case import collect_inputs
from CMBQuantLib.pipeline.run_options import add_arguments, options_from_args  # noqa: F401  (add_arguments: the subcommand's own)
from CMBQuantLib.pipeline.worker import run_job
from CMBQuantLib.volumes.images import VolumeInputError


def run(args: argparse.Namespace) -> int:
    """``cmbquant run``: 0 when every case succeeded, 2 on a bad model/input (message names file and fix)."""

    try:
        inputs = collect_inputs(args.inputs)
    except VolumeInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    writer = _HumanProgress(sys.stderr)
    result = run_job(inputs, Path(args.out), options_from_args(args), writer)
    for c in result["cases"]:
        if not c["error"]:
            print(f"{c['case_id']}: {c['n_cmbs']} CMB candidates -> {c['out_dir']} ({c['seconds']:.1f} s)")
    return 0 if result["ok"] else 2


class _HumanProgress:
    """ProgressWriter-compatible sink for a terminal: stage lines and errors on stderr, no JSON."""

    def __init__(self, stream):
        self.stream = stream
        self.n_cases = 1

    def emit(self, stage: str, percent: float, message: str = "", case: str = "", **extra) -> None:
        if stage in ("load_model", "case_done", "done") or extra.get("warning"):
            self.stream.write(f"[{percent:5.1f}%] {case + ': ' if case else ''}{message}\n")

    def case_progress(self, case_index: int, fraction: float, stage: str, message: str = "", case: str = "") -> None:
        if stage == "case_done":
            self.emit(stage, 5 + 95 * (case_index + fraction) / self.n_cases, message, case)

    def log(self, message: str, level: str = "info") -> None:
        if level in ("warning", "error"):
            self.stream.write(f"{level}: {message}\n")

    def error(self, message: str, case: str = "") -> None:
        self.stream.write(f"error: {message}\n")

    def result(self, result_file: str, ok: bool) -> None:
        pass

