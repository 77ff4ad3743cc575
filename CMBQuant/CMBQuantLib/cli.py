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
    "demo": ("CMBQuantLib.demo", "run the main job on a built-in phantom: CMBs to a segmentation, CSV and PNG"),
    "phantom": ("CMBQuantLib.phantom_cli", "synthesise an SWI-like phantom with known CMBs"),
    "evaluate": ("CMBQuantStatsLib.evaluate", "score predicted CMB maps against reference labels (VALDO-style)"),
}


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cmbquant", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    if not getattr(args, "command", None):
        parser.print_help()
        return 1
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except (CLIError, ValueError, FileNotFoundError, OSError) as exc:
        print(f"cmbquant {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cmbquant {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
