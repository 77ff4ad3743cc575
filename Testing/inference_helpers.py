"""Shared builders for the inference tests: model folders written by hand in well under a second."""
from __future__ import annotations

import json
from pathlib import Path


def write_fake_model(root: Path, channels: int = 1, labels: dict | None = None, folds=("0",),
                     checkpoint_name: str = "checkpoint_final.pth", plans: bool = True, dataset: bool = True,
                     configuration: str = "3d_fullres") -> Path:
    """A model folder for validation tests (checkpoint bytes are not a real network)."""
    from CMBQuantLib.training.plans import small_plans

    folder = root / "Dataset777_Fake" / f"nnUNetTrainer__nnUNetPlans__{configuration}"
    folder.mkdir(parents=True)
    if dataset:
        (folder / "dataset.json").write_text(json.dumps({
            "channel_names": {str(i): f"ch{i}" for i in range(channels)},
            "labels": labels if labels is not None else {"background": 0, "cmb": 1},
            "numTraining": 1, "file_ending": ".nii.gz"}))
    if plans:
        p = small_plans()
        p["dataset_name"] = "Dataset777_Fake"
        (folder / "plans.json").write_text(json.dumps(p))
    for f in folds:
        (folder / f"fold_{f}").mkdir()
        if checkpoint_name:
            (folder / f"fold_{f}" / checkpoint_name).write_bytes(f"fake weights {f}".encode())
    return folder
