"""The nnU-Net model as a batch ``Segmenter``: so ``cmbquant run``, ``batch`` and the Slicer worker share one path."""

from __future__ import annotations

from typing import Any

import numpy as np

from CMBQuantLib.detection.nnunet.prediction import StageFn, predict_volume


class NNUNetSegmenter:
    """A loaded predictor (loaded once, reused for every case) returning float16 foreground probabilities."""

    def __init__(self, predictor: Any, model_info: dict, crop_to_head: bool = True, cmb_filter: Any = None):
        self.predictor = predictor
        self.model_info = model_info
        self.crop_to_head = crop_to_head
        self.cmb_filter = cmb_filter  # stage 2 (detection.cmb_filter.CMBFilter) or None: one-stage nnU-Net
        self.stage: StageFn | None = None  # set per case to forward tile progress

    def segment(self, image: np.ndarray, geometry) -> np.ndarray:
        prob, _ = predict_volume(self.predictor, image, geometry.spacing[::-1], self.crop_to_head, self.stage)
        return prob

