"""End to end, shared by ``cmbquant run``, the worker subprocess and Slicer: SWI file -> CMB probability ->
candidates (flagged, never dropped) -> segmentation node -> case folder (``cmbs.seg.nrrd``, ``cmbs.csv``,
``prob.nii.gz``, ``case.json``).

The network runs on the voxel grid as stored (nnU-Net ignores orientation), so every output keeps the input's exact
geometry, oblique and anisotropic grids included. Inference is restricted to the head's bounding box (+10 mm):
outside the head there are no CMBs, and on a CPU the air around the head is 30-60 % of the tiles.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..volumes import SUPPORTED, VolumeInputError, case_id_from_path
from .model_store import DEFAULT_CHECKPOINT, DEMO_MODEL_NAME

CASE_SCHEMA_VERSION = 1
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
    write_segmentation: bool = True


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
                 case_id: str | None = None) -> tuple[CaseResult, Any]:
    """Run one case and write its folder; returns the result and the segmentation node (in ``ctx``'s scene)."""
    from ..candidates import CandidateLimits, find_candidates, write_records_csv
    from ..volumes import read_image, write_image

    t0 = time.perf_counter()
    stage = stage or (lambda s, f, m: None)
    input_path = Path(input_path)
    cid = case_id or case_id_from_path(input_path)
    out = Path(out_root) / cid
    stage("read", 0.0, f"reading {input_path.name}")
    image, geometry = read_image(input_path)
    if image.ndim != 3:
        raise VolumeInputError(f"{input_path}: expected a 3D SWI volume, got shape {image.shape}. Pass one echo / "
                               f"the combined SWI image.")
    stage("preprocess", 0.05, f"{image.shape[::-1]} voxels, spacing {np.round(geometry.spacing, 3).tolist()} mm")
    prob, _ = predict_volume(predictor, image, geometry.spacing[::-1], options.crop_to_head, stage)
    stage("postprocess", 0.82, "finding candidates")
    limits = CandidateLimits(threshold=options.threshold, min_confidence=options.min_confidence)
    mask = None
    if options.brain_mask:
        from ..candidates import brain_mask

        mask = brain_mask(image, geometry.spacing[::-1])
    records, comp = find_candidates(prob.astype(np.float32), geometry, image, limits, brain_mask=mask)
    stage("write", 0.88, f"{len(records)} candidates; writing {out}")
    out.mkdir(parents=True, exist_ok=True)
    files = {"cmbs_csv": str(write_records_csv(records, out / "cmbs.csv")),
             "prob": str(write_image(prob.astype(np.float32), geometry, out / "prob.nii.gz"))}
    seg_node = None
    if options.write_segmentation:
        from ..scene import headless_context
        from ..segments import create_cmb_segmentation, save_segmentation
        from ..volumes import geometry_of_node, volume_node_from_array

        ctx = ctx or headless_context()
        vol = volume_node_from_array(ctx, image, geometry, cid)
        if not geometry_of_node(vol).same_as(geometry):
            raise RuntimeError(f"{input_path}: volume node geometry differs from the file's")
        seg_node = create_cmb_segmentation(ctx, vol, comp, records, name=f"{cid} CMBs")
        files["segmentation"] = str(save_segmentation(seg_node, out / "cmbs.seg.nrrd"))
    seconds = time.perf_counter() - t0
    _write_case_json(out, input_path, geometry, model_record, options, len(records), seconds)
    files["case_json"] = str(out / "case.json")
    stage("case_done", 1.0, f"{len(records)} CMB candidates in {seconds:.1f} s")
    return CaseResult(cid, str(input_path), str(out), len(records), seconds, "", files), seg_node


def _sha256(path: Path) -> str:
    if path.is_dir():
        return ""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_case_json(out: Path, input_path: Path, geometry, model: dict, options: RunOptions, n: int,
                     seconds: float) -> None:
    import json

    from .. import __version__
    from ..atomic import atomic_write_json

    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    path = out / "case.json"
    old: dict = {}
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except ValueError:
            old = {}
    doc = dict(old)
    doc.update({
        "schema_version": CASE_SCHEMA_VERSION,
        "software": {"name": "CMBQuant", "version": __version__},
        "case_id": out.name,
        "input": {"file": str(input_path.resolve()), "sha256": _sha256(input_path)},
        "geometry": {"ijk_to_ras": np.asarray(geometry.ijk_to_ras).tolist(), "shape_kji": list(geometry.shape),
                     "spacing_ijk": np.asarray(geometry.spacing).tolist()},
        "model": model,
        "detection": {"threshold": options.threshold, "min_confidence": options.min_confidence,
                      "crop_to_head": options.crop_to_head, "brain_mask": options.brain_mask,
                      "n_candidates": n, "seconds": round(seconds, 2)},
        "created": old.get("created", now),
        "updated": now,
    })
    atomic_write_json(path, doc)


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


def options_from_args(args: argparse.Namespace) -> RunOptions:
    return RunOptions(
        model=args.model, folds=tuple(args.folds) if args.folds else None, checkpoint=args.checkpoint,
        configuration=args.configuration, device=args.device, step_size=args.step_size, mirroring=args.mirroring,
        threshold=args.threshold, min_confidence=args.min_confidence, crop_to_head=args.crop_to_head,
        brain_mask=getattr(args, "brain_mask", True), trust_checkpoint=args.trust_checkpoint)


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
