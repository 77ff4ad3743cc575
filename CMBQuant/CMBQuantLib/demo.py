"""``cmbquant demo``: the main job end to end on built-in demo data, no ``../shared`` or network needed.

Phantom -> CMB detection -> one segment per CMB -> ``cmbs.seg.nrrd``, ``cmbs.csv``, ``overview.png``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .candidates import CandidateLimits, find_candidates, write_records_csv
from .phantom import builtin_phantom
from .quicklook import save_overview_png
from .scene import headless_context
from .segments import create_cmb_segmentation, save_segmentation
from .volumes import load_volume, write_image


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default out/demo)")
    parser.add_argument("--seed", type=int, default=0, help="phantom seed")
    parser.add_argument("--detector", choices=["truth"], default="truth",
                        help="'truth': the phantom's own ground-truth CMB map")


def run(args: argparse.Namespace) -> int:
    out: Path = args.out
    case = out / "demo_case"
    ph = builtin_phantom(args.seed)
    swi_path = write_image(ph.image, ph.geometry, case / "image.nii.gz")
    ctx = headless_context()
    volume = load_volume(ctx, swi_path, "demo_swi")
    records, labels = find_candidates(ph.cmb_labels > 0, ph.geometry, image=ph.image, limits=CandidateLimits())
    seg = create_cmb_segmentation(ctx, volume, labels, records)
    save_segmentation(seg, case / "cmbs.seg.nrrd")
    write_records_csv(records, case / "cmbs.csv")
    png = save_overview_png(ph.image, records, case / "overview.png", ph.geometry.spacing)
    summary = {"case": str(case), "n_cmbs": len(records), "n_true_cmbs": len(ph.cmbs), "detector": args.detector,
               "files": ["image.nii.gz", "cmbs.seg.nrrd", "cmbs.csv", png.name]}
    print(json.dumps(summary, indent=2))
    return 0
