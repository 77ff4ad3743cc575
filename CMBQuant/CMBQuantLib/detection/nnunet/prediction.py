"""nnU-Net on one volume: load a validated model (and its CMB filter) once, then predict a float16 probability map.

The network runs on the voxel grid as stored (nnU-Net ignores orientation), so every output keeps the input's exact
geometry, oblique and anisotropic grids included. Inference is restricted to the head's bounding box (+10 mm):
outside the head there are no CMBs, and on a CPU the air around the head is 30-60 % of the tiles.
"""
from __future__ import annotations

from typing import Callable, Protocol

import numpy as np
from scipy import ndimage

from CMBQuantLib.detection.nnunet.filter_select import select_filter
from CMBQuantLib.detection.nnunet.model_store import DEMO_MODEL_NAME, checkpoint_sha256, resolve_model, validate_model
from CMBQuantLib.detection.nnunet.predictor import CMBPredictor, PredictorOptions, p99_scale

StageFn = Callable[[str, float, str], None]  # (stage, fraction of this case, message)


class ModelChoice(Protocol):
    """What model loading reads from a run's options (``pipeline.run_options.RunOptions`` is one)."""
    model: str | None
    folds: tuple[str, ...] | None
    checkpoint: str
    configuration: str | None
    device: str
    step_size: float | None
    mirroring: bool | None
    trust_checkpoint: bool
    filter: str
    filter_threshold: float | None


def load_predictor(options: ModelChoice):
    """Validate then load the model once (seconds); returns the predictor and the model record for case.json."""

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


def load_run_filter(options: ModelChoice, model_record: dict):
    """The CMB filter of a run (None: one-stage nnU-Net), recorded in the model record for case.json."""

    cmb_filter = select_filter(options.filter, model_record.get("folder"), options.filter_threshold)
    model_record["filter"] = cmb_filter.info() if cmb_filter is not None else None
    return cmb_filter


def head_box(image: np.ndarray, spacing_kji: np.ndarray, margin_mm: float = 10.0) -> tuple[slice, slice, slice]:
    """Bounding box of the head: voxels above 15 % of the 99th percentile, largest blob, + margin."""

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

    pred = predictor.predict(sub, spacing_kji, cb, scale=p99_scale(image))
    prob = np.zeros(image.shape, np.float16)
    labels = np.zeros(image.shape, np.uint8)
    prob[box] = pred.probability
    labels[box] = pred.labels
    return prob, labels

