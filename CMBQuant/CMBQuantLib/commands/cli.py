"""``cmbquant``: every capability of the CMBQuant module from the command line, one subcommand each.

Each subcommand lives in the module of its concept as ``add_arguments(parser)`` + ``run(args) -> int``; this file
only mounts them (imported lazily, so ``cmbquant --help`` stays fast and torch is never imported for ``phantom``).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

# name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("CMBQuantLib.commands.demo", "run the main job on a built-in phantom: CMBs to a segmentation, CSV and PNG"),
    "phantom": ("CMBQuantLib.commands.phantom_cli", "synthesise an SWI-like phantom with known CMBs"),
    "run": ("CMBQuantLib.commands.run_command", "detect CMBs with an nnU-Net v2 model (default: the shipped demo model)"),
    "evaluate": ("CMBQuantLib.commands.evaluate_command", "score predicted CMB maps against reference labels (VALDO-style)"),
    "regions": ("CMBQuantLib.pipeline.region_update", "assign MARS regions to a case's CMBs and count them"),
    "review": ("CMBQuantLib.commands.subcommands", "list a case's CMBs and record review decisions from a script"),
    "export-nnunet": ("CMBQuantLib.commands.subcommands", "reviewed case folders -> nnU-Net v2 raw dataset (training labels)"),
    "export-dicom": ("CMBQuantLib.commands.dicom_command", "reviewed case -> DICOM SEG + TID 1500 SR for PACS"),
    "batch": ("CMBQuantLib.commands.subcommands", "folder/BIDS of SWI -> per-case folders awaiting review + cohort.csv"),
    "merge": ("CMBQuantLib.commands.subcommands", "build cohort.csv from case folders (after sharded batches)"),
    "review-web": ("CMBQuantLib.web.serve", "review cases in a web browser (bound to 127.0.0.1 by default)"),
    "train-filter": ("CMBQuantLib.commands.train_filter_command",
                     "reviewed cases -> a new model version whose CMB filter learnt the reader's decisions"),
    "train": ("CMBQuantLib.commands.train_command", "reviewed cases -> nnU-Net (its planner + trainer) -> a new model"),
}


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def _entry(name: str, module: str):
    """(add_arguments, run) of a subcommand: a module's own pair, or its row in the module's SUBCOMMANDS table."""
    mod = importlib.import_module(module)
    table = getattr(mod, "SUBCOMMANDS", None)
    if isinstance(table, dict) and name in table:
        return table[name][0], table[name][1]
    return mod.add_arguments, mod.run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cmbquant", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add, _ = _entry(name, module)
        p.set_defaults(_module=module)
        add(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    if not getattr(args, "command", None):
        parser.print_help()
        return 1
    try:
        return int(_entry(args.command, args._module)[1](args) or 0)
    except (CLIError, ValueError, FileNotFoundError, OSError) as exc:
        print(f"cmbquant {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cmbquant {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
