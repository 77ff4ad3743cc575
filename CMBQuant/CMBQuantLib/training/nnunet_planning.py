"""nnU-Net v2's own planning for a reviewed dataset (fingerprint + ``ExperimentPlanner``), the documented small CPU
configuration in place of the default network when no GPU is present, and the time estimate printed before training.

The default planner's network (16-31 M parameters) needs ~11 s per training iteration on a 2-core CPU; the small
configuration of ``plans.small_plans`` (~0.35 M parameters) needs ~0.2 s. The planner's spacing, transposition and
fingerprint are kept either way; only the 3d_fullres network, patch and batch are replaced on a CPU.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Any

from CMBQuantLib.training.plans import CONFIGURATION, PATCH_SIZE, small_plans

PLAN_CHOICES = ("auto", "default", "cpu")
# Seconds per training iteration (one batch forward + backward), by (plan, device):
# cpu/cpu (0.2-0.3 s, idle) and default/cpu measured on this project's 2-core machine (docs/training.md, nnunet-notes;
# ~1 s under a load of 6-8 from other jobs);
# the GPU figures are nnU-Net's typical 3d_fullres epoch (~2-3 min per 250 iterations), NOT measured here.
SECONDS_PER_ITERATION = {("cpu", "cpu"): 0.25, ("default", "cpu"): 11.0, ("cpu", "cuda"): 0.05,
                         ("default", "cuda"): 0.6, ("cpu", "mps"): 0.15, ("default", "mps"): 3.0}
STARTUP_S = 45.0  # worker start, nnU-Net's fingerprint pool (re-imports torch), planner, trainer start: 30-80 s here
PREPROCESS_S_PER_CASE = 3.0  # nnU-Net's preprocessor on one ~1-3 M voxel SWI on this CPU


@dataclass(frozen=True)
class TrainingEstimate:
    """What the command prints before it starts: plan, device, iterations and the expected wall time."""

    plan: str
    device: str
    epochs: int
    iterations_per_epoch: int
    val_iterations_per_epoch: int
    n_cases: int
    seconds_per_iteration: float

    @property
    def iterations(self) -> int:
        return self.epochs * (self.iterations_per_epoch + self.val_iterations_per_epoch)

    @property
    def seconds(self) -> float:
        return STARTUP_S + PREPROCESS_S_PER_CASE * self.n_cases + self.iterations * self.seconds_per_iteration

    def line(self) -> str:
        return (f"estimate: {self.plan} plan on {self.device}, {self.n_cases} cases, {self.epochs} epochs x "
                f"{self.iterations_per_epoch} iterations (+{self.val_iterations_per_epoch} validation) at "
                f"~{self.seconds_per_iteration:g} s/iteration -> about {format_duration(self.seconds)}")


def format_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def resolve_plan(plan: str, device: str) -> str:
    """``auto``: nnU-Net's default plans on a GPU, the small CPU plan otherwise."""
    if plan not in PLAN_CHOICES:
        raise ValueError(f"unknown plan {plan!r}: use one of {', '.join(PLAN_CHOICES)}")
    if plan == "auto":
        return "default" if device.startswith("cuda") else "cpu"
    return plan


def estimate(plan: str, device: str, epochs: int, iterations_per_epoch: int, val_iterations: int,
             n_cases: int) -> TrainingEstimate:
    dev = "cuda" if device.startswith("cuda") else device
    return TrainingEstimate(plan, device, epochs, iterations_per_epoch, val_iterations, n_cases,
                            SECONDS_PER_ITERATION[(plan, dev)])


def plan_with_nnunet(dataset_id: int) -> dict[str, Any]:
    """nnU-Net's fingerprint extraction and default ``ExperimentPlanner`` (needs ``nnUNet_raw`` /
    ``nnUNet_preprocessed`` set before nnU-Net is first imported); writes ``nnUNetPlans.json`` and returns it."""
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprint_dataset,
        plan_experiment_dataset,
    )

    # no integrity check: the dataset is our own copy, written by prepare_data (it costs one more worker pool)
    extract_fingerprint_dataset(dataset_id, num_processes=1, check_dataset_integrity=False, clean=True,
                                verbose=False, show_progress_bar=False)
    n_da = os.environ.get("nnUNet_n_proc_DA")
    if n_da == "0":  # the planner sets torch's thread count to this while it sizes networks: 0 is an error there
        os.environ["nnUNet_n_proc_DA"] = "1"
    try:
        plans, _ = plan_experiment_dataset(dataset_id)
    finally:
        if n_da is not None:
            os.environ["nnUNet_n_proc_DA"] = n_da
    if CONFIGURATION not in plans["configurations"]:
        raise ValueError(f"nnU-Net's planner made no {CONFIGURATION} configuration for dataset {dataset_id} "
                         f"(has: {', '.join(plans['configurations'])}); CMBQuant predicts with {CONFIGURATION}.")
    return plans


def training_plans(planned: dict[str, Any], plan: str, normalization: str = "NoNormalization") -> dict[str, Any]:
    """The plans the trainer gets: the planner's 3d_fullres only; ``cpu``: the small network, patch and batch of
    ``plans.small_plans`` at the planner's target spacing. ``normalization`` replaces the per-image scheme (CMBQuant
    divides every input by its 99th percentile, as for the demo model, so crops and whole heads match)."""
    plans = copy.deepcopy(planned)
    cfg = dict(plans["configurations"][CONFIGURATION])
    if plan == "cpu":
        spacing = tuple(float(s) for s in cfg["spacing"])
        median = [int(x) for x in cfg.get("median_image_size_in_voxels", PATCH_SIZE)]
        small = small_plans(spacing=spacing)["configurations"][CONFIGURATION]
        patch = [min(p, _round_up(m, 16)) for p, m in zip(PATCH_SIZE, median)]
        cfg.update(architecture=small["architecture"], patch_size=patch, batch_size=2)
        plans["experiment_planner_used"] = (f"{plans.get('experiment_planner_used', 'ExperimentPlanner')} + "
                                            "CMBQuant small CPU configuration (training/plans.py)")
    cfg["normalization_schemes"] = [normalization] * len(cfg.get("normalization_schemes", [normalization]))
    cfg["use_mask_for_norm"] = [False] * len(cfg["normalization_schemes"])
    plans["configurations"] = {CONFIGURATION: cfg}
    return plans


def _round_up(n: int, m: int) -> int:
    return max(m, -(-n // m) * m)
