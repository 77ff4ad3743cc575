"""``cmbquant export-dicom CASE --out DIR``: a reviewed case to a DICOM SEG + TID 1500 SR for PACS.

highdicom and pydicom (the ``dicom`` extra) are imported only when the command runs, so ``cmbquant --help``
works without them and a missing install gets a one-line fix instead of a traceback.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from CMBQuantLib.core.case_folder import CaseFolderError
from CMBQuantLib.export.deidentify import DeidentifyOptions
from CMBQuantLib.export.dicom_options import DicomExportOptions


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("case", type=Path, help="case folder made from an SWI DICOM series (holds case.json)")
    p.add_argument("--out", type=Path, required=True, help="folder for <case>_seg.dcm and <case>_sr.dcm")
    p.add_argument("--source", type=Path, help="the SWI DICOM series folder, when it moved since the case was made")
    p.add_argument("--include-possible", action="store_true",
                   help="possible CMBs become segments too (definite ones always do; pending/rejected never)")
    p.add_argument("--deidentify", action="store_true",
                   help="replace patient name/ID, remove birth date, institutions, dates and private tags")
    p.add_argument("--patient-name", default="", help="--deidentify: the pseudonym (default: the case id)")
    p.add_argument("--patient-id", default="", help="--deidentify: the new patient ID (default: the case id)")
    p.add_argument("--keep-dates", action="store_true", help="--deidentify: keep study and series dates")
    p.add_argument("--remap-uids", action="store_true",
                   help="--deidentify: new study/series/instance UIDs (then pass --with-source to ship the series)")
    p.add_argument("--uid-salt", default="", help="--remap-uids: secret salt; the same salt gives the same UIDs")
    p.add_argument("--with-source", action="store_true", help="also write the (de-identified) source slices")


def options_from_args(args: argparse.Namespace) -> DicomExportOptions:
    deid = None
    if args.deidentify:
        deid = DeidentifyOptions(patient_name=args.patient_name, patient_id=args.patient_id,
                                 keep_dates=args.keep_dates, remap_uids=args.remap_uids, uid_salt=args.uid_salt)
    elif args.remap_uids or args.patient_name or args.patient_id:
        raise ValueError("--patient-name, --patient-id and --remap-uids need --deidentify")
    return DicomExportOptions(include_possible=args.include_possible, source=args.source, deidentify=deid,
                              write_source=args.with_source)


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("highdicom") is None:
        print("cmbquant export-dicom: error: needs highdicom: pip install 'cmbquant[dicom]' "
              "(or: pip install highdicom)", file=sys.stderr)
        return 2
    from CMBQuantLib.export.dicom_export import export_dicom  # the optional dicom extra (see the docstring)

    try:
        result = export_dicom(args.case, args.out, options_from_args(args))
    except (CaseFolderError, ValueError, FileNotFoundError) as exc:
        print(f"cmbquant export-dicom: error: {exc}", file=sys.stderr)
        return 2
    for path in result.paths:
        print(path)
    if result.seg is None:
        print("no accepted CMBs: wrote the SR (counts) only; a DICOM SEG needs at least one segment",
              file=sys.stderr)
    return 0
