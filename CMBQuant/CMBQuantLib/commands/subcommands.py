"""``cmbquant`` subcommands for review, export-nnunet, batch (in ``batch_command``) and merge: ``add_arguments(parser)``
+ ``run(args)`` pairs that ``cli.py`` mounts (``SUBCOMMANDS``). Any user error prints one line naming the file and the
fix and returns 2; the pairs never call ``sys.exit`` so a test or another tool can drive them.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from CMBQuantLib.commands.batch_command import add_batch_arguments, run_batch_command
from CMBQuantLib.core.case_folder import CaseFolderError
from CMBQuantLib.export.case_export import export_case
from CMBQuantLib.export.cohort import case_folders
from CMBQuantLib.export.nnunet_dataset import export_nnunet
from CMBQuantLib.pipeline.batch import incomplete_cases, merge
from CMBQuantLib.review.session import ReviewSession

USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, KeyError, FileNotFoundError, PermissionError)


def _fail(command: str, exc: BaseException) -> int:
    msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    print(f"cmbquant {command}: error: {msg}", file=sys.stderr)
    return 2


# --- review -------------------------------------------------------------------------------------------------------
def add_review_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("case", type=Path, help="case folder (holds case.json, cmbs.seg.nrrd, cmbs.csv)")
    p.add_argument("--reviewer", help="your name or initials; required for any change (recorded per decision)")
    p.add_argument("--list", action="store_true", help="print the CMBs in review order with their status")
    p.add_argument("--order", choices=("confidence", "position"), default="confidence")
    p.add_argument("--decide", nargs=2, metavar=("ID", "STATUS"),
                   help="set CMB ID to definite | possible | rejected | pending")
    p.add_argument("--reason", default="", help="rejection reason: vessel, calcification, iron, cavernoma, "
                   "haemorrhagic_transformation, macrohaemorrhage, siderosis, artefact, other")
    p.add_argument("--comment", default="", help="free-text comment stored with the decision")
    p.add_argument("--add", nargs=3, type=float, metavar=("R", "A", "S"), help="add a missed CMB at RAS mm")
    p.add_argument("--method", choices=("grow", "sphere"), default="grow", help="--add: grow the dark blob or a sphere")
    p.add_argument("--diameter", type=float, default=3.0, help="--add --method sphere: diameter in mm")
    p.add_argument("--add-status", default="definite", help="--add: status of the added CMB (default definite)")
    p.add_argument("--delete", type=int, metavar="ID", help="delete CMB ID's segment (logged; prefer rejecting)")
    p.add_argument("--undo", action="store_true", help="undo the last change (logged)")
    p.add_argument("--redo", action="store_true", help="redo the last undone change (logged)")
    p.add_argument("--export", type=Path, metavar="DIR", help="write the per-case export files to DIR")
    p.add_argument("--json", action="store_true", help="--list as JSON")
    p.add_argument("--show-filtered", action="store_true",
                   help="--list also the candidates the CMB filter rejected (reason filter; hidden by default)")


def run_review(args: argparse.Namespace) -> int:

    changes = [args.decide, args.add, args.delete is not None, args.undo, args.redo]
    try:
        if any(changes) and not args.reviewer:
            raise ValueError("--reviewer NAME is required to change a case (every decision records who made it)")
        session = ReviewSession.open(args.case, reviewer=args.reviewer or "viewer", order=args.order,
                                     auto_advance=False, require_image=args.add is not None)
        session.show_filtered = args.show_filtered
        for w in session.warnings:
            print(f"warning: {w}", file=sys.stderr)
        if args.decide:
            cmb_id, status = _int(args.decide[0], "ID"), args.decide[1]
            rec = session.decide(status, reason=args.reason, comment=args.comment, cmb_id=cmb_id)
            print(f"CMB {rec.cmb_id}: {rec.status}{' (' + rec.reason + ')' if rec.reason else ''}")
        if args.add:
            rec = session.add_at(args.add, method=args.method, diameter_mm=args.diameter, status=args.add_status,
                                 comment=args.comment)
            print(f"added CMB {rec.cmb_id} at R {rec.r:.1f} A {rec.a:.1f} S {rec.s:.1f}, "
                  f"{rec.diameter_eq_mm:.1f} mm, {rec.status}")
        if args.delete is not None:
            print(f"deleted CMB {session.delete(args.delete, comment=args.comment)}")
        if args.undo:
            print("undone" if session.undo() is not None else "nothing to undo")
        if args.redo:
            print("redone" if session.redo() is not None else "nothing to redo")
        if args.export:

            out = export_case(args.case, args.export)
            print(f"exported {out.seg.name}, {out.labels.name}, {out.cmbs_csv.name}, {out.counts_json.name}")
        if args.list or not any(changes + [args.export]):
            _print_list(session, args.json)
        return 0
    except (CaseFolderError, *USER_ERRORS) as exc:
        return _fail("review", exc)


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{what} must be an integer CMB id, got {text!r}") from None


def _print_list(session: Any, as_json: bool) -> None:
    rows = []
    for cmb_id in session.queue:
        r = session.record(cmb_id)
        rows.append({"cmb_id": r.cmb_id, "status": r.status, "reason": r.reason,
                     "confidence": r.confidence_mean, "p_cmb": r.p_cmb, "diameter_eq_mm": round(r.diameter_eq_mm, 2),
                     "r": round(r.r, 1), "a": round(r.a, 1), "s": round(r.s, 1), "region": r.region,
                     "lobe": r.lobe, "flags": ";".join(r.flags)})
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    done, total = session.progress()
    print(f"{session.case.case_id}: {done}/{total} decided")
    print(f"{'id':>4} {'status':9} {'reason':14} {'conf':>5} {'d_mm':>5} {'R':>7} {'A':>7} {'S':>7} region/lobe flags")
    for x in rows:
        conf = "" if x["confidence"] is None else f"{x['confidence']:.2f}"
        print(f"{x['cmb_id']:>4} {x['status']:9} {x['reason']:14} {conf:>5} {x['diameter_eq_mm']:>5.1f} "
              f"{x['r']:>7.1f} {x['a']:>7.1f} {x['s']:>7.1f} {x['region']}/{x['lobe']} {x['flags']}")


# --- export-nnunet ------------------------------------------------------------------------------------------------
def add_export_nnunet_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("cases", type=Path, nargs="+", help="case folders, or batch output folders holding them")
    p.add_argument("--out", type=Path, required=True, help="nnU-Net raw folder (nnUNet_raw); Dataset###_NAME goes in it")
    p.add_argument("--dataset-id", type=int, default=501, help="nnU-Net dataset id 1..999 (default 501)")
    p.add_argument("--name", default="CMB", help="dataset name (default CMB)")
    p.add_argument("--labels", choices=("definite", "definite+possible"), default="definite+possible",
                   help="which reviewed CMBs are foreground (rejected and pending are always background)")
    p.add_argument("--include-incomplete", action="store_true", help="also export cases with pending CMBs")


def run_export_nnunet(args: argparse.Namespace) -> int:

    try:
        folders = [f for c in args.cases for f in case_folders(c)]
        if not folders:
            raise ValueError(f"{', '.join(map(str, args.cases))}: no case folders (with case.json) found. "
                             "Pass case folders or the output folder of `cmbquant batch`.")
        statuses = ("definite",) if args.labels == "definite" else ("definite", "possible")
        res = export_nnunet(folders, args.out, args.dataset_id, args.name, statuses,
                            require_complete=not args.include_incomplete)
    except (CaseFolderError, *USER_ERRORS) as exc:
        return _fail("export-nnunet", exc)
    for s in res.skipped:
        print(f"skipped {s}", file=sys.stderr)
    print(f"{res.folder}: {len(res.cases)} training cases")
    return 0 if res.cases else 1


# --- merge --------------------------------------------------------------------------------------------------------
def add_merge_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", type=Path, help="batch output folder holding the case folders")
    p.add_argument("--cohort", type=Path, help="where to write the cohort table (default OUT/cohort.csv)")


def run_merge(args: argparse.Namespace) -> int:

    try:
        if not Path(args.out).is_dir():
            raise ValueError(f"{args.out}: not a folder. Pass the --out folder of `cmbquant batch`.")
        path = merge(args.out, args.cohort)
    except (CaseFolderError, *USER_ERRORS) as exc:
        return _fail("merge", exc)
    left = incomplete_cases(args.out)
    if left:
        print(f"warning: {len(left)} unfinished case folders left out: {', '.join(left)} (re-run the batch)",
              file=sys.stderr)
    print(f"cohort: {path}")
    return 0


SUBCOMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int], str]] = {
    "review": (add_review_arguments, run_review, "list a case's CMBs and record review decisions from a script"),
    "export-nnunet": (add_export_nnunet_arguments, run_export_nnunet, "reviewed cases -> nnU-Net v2 raw dataset"),
    "batch": (add_batch_arguments, run_batch_command, "SWI folder/BIDS -> case folders awaiting review"),
    "merge": (add_merge_arguments, run_merge, "build cohort.csv from case folders (after sharded batches)"),
}
