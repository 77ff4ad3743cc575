"""The options of a run (one parameter pack for the CLI, the worker, batch and Slicer) and its per-case result."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from CMBQuantLib.detection.nnunet.model_store import DEFAULT_CHECKPOINT, DEMO_MODEL_NAME
from CMBQuantLib.detection.nnunet.prediction import StageFn  # noqa: F401  (re-exported: the run's progress callback)

DEFAULT_THRESHOLD = 0.5


DEFAULT_MIN_CONFIDENCE = 0.6  # components whose mean probability is below this are flagged low_confidence


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
    phase: str | None = None  # the SWI phase image (one input), or a folder of <case_id>* phase images


@dataclass
class CaseResult:
    case_id: str
    input: str
    out_dir: str
    n_cmbs: int = 0
    seconds: float = 0.0
    error: str = ""
    files: dict[str, str] = field(default_factory=dict)


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
    parser.add_argument("--phase", default=None, metavar="PHASE_FILE",
                        help="the SWI phase image of the same acquisition (shown beside the magnitude in review; "
                             "resampled to the SWI grid into the case as phase.nii.gz), or a folder of "
                             "<case_id>* phase images for several inputs")
    parser.add_argument("--atlas-source", default="auto", choices=["auto", "syn", "bspline", "mars", "aparcaseg"],
                        help="template path (auto: the MNI aparc+aseg warped into the SWI when antspyx is installed, "
                             "else affine with the aparc+aseg or MARS atlas; docs/regions.md)")


def options_from_args(args: argparse.Namespace) -> RunOptions:
    return RunOptions(
        model=args.model, folds=tuple(args.folds) if args.folds else None, checkpoint=args.checkpoint,
        configuration=args.configuration, device=args.device, step_size=args.step_size, mirroring=args.mirroring,
        threshold=args.threshold, min_confidence=args.min_confidence, crop_to_head=args.crop_to_head,
        trust_checkpoint=args.trust_checkpoint, regions=args.regions, parcellation=args.parcellation,
        atlas_source=args.atlas_source, brain_mask=getattr(args, "brain_mask", True),
        filter=getattr(args, "filter", "auto"), filter_threshold=getattr(args, "filter_threshold", None),
        phase=getattr(args, "phase", None))
