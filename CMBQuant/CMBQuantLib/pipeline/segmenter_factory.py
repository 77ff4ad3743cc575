"""``cmbquant batch``'s default segmenter: the nnU-Net model named by ``--model`` with its CMB filter, loaded once."""
from __future__ import annotations

from typing import Any

from CMBQuantLib.detection.nnunet.prediction import load_predictor, load_run_filter
from CMBQuantLib.detection.nnunet.segmenter import NNUNetSegmenter
from CMBQuantLib.pipeline.run_options import RunOptions


def create_segmenter(model: str | None = None, device: str = "auto", **options: Any) -> NNUNetSegmenter:
    """The batch command's default factory: ``--model`` (None = shipped demo model) on ``--device``."""

    opts = RunOptions(model=model, device=device, **options)
    predictor, record = load_predictor(opts)
    return NNUNetSegmenter(predictor, record, opts.crop_to_head, cmb_filter=load_run_filter(opts, record))

