"""The nnU-Net training worker: nnU-Net's planner, preprocessor and trainer on a prepared dataset, in a subprocess.

    python -m CMBQuantLib.training.training_worker WORK/job.json

Started by ``reviewed_training.start_worker`` (nnU-Net's folders are in its environment before nnU-Net is imported;
cancel ends its process group). stdout carries only the JSON progress protocol of ``pipeline/progress.py``;
whatever nnU-Net prints goes to stderr. The result (``WORK/result.json``) names the inference-only model folder.
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from CMBQuantLib.core.atomic import atomic_write_json
from CMBQuantLib.pipeline.progress import ProgressWriter
from CMBQuantLib.training.nnunet_planning import plan_with_nnunet, training_plans
from CMBQuantLib.training.nnunet_preprocess import preprocess_dataset
from CMBQuantLib.training.plans import CONFIGURATION
from CMBQuantLib.training.reviewed_training import TrainJob

EpochFn = Callable[[int, int, float, float], None]  # (epochs done, epochs, seconds so far, last train loss)


def preprocess(work: Path, dataset: str, plans: dict[str, Any]) -> int:
    """nnU-Net's DefaultPreprocessor in-process (no worker pool) on every case, for ``plans``."""
    return preprocess_dataset(work / "raw" / dataset, work / "preprocessed" / dataset, plans, plans["plans_name"])


def train(job: TrainJob, plans: dict[str, Any], on_epoch: EpochFn | None = None) -> dict[str, Any]:
    """nnU-Net's trainer (the demo schedule: ``epochs`` x ``iterations_per_epoch``); returns timings and the loss."""
    import torch

    from CMBQuantLib.training.progress_trainer import ReviewedCasesTrainer

    torch.set_num_threads(max(1, job.threads))
    pre = job.work / "preprocessed" / job.dataset
    ds = json.loads((pre / "dataset.json").read_text())
    fold: str | int = job.fold if job.fold == "all" else int(job.fold)
    plans = {**plans, "continue_training": False}  # nnU-Net's trainer pops this key (run_training.py sets it)
    trainer = ReviewedCasesTrainer(plans, CONFIGURATION, fold, ds, device=torch.device(job.device))
    trainer.num_epochs = job.epochs
    trainer.num_iterations_per_epoch = job.iterations_per_epoch
    trainer.num_val_iterations_per_epoch = job.val_iterations
    trainer.save_every = max(job.epochs, 1)  # checkpoint_latest only at the end (checkpoint_final is written anyway)
    trainer.on_epoch = on_epoch
    t0 = time.time()
    trainer.run_training()
    seconds = time.time() - t0
    n_iter = job.epochs * (job.iterations_per_epoch + job.val_iterations)
    return {"checkpoint": str(Path(trainer.output_folder) / "checkpoint_final.pth"), "seconds": round(seconds, 1),
            "seconds_per_iteration": round(seconds / max(n_iter, 1), 3),
            "train_loss": float(trainer.logger.get_value("train_losses", step=-1)),
            "n_parameters": int(sum(p.numel() for p in trainer.network.parameters()))}


def run(job: TrainJob, writer: ProgressWriter) -> dict[str, Any]:
    """Plan (nnU-Net) -> plans for this machine -> preprocess -> train -> inference-only model folder."""
    from nnunetv2.utilities.dataset_name_id_conversion import convert_dataset_name_to_id

    from CMBQuantLib.training.export import write_model_folder

    writer.emit("plan", 2.0, f"nnU-Net fingerprint + planner on {job.dataset}")
    planned = plan_with_nnunet(convert_dataset_name_to_id(job.dataset))
    plans = training_plans(planned, job.plan)
    cfg = plans["configurations"][CONFIGURATION]
    spacing = [round(float(x), 2) for x in cfg["spacing"]]
    writer.emit("preprocess", 10.0, f"{job.plan} plan: patch {cfg['patch_size']}, spacing {spacing}, "
                f"features {cfg['architecture']['arch_kwargs']['features_per_stage']}")
    n = preprocess(job.work, job.dataset, plans)
    writer.emit("train", 20.0, f"preprocessed {n} cases; training {job.epochs} epochs x {job.iterations_per_epoch}")

    def epoch_done(done: int, total: int, seconds: float, loss: float) -> None:
        left = seconds / done * (total - done)
        writer.emit("train", 20.0 + 75.0 * done / total, f"epoch {done}/{total}: train loss {loss:.3f}, "
                    f"{seconds / done:.1f} s/epoch, ~{left:.0f} s left", epoch=done, seconds=round(seconds, 1))

    result = train(job, plans, epoch_done)
    ds = json.loads((job.work / "raw" / job.dataset / "dataset.json").read_text())
    model = write_model_folder(job.work / "model", plans, ds, weights_src=Path(result["checkpoint"]),
                               fold=job.fold)
    writer.emit("export", 98.0, f"inference-only model folder {model}")
    return {**result, "ok": True, "model_folder": str(model), "configuration": CONFIGURATION}


def main(argv: list[str] | None = None) -> int:
    proto = os.fdopen(os.dup(1), "w", buffering=1)  # protocol lines on the real stdout, library prints to stderr
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    args = sys.argv[1:] if argv is None else argv
    job = TrainJob.read(Path(args[0]))
    writer = ProgressWriter(proto)
    writer.emit("start", 0.0, f"training worker pid {os.getpid()}", pid=os.getpid())
    try:
        result = run(job, writer)
    except Exception as exc:  # reported to the client, which prints it; the traceback goes to stderr
        traceback.print_exc()
        writer.error(f"{type(exc).__name__}: {exc}")
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    atomic_write_json(job.work / "result.json", result)
    writer.result(str(job.work / "result.json"), bool(result["ok"]))
    return 0 if result["ok"] else 2


if __name__ == "__main__":
    sys.exit(main())
