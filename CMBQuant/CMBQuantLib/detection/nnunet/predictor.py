"""A loaded nnU-Net v2 model that predicts CMB probability maps from numpy arrays, loaded once per process.

Defaults (``step_size``/``mirroring`` None = chosen by device):
- GPU: step 0.5, mirroring on — overlapping tiles average out border effects and test-time mirroring (8 network
  passes for 3 axes) steadies the probability of 2-3 mm CMBs, which sit on a few voxels.
- CPU: step 1.0, mirroring off — about 16x fewer network passes (minutes instead of an hour on real-size models);
  tile borders are Gaussian-weighted anyway. Choose 0.5/on explicitly when time allows.

Checkpoint trust: checkpoints are pickles. They are loaded with ``torch.load(weights_only=True)`` (tensors and plain
containers only; cannot run code). A full training checkpoint (optimiser state, logs) may need full unpickling: that
is refused unless ``trust_checkpoint=True``, because unpickling runs arbitrary code from the file.
"""
from __future__ import annotations

import json
import logging
import os
import pickle
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from CMBQuantLib.detection.nnunet.device import DeviceChoice, choose_device
from CMBQuantLib.detection.nnunet.model_store import ModelError, ModelSpec

log = logging.getLogger(__name__)
ProgressFn = Callable[[float, str], None]  # (fraction 0..1 of this case, message)


@dataclass
class PredictorOptions:
    device: str = "auto"
    step_size: float | None = None  # None: 0.5 on GPU, 1.0 on CPU
    mirroring: bool | None = None  # None: on for GPU, off for CPU
    trust_checkpoint: bool = False  # allow full unpickling when weights_only loading fails
    threads: int | None = None  # CPU threads; None = all cores


@dataclass
class Prediction:
    probability: np.ndarray  # float16 [k, j, i], foreground (label 1) probability
    labels: np.ndarray  # uint8 [k, j, i], nnU-Net's argmax segmentation (1 = CMB)
    seconds: float = 0.0
    n_tiles: int = 0


@dataclass
class LoadedInfo:
    device: DeviceChoice
    step_size: float
    mirroring: bool
    torch_version: str
    cuda_version: str
    load_seconds: float
    weights_only: bool
    extra: dict = field(default_factory=dict)


def resolve_defaults(options: PredictorOptions, device: str) -> tuple[float, bool]:
    gpu = device != "cpu"
    step = options.step_size if options.step_size is not None else (0.5 if gpu else 1.0)
    mirror = options.mirroring if options.mirroring is not None else gpu
    if not 0.1 <= step <= 1.0:
        raise ValueError(f"step size {step} must be within 0.1-1.0 (0.5 = half-tile overlap, 1.0 = no overlap)")
    return step, mirror


def load_checkpoint(path, trust: bool = False) -> tuple[dict, bool]:
    """``(checkpoint, loaded_weights_only)``; see the module docstring for the trust rule."""

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True), True
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError) as exc:
        if not trust:
            raise ModelError(f"{path}: cannot be loaded safely (weights only: {str(exc).splitlines()[0][:160]}). "
                             f"Checkpoints are pickles that can run code; if you trust its source, allow full "
                             f"loading (--trust-checkpoint / 'Trust checkpoint'), or re-export it inference-only.") from exc
        log.warning("%s: loading with full unpickling (trusted by the user)", path)
        return torch.load(path, map_location="cpu", weights_only=False), False


class CMBPredictor:
    """nnU-Net's ``nnUNetPredictor`` built from a validated :class:`ModelSpec`; reuse it for every case."""

    def __init__(self, spec: ModelSpec, options: PredictorOptions | None = None):
        t0 = time.perf_counter()
        self.spec = spec
        self.options = options or PredictorOptions()
        n_cores = os.cpu_count() or 1
        os.environ["nnUNet_def_n_proc"] = str(n_cores)  # =1 silently makes nnU-Net single-threaded
        import torch

        dev = choose_device(self.options.device)
        if dev.name == "cpu":
            torch.set_num_threads(self.options.threads or n_cores)
        step, mirror = resolve_defaults(self.options, dev.name)
        self._predictor, weights_only = _build_predictor(spec, torch.device(dev.name), step, mirror,
                                                         self.options.trust_checkpoint)
        self.info = LoadedInfo(dev, step, mirror, torch.__version__, torch.version.cuda or "",
                               time.perf_counter() - t0, weights_only)

    @property
    def input_scaling(self) -> str:
        """'p99' when the model expects inputs divided by their 99th percentile (dataset.json), else ''."""
        return str(self._predictor.dataset_json.get("cmbquant_input_scaling", "") or "")

    def predict(self, image: np.ndarray, spacing_kji: tuple[float, float, float] | np.ndarray,
                progress: ProgressFn | None = None, scale: float | None = None) -> Prediction:
        """Foreground probability (float16) and labels (uint8) for a [k, j, i] array with spacing in k, j, i order.

        ``scale``: the divisor for models with ``p99`` input scaling, computed on the whole volume when ``image`` is a
        crop of it (default: this array's own 99th percentile)."""
        t0 = time.perf_counter()
        arr = np.asarray(image, dtype=np.float32)[None]  # (c, k, j, i): nnU-Net's SimpleITK axis order
        if self.input_scaling == "p99":
            arr = arr / (scale if scale is not None else p99_scale(image))
        props = {"spacing": [float(s) for s in spacing_kji]}
        self._predictor.progress_fn = progress
        try:
            seg, probs = self._predictor.predict_single_npy_array(arr, props, None, None, True)
        finally:
            self._predictor.progress_fn = None
        fg = probs[1] if probs.shape[0] > 1 else probs[0]
        return Prediction(np.asarray(fg, dtype=np.float16), (np.asarray(seg) == 1).astype(np.uint8),
                          time.perf_counter() - t0, self._predictor.tiles_done)


def p99_scale(image: np.ndarray) -> float:
    """99th intensity percentile (every 2nd voxel): the CSF level in SWI, unaffected by air around the head."""
    v = float(np.percentile(np.asarray(image)[::2, ::2, ::2], 99))
    return v if v > 0 else 1.0


def _predictor_class():
    """nnUNetPredictor plus a per-tile progress callback (defined lazily: importing nnunetv2 costs seconds)."""
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    class ProgressPredictor(nnUNetPredictor):
        progress_fn: ProgressFn | None = None
        tiles_total = 0
        tiles_done = 0

        def predict_logits_from_preprocessed_data(self, data):
            self.tiles_done = 0
            if self.progress_fn:
                self.progress_fn(0.0, "predicting")
            return super().predict_logits_from_preprocessed_data(data)

        def _internal_get_sliding_window_slicers(self, image_size):
            slicers = super()._internal_get_sliding_window_slicers(image_size)
            self.tiles_total = len(slicers) * max(1, len(self.list_of_parameters or [1]))
            return slicers

        def _internal_maybe_mirror_and_predict(self, x):
            out = super()._internal_maybe_mirror_and_predict(x)
            self.tiles_done += 1
            if self.progress_fn and self.tiles_total:
                self.progress_fn(min(1.0, self.tiles_done / self.tiles_total),
                                 f"tile {self.tiles_done}/{self.tiles_total}")
            return out

    return ProgressPredictor


def _build_predictor(spec: ModelSpec, device, step: float, mirror: bool, trust: bool):

    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    dataset = json.loads((spec.folder / "dataset.json").read_text())
    plans_manager = PlansManager(json.loads((spec.folder / "plans.json").read_text()))
    cm = plans_manager.get_configuration(spec.configuration)
    params, all_wo = [], True
    mirror_axes = None
    trainer_name = "nnUNetTrainer"
    for i, path in enumerate(spec.checkpoints):
        ckpt, wo = load_checkpoint(path, trust)
        all_wo &= wo
        if "network_weights" not in ckpt:
            raise ModelError(f"{path}: no 'network_weights' in the checkpoint. It is not an nnU-Net v2 checkpoint.")
        if i == 0:
            trainer_name = ckpt.get("trainer_name", trainer_name)
            axes = ckpt.get("inference_allowed_mirroring_axes")
            mirror_axes = tuple(axes) if axes is not None else None
        params.append(ckpt["network_weights"])
    n_in = determine_num_input_channels(plans_manager, cm, dataset)
    n_out = plans_manager.get_label_manager(dataset).num_segmentation_heads
    # The network is defined by the plans; nnUNetTrainer builds it without importing custom trainers (whose
    # lookup imports timm/torchvision). Custom trainers that change the network are not supported.
    network = nnUNetTrainer.build_network_architecture(plans_manager, cm, n_in, n_out, enable_deep_supervision=False)
    try:
        network.load_state_dict(params[0])
    except RuntimeError as exc:
        raise ModelError(f"{spec.checkpoints[0]}: weights do not fit the network in plans.json "
                         f"({str(exc).splitlines()[0][:200]}). The checkpoint and plans come from different "
                         f"trainings, or the trainer changed the network ({trainer_name}).") from exc
    cls = _predictor_class()
    pred = cls(tile_step_size=step, use_gaussian=True, use_mirroring=mirror,
               perform_everything_on_device=device.type == "cuda",
               device=device, verbose=False, verbose_preprocessing=False, allow_tqdm=False)
    pred.manual_initialization(network, plans_manager, cm, params, dataset, trainer_name, mirror_axes)
    return pred, all_wo
