"""One input of ``cmbquant run`` into a case folder (the same folder ``batch`` writes, via ``process_case``), with the
region step chosen by the run options.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from CMBQuantLib.core.records import read_records_csv
from CMBQuantLib.detection.candidates import CandidateLimits
from CMBQuantLib.detection.nnunet.prediction import load_run_filter
from CMBQuantLib.detection.nnunet.segmenter import NNUNetSegmenter
from CMBQuantLib.pipeline.phase_input import phase_for_case
from CMBQuantLib.pipeline.process_case import BatchInput
from CMBQuantLib.pipeline.process_case import process_case as write_case
from CMBQuantLib.pipeline.run_options import CaseResult, RunOptions, StageFn
from CMBQuantLib.regions.assign import region_assigner
from CMBQuantLib.volumes.images import SUPPORTED, VolumeInputError, case_id_from_path


def process_case(predictor, model_record: dict, input_path: str | Path, out_root: str | Path,
                 options: RunOptions, ctx: Any = None, stage: StageFn | None = None,
                 case_id: str | None = None, cmb_filter: Any = None) -> CaseResult:
    """Run one case into a case folder (the same folder ``cmbquant batch`` writes, via ``batch.process_case``)."""

    t0 = time.perf_counter()
    input_path = Path(input_path)
    cid = case_id or case_id_from_path(input_path)
    if cmb_filter is None:  # a batch (the worker) loads it once with the model and passes it in
        cmb_filter = load_run_filter(options, model_record)
    segmenter = NNUNetSegmenter(predictor, model_record, options.crop_to_head, cmb_filter=cmb_filter)
    segmenter.stage = stage
    limits = CandidateLimits(threshold=options.threshold, min_confidence=options.min_confidence)
    inp = BatchInput(cid, input_path, phase=phase_for_case(options.phase, cid))
    folder = write_case(inp, out_root, segmenter, regions=region_assigner_for(options, cid),
                        limits=limits, stage=stage, write_probability=True,
                        brain_mask=options.brain_mask)

    n = len(read_records_csv(folder / "cmbs.csv"))
    files = {p.stem.replace(".seg", "").replace(".nii", ""): str(p) for p in folder.iterdir() if p.is_file()}
    return CaseResult(cid, str(input_path), str(folder), n, time.perf_counter() - t0, "", files)


def region_assigner_for(options: RunOptions, case_id: str):
    """The region step of a case: its own parcellation when given (file, or a folder holding ``<case_id>*``),
    else template registration; a failed registration leaves the CMBs 'unassigned' with the reason recorded."""
    if options.regions == "none":
        return None

    parcellation = None
    if options.parcellation:
        p = Path(options.parcellation)
        if p.is_dir():
            matches = sorted(x for x in p.iterdir() if x.name.startswith(case_id))
            if not matches:
                raise VolumeInputError(f"{p}: no parcellation named {case_id}* for case {case_id}. Name it after the "
                                       "case or pass --regions template.")
            parcellation = matches[0]
        else:
            parcellation = p
    return region_assigner(parcellation_path=parcellation, atlas=options.atlas_source, on_failure="unassigned")


def collect_inputs(paths: list[str]) -> list[Path]:
    """Files as given; folders: the supported volume files inside, or the folder itself if it is a DICOM series."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise VolumeInputError(f"{p}: not found. Check the path.")
        if p.is_file():
            out.append(p)
            continue
        files = sorted(f for f in p.iterdir() if f.is_file() and any(f.name.lower().endswith(s) for s in SUPPORTED))
        if files:
            out.extend(files)
        elif any(f.suffix.lower() in (".dcm", "") for f in p.iterdir() if f.is_file()):
            out.append(p)
        else:
            raise VolumeInputError(f"{p}: no SWI volumes inside (looked for {', '.join(SUPPORTED)} or DICOM). "
                                   f"Pass files or a folder of volumes.")
    return out

