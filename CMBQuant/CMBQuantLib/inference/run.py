"""End to end, shared by ``cmbquant run``, the worker subprocess and Slicer: SWI file -> CMB probability ->
candidates (flagged, never dropped) -> segmentation node -> case folder (``cmbs.seg.nrrd``, ``cmbs.csv``,
``prob.nii.gz``, ``case.json``).

The network runs on the voxel grid as stored (nnU-Net ignores orientation), so every output keeps the input's exact
geometry, oblique and anisotropic grids included. Inference is restricted to the head's bounding box (+10 mm):
outside the head there are no CMBs, and on a CPU the air around the head is 30-60 % of the tiles.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..volumes import SUPPORTED, VolumeInputError, case_id_from_path
from .model_store import DEFAULT_CHECKPOINT, DEMO_MODEL_NAME

DEFAULT_THRESHOLD = 0.5
DEFAULT_MIN_CONFIDENCE = 0.6  # components whose mean probability is below this are flagged low_confidence
StageFn = Callable[[str, float, str], None]  # (stage, fraction of this case, message)


@dataclass
class RunOptions:
    model: str | None = None  # folder, imported name, zip; None = shipped demo model
    folds: tuple[str, ...] | None = None  # None: every fold present (ensemble)
    checkpoint: str = DEFAULT_CHECKPOINT
    configuration: str | None = None
    device: str = "auto"
    step_size: float | None = None
    mirroring: bool | None = None
    threshold: float = DEFAULT_THRESHOLD
    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    crop_to_head: bool = True
    brain_mask: bool = True  # flag candidates outside an intracranial mask computed from the image (outside_brain)
    trust_checkpoint: bool = False
    regions: str = "template"  # template | none (a parcellation, when given, always wins)
    parcellation: str | None = None  # label map registered to the SWI, or a folder of <case_id>* label maps
    atlas_source: str = "auto"
    filter: str = "auto"  # CMB filter: auto (the model's own, if any) | none | demo | a cmb_filter folder
    filter_threshold: float | None = None  # None: the threshold in the filter's filter.json


@dataclass
class CaseResult:
    case_id: str
    input: str
    out_dir: str
    n_cmbs: int = 0
    seconds: float = 0.0
    error: str = ""
    files: dict[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------ model loading


def load_predictor(options: RunOptions):
    """Validate then load the model once (seconds); returns the predictor and the model record for case.json."""
    from .model_store import checkpoint_sha256, resolve_model, validate_model
    from .predictor import CMBPredictor, PredictorOptions

    folder = resolve_model(options.model)
    spec = validate_model(folder, options.folds, options.checkpoint, options.configuration)
    pred = CMBPredictor(spec, PredictorOptions(options.device, options.step_size, options.mirroring,
                                               options.trust_checkpoint))
    record = {
        "name": options.model or DEMO_MODEL_NAME,
        "dataset": spec.name,
        "folder": str(spec.folder),
        "configuration": spec.configuration,
        "folds": list(spec.folds),
        "checkpoint": spec.checkpoint_name,
        "sha256": checkpoint_sha256(spec),
        "device": pred.info.device.name,
        "device_requested": pred.info.device.requested,
        "device_warning": pred.info.device.warning,
        "step_size": pred.info.step_size,
        "mirroring": pred.info.mirroring,
        "weights_only": pred.info.weights_only,
        "torch": pred.info.torch_version,
        "cuda": pred.info.cuda_version,
    }
    return pred, record


def load_run_filter(options: RunOptions, model_record: dict):
    """The CMB filter of a run (None: one-stage nnU-Net), recorded in the model record for case.json."""
    from .filter_select import select_filter

    cmb_filter = select_filter(options.filter, model_record.get("folder"), options.filter_threshold)
    model_record["filter"] = cmb_filter.info() if cmb_filter is not None else None
    return cmb_filter


# ------------------------------------------------------------------ one case


def head_box(image: np.ndarray, spacing_kji: np.ndarray, margin_mm: float = 10.0) -> tuple[slice, slice, slice]:
    """Bounding box of the head: voxels above 15 % of the 99th percentile, largest blob, + margin."""
    from scipy import ndimage

    step = 2
    small = image[::step, ::step, ::step]
    thr = 0.15 * float(np.percentile(small, 99))
    mask = ndimage.binary_opening(small > thr, iterations=1)
    lab, n = ndimage.label(mask)
    if n == 0:
        return tuple(slice(0, s) for s in image.shape)
    sizes = np.bincount(lab.ravel())[1:]
    nz = np.argwhere(lab == int(np.argmax(sizes)) + 1) * step
    margin = np.ceil(margin_mm / np.asarray(spacing_kji)).astype(int) + step
    lo = np.maximum(nz.min(0) - margin, 0)
    hi = np.minimum(nz.max(0) + margin + 1, image.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))


def predict_volume(predictor, image: np.ndarray, spacing_kji, crop_to_head: bool = True,
                   stage: StageFn | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Probability (float16) and label map (uint8) on the full input grid."""
    box = head_box(image, spacing_kji) if crop_to_head else tuple(slice(0, s) for s in image.shape)
    sub = np.ascontiguousarray(image[box], dtype=np.float32)
    cb = (lambda f, m: stage("predict", 0.1 + 0.7 * f, m)) if stage else None
    from .predictor import p99_scale

    pred = predictor.predict(sub, spacing_kji, cb, scale=p99_scale(image))
    prob = np.zeros(image.shape, np.float16)
    labels = np.zeros(image.shape, np.uint8)
    prob[box] = pred.probability
    labels[box] = pred.labels
    return prob, labels


def process_case(predictor, model_record: dict, input_path: str | Path, out_root: str | Path,
                 options: RunOptions, ctx: Any = None, stage: StageFn | None = None,
                 case_id: str | None = None, cmb_filter: Any = None) -> CaseResult:
    """Run one case into a case folder (the same folder ``cmbquant batch`` writes, via ``batch.process_case``)."""
    from ..batch import BatchInput
    from ..batch import process_case as write_case
    from ..candidates import CandidateLimits
    from .segmenter import NNUNetSegmenter

    t0 = time.perf_counter()
    input_path = Path(input_path)
    cid = case_id or case_id_from_path(input_path)
    if cmb_filter is None:  # a batch (the worker) loads it once with the model and passes it in
        cmb_filter = load_run_filter(options, model_record)
    segmenter = NNUNetSegmenter(predictor, model_record, options.crop_to_head, cmb_filter=cmb_filter)
    segmenter.stage = stage
    limits = CandidateLimits(threshold=options.threshold, min_confidence=options.min_confidence)
    folder = write_case(BatchInput(cid, input_path), out_root, segmenter, regions=region_assigner_for(options, cid),
                        limits=limits, stage=stage, write_probability=True,
                        brain_mask=options.brain_mask)
    from ..candidates import read_records_csv

    n = len(read_records_csv(folder / "cmbs.csv"))
    files = {p.stem.replace(".seg", "").replace(".nii", ""): str(p) for p in folder.iterdir() if p.is_file()}
    return CaseResult(cid, str(input_path), str(folder), n, time.perf_counter() - t0, "", files)


def region_assigner_for(options: RunOptions, case_id: str):
    """The region step of a case: its own parcellation when given (file, or a folder holding ``<case_id>*``),
    else template registration; a failed registration leaves the CMBs 'unassigned' with the reason recorded."""
    if options.regions == "none":
        return None
    from ..regions.assign import region_assigner

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


# ------------------------------------------------------------------ command line


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``cmbquant run``."""
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="SWI volume files (NIfTI/NRRD/MHA) or folders")
    parser.add_argument("--out", required=True, metavar="DIR", help="output root; one case folder per input")
    parser.add_argument("--model", default=None,
                        help=f"model folder, imported model name or zip (default: the shipped {DEMO_MODEL_NAME})")
    parser.add_argument("--folds", nargs="+", default=None, help="folds to use, e.g. 0 1 2 or all (default: all present; several = ensemble)")
    parser.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help="checkpoint file name (default %(default)s)")
    parser.add_argument("--configuration", default=None, help="nnU-Net configuration when the folder holds several")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "mps", "cpu"],
                        help="compute device; unavailable choices fall back with a warning (default auto)")
    parser.add_argument("--step-size", type=float, default=None,
                        help="sliding-window step as a fraction of the patch (default 0.5 on GPU, 1.0 on CPU)")
    mirror = parser.add_mutually_exclusive_group()
    mirror.add_argument("--mirroring", dest="mirroring", action="store_true", default=None,
                        help="test-time mirroring (8x slower; default on for GPU, off for CPU)")
    mirror.add_argument("--no-mirroring", dest="mirroring", action="store_false")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help="probability threshold for a candidate voxel (default %(default)s)")
    parser.add_argument("--min-confidence", type=float, default=DEFAULT_MIN_CONFIDENCE,
                        help="flag (never delete) candidates whose mean probability is below this (default %(default)s)")
    parser.add_argument("--no-crop", dest="crop_to_head", action="store_false",
                        help="run on the whole field of view instead of the head bounding box")
    parser.add_argument("--no-brain-mask", dest="brain_mask", action="store_false",
                        help="do not flag candidates outside the intracranial mask computed from the image")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="allow full unpickling of checkpoints that weights-only loading refuses (runs code "
                             "from the file: only for models from a trusted source)")
    parser.add_argument("--regions", choices=["template", "none"], default="template",
                        help="MARS regions by registration to the MNI template (default) or none")
    parser.add_argument("--parcellation", default=None, metavar="LABELS",
                        help="the subject's FreeSurfer/SynthSeg label map registered to the SWI (most accurate), or "
                             "a folder of <case_id>* label maps for several inputs")
    parser.add_argument("--filter", default="auto", metavar="auto|none|demo|DIR",
                        help="CMB filter (stage 2): auto = the model's own when it ships one (the demo model does), "
                             "none = plain one-stage nnU-Net, demo = the shipped filter with any model, or a folder")
    parser.add_argument("--filter-threshold", type=float, default=None, metavar="P",
                        help="p_cmb below this is rejected (reason filter, restorable); default: the filter's own")
    parser.add_argument("--atlas-source", default="auto", choices=["auto", "mars", "aparcaseg"],
                        help="template region map (auto: FreeSurfer MNI aparc+aseg when installed, else MARS atlas)")


def options_from_args(args: argparse.Namespace) -> RunOptions:
    return RunOptions(
        model=args.model, folds=tuple(args.folds) if args.folds else None, checkpoint=args.checkpoint,
        configuration=args.configuration, device=args.device, step_size=args.step_size, mirroring=args.mirroring,
        threshold=args.threshold, min_confidence=args.min_confidence, crop_to_head=args.crop_to_head,
        trust_checkpoint=args.trust_checkpoint, regions=args.regions, parcellation=args.parcellation,
        atlas_source=args.atlas_source, brain_mask=getattr(args, "brain_mask", True),
        filter=getattr(args, "filter", "auto"), filter_threshold=getattr(args, "filter_threshold", None))


def run(args: argparse.Namespace) -> int:
    """``cmbquant run``: 0 when every case succeeded, 2 on a bad model/input (message names file and fix)."""
    from .worker import run_job

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
