"""``cmbquant evaluate PRED REF --out DIR``: score a folder of CMB predictions against reference label maps.

Bad input ends with one error line naming the file and the fix (exit code 2), never a traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Mapping, Sequence

from CMBQuantLib.detection.validation.evaluate import evaluate_folders
from CMBQuantLib.detection.validation.inputs import InputError, read_region_names, read_sites
from CMBQuantLib.detection.validation.matching import DEFAULT_DISTANCE_MM, MATCH_RULES

EXIT_BAD_INPUT = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``cmbquant evaluate`` (so the CLI can mount it as a subcommand)."""
    parser.add_argument("pred", type=Path, help="folder of predictions: label/probability maps or .seg.nrrd")
    parser.add_argument("ref", type=Path, help="folder of reference label maps (same case IDs)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created)")
    parser.add_argument("--match", choices=MATCH_RULES, default="centroid",
                        help="lesion matching: centre-of-mass distance (VALDO) or any voxel overlap")
    parser.add_argument("--distance-mm", type=float, default=DEFAULT_DISTANCE_MM,
                        help="largest centre-of-mass distance of a match, mm (default %(default)s)")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="probability maps: CMB where p > threshold (default %(default)s)")
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default %(default)s)")
    parser.add_argument("--sites", type=Path, default=None, help="CSV case_id,site for an internal/external split")
    parser.add_argument("--regions", type=Path, default=None,
                        help="folder of region label maps <case_id>.nii.gz on the reference grid (per-region counts)")
    parser.add_argument("--region-names", type=Path, default=None,
                        help="CSV label,region naming the values of the region maps (default: the label itself)")
    parser.add_argument("--no-html", action="store_true", help="skip validation.html")


def _check_options(args: argparse.Namespace) -> None:
    if args.distance_mm <= 0:
        raise InputError(f"--distance-mm {args.distance_mm}: must be > 0 (e.g. 5).")
    if not 0 < args.threshold < 1:
        raise InputError(f"--threshold {args.threshold}: must be between 0 and 1 (e.g. 0.5).")
    if args.bootstrap < 0:
        raise InputError(f"--bootstrap {args.bootstrap}: must be >= 0.")


def _sites(args: argparse.Namespace) -> Mapping[str, str] | None:
    if args.sites is None:
        return None
    if not Path(args.sites).is_file():
        raise InputError(f"{args.sites}: no such file. Give a CSV with columns case_id,site.")
    return read_sites(args.sites)


def _region_names(args: argparse.Namespace) -> Mapping[int, str] | None:
    names_csv = getattr(args, "region_names", None)
    if names_csv is None:
        return None
    if getattr(args, "regions", None) is None:
        raise InputError(f"{names_csv}: --region-names needs --regions DIR (the region label maps).")
    if not Path(names_csv).is_file():
        raise InputError(f"{names_csv}: no such file. Give a CSV with columns label,region.")
    return read_region_names(names_csv)


def run(args: argparse.Namespace) -> int:
    """Run the command; 0 on success, 2 on bad input (one message on stderr, no traceback)."""
    try:
        _check_options(args)
        sites = _sites(args)
        region_names = _region_names(args)
        res = evaluate_folders(args.pred, args.ref, args.out, rule=args.match, distance_mm=args.distance_mm,
                               threshold=args.threshold, n_boot=args.bootstrap, seed=args.seed, sites=sites,
                               html=not getattr(args, "no_html", False), regions_dir=getattr(args, "regions", None),
                               region_names=region_names)
    except InputError as exc:
        print(f"cmbquant evaluate: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:  # e.g. --out not writable
        print(f"cmbquant evaluate: error: {exc.filename or args.out}: {exc.strerror or exc}. "
              "Choose an --out folder you can write to.", file=sys.stderr)
        return EXIT_BAD_INPUT
    for label, ids in (("prediction only", res.only_pred), ("reference only", res.only_ref)):
        if ids:
            print(f"cmbquant evaluate: {len(ids)} case(s) {label}, not scored: {', '.join(ids)}", file=sys.stderr)
    s = res.summary[0]
    print(f"{s.n_cases} cases: Dice {s.dice_mean:.3f} [{s.dice_ci_low:.3f}, {s.dice_ci_high:.3f}], "
          f"F1 pooled {s.f1_pooled:.3f}, FP/scan {s.fp_per_scan:.2f}; wrote {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m CMBQuantLib.commands.evaluate_command",
                                     description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
