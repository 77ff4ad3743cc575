"""``cmbquant train-filter CASES... --base MODEL --out NAME``: reviewed cases teach a model's CMB filter; the result
is a new model version in the store (the parent stays as it was). ``--progress-json`` prints the worker's JSON
progress lines (``pipeline/progress.py``) so Slicer can run it as a subprocess and cancel it."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from CMBQuantLib.core.atomic import atomic_write_json
from CMBQuantLib.core.case_folder import CaseFolderError
from CMBQuantLib.detection.cmb_filter import FilterError
from CMBQuantLib.detection.nnunet.model_store import ModelError
from CMBQuantLib.pipeline.progress import ProgressWriter
from CMBQuantLib.pipeline.worker import InferenceClient
from CMBQuantLib.training.filter_relearn import result_dict, train_filter_from_cases
from CMBQuantLib.training.synthetic_anchor import LearningCancelled


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("cases", nargs="+", type=Path, help="reviewed case folders, or folders holding them")
    p.add_argument("--base", default=None, help="model whose filter is fine-tuned: an imported name or a folder "
                   "(default: the shipped CMBQuantDemo)")
    p.add_argument("--out", required=True, help="name of the new model version (must not exist yet)")
    p.add_argument("--include-possible", action="store_true", help="count 'possible' as CMB (default: left out)")
    hold = p.add_mutually_exclusive_group()
    hold.add_argument("--holdout", type=float, default=0.3,
                      help="fraction of the cases held out for the before/after report (default %(default)s)")
    hold.add_argument("--holdout-cases", nargs="+", default=None, metavar="CASE_ID",
                      help="these cases (folder names) are held out instead of a random fraction")
    p.add_argument("--seed", type=int, default=0, help="hold-out split and LightGBM seed (default %(default)s)")
    p.add_argument("--synthetic", choices=("auto", "none"), default="auto",
                   help="auto: keep learning from the parent's synthetic training phantoms (cached); none: only "
                        "the reader's labels")
    p.add_argument("--shared", type=Path, default=None, help="folder with data/synthseg/ (more synthetic phantoms)")
    p.add_argument("--home", type=Path, default=None, help="CMBQuant home (default $CMBQUANT_HOME or ~/.cmbquant)")
    p.add_argument("--report-dir", type=Path, default=None, help="write report.html here (default: in the model)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--progress-json", action="store_true", help="JSON progress lines on stdout (for Slicer)")
    p.add_argument("--result-file", type=Path, default=None, help="also write the result as JSON to this file")


def run(args: argparse.Namespace) -> int:
    writer = ProgressWriter(getattr(args, "progress_stream", None) or sys.stdout) if args.progress_json else None

    def progress(stage: str, fraction: float, message: str) -> None:
        if writer is not None:
            writer.emit(stage, _percent(stage, fraction), message)
        else:
            print(f"[{stage}] {message}", file=sys.stderr, flush=True)

    try:
        result = train_filter_from_cases(args.cases, args.base, args.out, home=args.home, holdout=args.holdout,
                                         holdout_cases=args.holdout_cases, include_possible=args.include_possible,
                                         seed=args.seed, synthetic=args.synthetic, shared=args.shared,
                                         report_dir=args.report_dir, progress=progress)
    except LearningCancelled as exc:
        print(f"cmbquant train-filter: {exc}; nothing was written", file=sys.stderr)
        return 130
    except (ModelError, FilterError, CaseFolderError, ValueError, FileNotFoundError) as exc:
        if writer is not None:
            writer.error(str(exc))
        print(f"cmbquant train-filter: error: {exc}", file=sys.stderr)
        return 2
    if args.result_file:
        atomic_write_json(args.result_file, result_dict(result))
    if writer is not None:
        writer.result(str(args.result_file or result.report_html or ""), True)
    elif args.json:
        print(json.dumps(result_dict(result), indent=1, default=str))
    else:
        print(summary_text(result))
    return 0


STAGE_SPAN = {"labels": (0, 40), "synthetic": (40, 70), "fit": (70, 95), "write": (95, 99), "done": (100, 100)}


def _percent(stage: str, fraction: float) -> float:
    lo, hi = STAGE_SPAN.get(stage, (0, 100))
    return lo + (hi - lo) * min(max(fraction, 0.0), 1.0)


def summary_text(result) -> str:
    """What a person reads after a run: the new model, its labels, before/after on the held-out cases."""
    lab = result.labels["train"]
    lines = [f"new model {result.name} (from {result.version.parent}) in {result.model_dir}",
             f"trained on {len(result.train_cases)} case(s): {lab['positive_rows']} CMB and {lab['negative_rows']} "
             f"non-CMB candidates; by kind {lab['by_kind']}"]
    if result.version.notes.get("trees_added") == 0:
        lines.append("warning: LightGBM could not add a tree (too few labelled candidates): the new filter scores "
                     "as its parent. Review more candidates or cases.")
    if lab["added_missed_by_screen"]:
        lines.append(f"added CMBs the screen still misses (not trained on): {lab['added_missed_by_screen']}")
    if result.before:
        b, a = result.before, result.after
        lines.append(f"held out {len(result.holdout_cases)} case(s): sensitivity {b['sensitivity']} -> "
                     f"{a['sensitivity']}, FP per scan {b['fp_per_scan']} -> {a['fp_per_scan']}, Brier "
                     f"{b['calibration']['brier']} -> {a['calibration']['brier']}")
    lines.append(f"report: {result.report_html}; {result.seconds:.0f} s")
    return "\n".join(lines)


class LearningClient(InferenceClient):
    """``train-filter`` in its own process, driven like an inference run (poll, cancel kills the process tree):
    what the Slicer export panel starts, so the GUI never blocks for the minutes the learning takes."""

    def __init__(self, argv: list[str], result_file: Path, python: str | None = None,
                 env: dict[str, str] | None = None):
        super().__init__([], Path(result_file).parent, result_file=result_file, python=python, env=env)
        self.command = [python or sys.executable, "-m", __name__, *argv, "--progress-json",
                        "--result-file", str(result_file)]


def start_learning(case_root: str | Path, base: str | None, out_name: str, result_file: str | Path,
                   holdout: float = 0.3, include_possible: bool = False, **client: Any) -> LearningClient:
    """The started learning process on the reviewed case folders under ``case_root``."""
    argv = [str(case_root), "--out", out_name, "--holdout", str(holdout)]
    if base:
        argv += ["--base", str(base)]
    if include_possible:
        argv.append("--include-possible")
    run = LearningClient(argv, Path(result_file), **client)
    run.start()
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m CMBQuantLib.commands.train_filter_command")
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.progress_json:  # protocol lines on the real stdout; anything libraries print goes to stderr
        args.progress_stream = os.fdopen(os.dup(1), "w", buffering=1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
