"""``cmbquant train CASES_OR_DATASET --out NAME``: reviewed cases -> nnU-Net (its own planner and trainer) -> a NEW
model in the store, with the base model's CMB filter carried over. Progress on stderr; Ctrl-C cancels the worker.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from CMBQuantLib.detection.nnunet.device import CHOICES as DEVICE_CHOICES
from CMBQuantLib.detection.nnunet.device import choose_device
from CMBQuantLib.detection.nnunet.model_store import (
    DEMO_MODEL_NAME,
    ModelError,
    home_dir,
    resolve_model,
    validate_model,
)
from CMBQuantLib.training.nnunet_planning import PLAN_CHOICES, estimate, resolve_plan
from CMBQuantLib.training.reviewed_training import (
    TrainingData,
    TrainJob,
    check_new_model_name,
    import_trained,
    is_raw_dataset,
    nnunet_entry_name,
    prepare_data,
    retrain_filter,
    start_worker,
)

CPU_SCHEDULE = (40, 25)  # epochs x iterations: the demo model's schedule (1000 iterations, minutes on a CPU)
NNUNET_SCHEDULE = (1000, 250)  # nnU-Net's own default on a GPU


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", type=Path, nargs="+", help="reviewed case folders, batch output folders holding them, "
                   "or one nnU-Net raw dataset folder (DatasetXXX_Name with dataset.json, imagesTr/, labelsTr/)")
    p.add_argument("--out", required=True, metavar="NAME",
                   help="name of the new model in the store (never overwritten)")
    p.add_argument("--base", default=DEMO_MODEL_NAME, help="model whose CMB filter the new model carries over "
                   f"(default {DEMO_MODEL_NAME}); recorded as the parent")
    p.add_argument("--retrain-filter", action="store_true",
                   help="also fine-tune the carried-over CMB filter on the same cases (train-filter's method): the "
                   "network is stored as NAME-nnunet, NAME holds it with the new filter")
    p.add_argument("--plan", choices=PLAN_CHOICES, default="auto",
                   help="auto: nnU-Net's default plans on a GPU, the small CPU plan otherwise")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    p.add_argument("--fold", default="all", help="nnU-Net fold: all (every case trains) or 0-4 (needs >= 5 cases)")
    p.add_argument("--epochs", type=int, help=f"default {CPU_SCHEDULE[0]} (CPU plan) / {NNUNET_SCHEDULE[0]} (default)")
    p.add_argument("--iterations-per-epoch", type=int,
                   help=f"default {CPU_SCHEDULE[1]} (CPU plan) / {NNUNET_SCHEDULE[1]} (default plan)")
    p.add_argument("--val-iterations", type=int, default=2, help="validation batches per epoch (default 2)")
    p.add_argument("--labels", choices=("definite", "definite+possible"), default="definite+possible",
                   help="which reviewed CMBs are labels (rejected and pending are background)")
    p.add_argument("--include-incomplete", action="store_true", help="also train on cases with pending CMBs")
    p.add_argument("--dataset-id", type=int, default=501, help="nnU-Net dataset id of the work copy (default 501)")
    p.add_argument("--work", type=Path, help="work folder (default $CMBQUANT_HOME/training/NAME); kept for the logs")
    p.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) - 1), help="torch CPU threads")
    p.add_argument("--estimate-only", action="store_true", help="prepare the data, print the estimate, stop")


def _prepare(args: argparse.Namespace) -> tuple[TrainJob, TrainingData, Path, str]:
    """Every check that can fail fast (names, fold, base model, labels) and the dataset: before minutes of work."""
    check_new_model_name(args.out)
    net_name = nnunet_entry_name(args.out, args.retrain_filter)
    check_new_model_name(net_name)
    if args.retrain_filter and len(args.inputs) == 1 and is_raw_dataset(args.inputs[0]):
        raise ValueError(f"{args.inputs[0]}: --retrain-filter learns from reader decisions, which an nnU-Net raw "
                         "dataset does not hold. Pass the reviewed case folders, or drop --retrain-filter.")
    fold = _fold(args.fold)
    base = validate_model(resolve_model(args.base)).folder
    work = args.work or home_dir() / "training" / args.out
    statuses = ("definite",) if args.labels == "definite" else ("definite", "possible")
    data = prepare_data(args.inputs, work, args.out, args.dataset_id, statuses, args.include_incomplete)
    if fold != "all" and len(data.cases) < 5:
        raise ValueError(f"--fold {fold}: nnU-Net's 5-fold split needs >= 5 cases, got {len(data.cases)}. "
                         "Pass --fold all.")
    device = choose_device(args.device)
    if device.warning:
        print(f"warning: {device.warning}", file=sys.stderr)
    plan = resolve_plan(args.plan, device.name)
    epochs, per_epoch = CPU_SCHEDULE if plan == "cpu" else NNUNET_SCHEDULE
    job = TrainJob(work, data.folder.name, plan, device.name, fold, args.epochs or epochs,
                   args.iterations_per_epoch or per_epoch, args.val_iterations, args.threads)
    return job, data, base, net_name


def run(args: argparse.Namespace) -> int:
    try:
        job, data, base, net_name = _prepare(args)
    except (ModelError, ValueError, FileNotFoundError) as exc:
        print(f"cmbquant train: error: {exc}", file=sys.stderr)
        return 2
    for s in data.skipped:
        print(f"skipped {s}", file=sys.stderr)
    print(f"{len(data.cases)} training cases ({data.source}): {', '.join(data.cases)}")
    est = estimate(job.plan, job.device, job.epochs, job.iterations_per_epoch, job.val_iterations, len(data.cases))
    print(est.line())
    if args.estimate_only:
        return 0
    result = _run_worker(job)
    if result is None:
        return 130
    if not result.get("ok"):
        print(f"cmbquant train: error: training failed: {result.get('error')} (log: {job.work / 'results'})",
              file=sys.stderr)
        return 2
    version = import_trained(result, net_name, args.base, base, data, job)
    if args.retrain_filter:
        print(f"network stored as {version.label()}; retraining its CMB filter on the reviewed cases", file=sys.stderr)
        version = retrain_filter(args.inputs, net_name, args.out, progress=_say)
    print(f"trained in {result['seconds']:.0f} s ({result['seconds_per_iteration']:.2f} s/iteration), "
          f"final train loss {result['train_loss']:.3f}")
    how = "retrained" if args.retrain_filter else version.notes["filter"]["source"]
    print(f"new model {version.label()}, CMB filter {how}: cmbquant run SWI --model {args.out}")
    return 0


def _say(stage: str, fraction: float, message: str) -> None:
    print(f"[filter {100 * min(max(fraction, 0.0), 1.0):5.1f}%] {stage}: {message}", file=sys.stderr, flush=True)


def _fold(text: str) -> str:
    if text == "all" or text in {"0", "1", "2", "3", "4"}:
        return text
    raise ValueError(f"--fold {text!r}: use all or 0-4.")


def _run_worker(job: TrainJob) -> dict | None:
    """Start the worker, print its progress, return its result (None when cancelled with Ctrl-C)."""
    client = start_worker(job)
    t0 = time.monotonic()
    try:
        while client.running() or not client.events.empty():
            for ev in client.poll():
                if ev.type == "progress":
                    print(f"[{ev.percent:5.1f}% {time.monotonic() - t0:4.0f} s] {ev.stage}: {ev.message}",
                          file=sys.stderr, flush=True)
                elif ev.type == "error":
                    print(f"error: {ev.message}", file=sys.stderr)
            time.sleep(0.2)
        client.wait()
    except KeyboardInterrupt:
        client.cancel()
        print("cmbquant train: cancelled; nothing was imported", file=sys.stderr)
        return None
    result = client.result()
    if result is None:
        tail = "\n".join(list(client.stderr_tail)[-15:])
        return {"ok": False, "error": f"the worker ended without a result:\n{tail}"}
    if not result.get("ok"):
        result["error"] = f"{result.get('error')}\n" + "\n".join(list(client.stderr_tail)[-15:])
    return result
