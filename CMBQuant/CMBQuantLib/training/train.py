"""The demo-model recipe, stage by stage: ``data``, ``testdata``, ``preprocess``, ``train``, ``export``, ``evaluate``.

    python -m CMBQuantLib.training.train --work /tmp/cmbq --stage all --shared ../shared

``--work`` holds nnUNet_raw / nnUNet_preprocessed / nnUNet_results and the held-out phantoms (never the repo).
The trainer class is imported directly (nnU-Net's trainer-name lookup imports timm/torchvision, which crash beside a
CPU-only torch), and the exported checkpoint stores ``trainer_name='nnUNetTrainer'`` (same network) for inference.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from CMBQuantLib.training.dataset import (
    Source,
    build_raw_dataset,
    small_cmb_centres,
    small_cmb_config,
    synthseg_maps,
    write_test_phantoms,
)
from CMBQuantLib.training.evaluate import evaluate_folder
from CMBQuantLib.training.export import export_demo_model
from CMBQuantLib.training.nnunet_preprocess import preprocess_dataset
from CMBQuantLib.training.plans import CONFIGURATION, DATASET_NAME, PLANS_NAME, dataset_json, small_plans
from CMBQuantLib.training.trainer import CMBQuantDemoTrainer

TRAIN_SYNTHSEG = 12  # maps 01-12 train, 13-14 are held out (unseen anatomy)


def _env(work: Path) -> None:
    for key, sub in (("nnUNet_raw", "raw"), ("nnUNet_preprocessed", "preprocessed"), ("nnUNet_results", "results")):
        os.environ[key] = str(work / sub)
        (work / sub).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("nnUNet_n_proc_DA", "1")
    os.environ.setdefault("nnUNet_compile", "false")


def training_sources(shared: Path) -> list[Source]:
    maps = synthseg_maps(shared)[:TRAIN_SYNTHSEG]
    return [Source(p, 10 + i) for i, p in enumerate(maps)] + [Source(None, 100 + i) for i in range(6)]


def test_sources(shared: Path) -> list[Source]:
    maps = synthseg_maps(shared)[TRAIN_SYNTHSEG:]
    return [Source(p, 500 + 10 * i + s) for i, p in enumerate(maps) for s in range(2)] + [Source(None, 600), Source(None, 601)]


def stage_data(work: Path, shared: Path) -> None:
    n = build_raw_dataset(work / "raw" / DATASET_NAME, training_sources(shared), crops_per_phantom=4, seed=1)
    print(f"raw dataset: {n} crops", flush=True)


def small_cmb_sources(shared: Path) -> list[Source]:
    """Run-4 extra phantoms: the training anatomy (maps 01-12, new seeds) and new procedural heads."""
    maps = synthseg_maps(shared)[:TRAIN_SYNTHSEG]
    return [Source(p, 40 + i) for i, p in enumerate(maps)] + [Source(None, 110 + i) for i in range(4)]


def stage_data_small(work: Path, shared: Path, part: int = 0, parts: int = 1, n_phantoms: int = 16,
                     crops_per_phantom: int = 6) -> None:
    """Append crops with many 2-4.5 mm CMBs and brain-surface crops (veins, CSF, air) after the existing cases.
    ``part``/``parts`` split the phantoms over processes (case numbers stay disjoint)."""

    raw = work / "raw" / DATASET_NAME
    base = int(json.loads((raw / "dataset.json").read_text())["numTraining"])  # cases before this stage
    srcs = small_cmb_sources(shared)[:n_phantoms]
    mine = srcs[part::parts]
    first = base + part * crops_per_phantom
    # interleaved assignment: phantom m of this part gets cases first + m * parts * crops_per_phantom ...
    for m, src in enumerate(mine):
        build_raw_dataset(raw, [src], crops_per_phantom, seed=1000 + src.seed, config_fn=small_cmb_config,
                          centres_fn=small_cmb_centres,
                          first_index=first + m * parts * crops_per_phantom, write_json=False)
    if part == parts - 1:
        total = base + len(srcs) * crops_per_phantom
        (raw / "dataset.json").write_text(json.dumps(dataset_json(total, scaling="p99"), indent=2))
    print(f"small-CMB data part {part}/{parts}: {len(mine)} phantoms", flush=True)


def stage_testdata(work: Path, shared: Path) -> None:
    write_test_phantoms(work / "test", test_sources(shared), unseen=False, seed=2)
    write_test_phantoms(work / "test", test_sources(shared)[::2] + [Source(None, 700)], unseen=True, seed=3)


def stage_preprocess(work: Path) -> None:
    """Hand-written plans + nnU-Net's own DefaultPreprocessor (in-process, no worker pool)."""
    pre = work / "preprocessed" / DATASET_NAME
    pre.mkdir(parents=True, exist_ok=True)
    (pre / "dataset_fingerprint.json").write_text(json.dumps({"note": "hand-written plans; no fingerprint"}))
    n = preprocess_dataset(work / "raw" / DATASET_NAME, pre, small_plans(normalization="NoNormalization"),
                           PLANS_NAME, skip_done=True)  # resume / appended cases only
    print(f"preprocessed {n} cases into {pre}", flush=True)


def stage_train(work: Path, iterations: int, budget_s: float | None = None, threads: int = 1,
                fold: str = "all", init_from: Path | None = None, initial_lr: float | None = None,
                oversample: float | None = None) -> Path:
    import torch


    torch.set_num_threads(threads)  # on a shared 2-core machine one thread was 4x faster than two (oversubscription)
    pre = work / "preprocessed" / DATASET_NAME
    plans = json.loads((pre / f"{PLANS_NAME}.json").read_text())
    plans["continue_training"] = False
    ds = json.loads((pre / "dataset.json").read_text())
    trainer = CMBQuantDemoTrainer(plans, CONFIGURATION, fold, ds, device=torch.device("cpu"))
    trainer.set_budget(iterations, budget_s)
    if initial_lr:
        trainer.initial_lr = initial_lr
    if oversample is not None:  # fraction of patches forced to contain a CMB
        trainer.oversample_foreground_percent = oversample
    if init_from:  # continue from an earlier run's weights (a fresh schedule, e.g. a lower learning rate)
        trainer.initialize()
        ckpt = torch.load(init_from, map_location="cpu", weights_only=False)  # our own checkpoint
        trainer.network.load_state_dict(ckpt["network_weights"])
        print(f"initialised from {init_from}", flush=True)
    t0 = time.time()
    trainer.run_training()
    print(f"trained {trainer.num_epochs * trainer.num_iterations_per_epoch} iterations in {time.time() - t0:.0f} s",
          flush=True)
    return Path(trainer.output_folder)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[4] / "shared")
    p.add_argument("--stage", default="all",
                   choices=["all", "data", "data_small", "testdata", "preprocess", "train", "export", "evaluate"])
    p.add_argument("--iterations", type=int, default=2000, help="upper bound on training iterations")
    p.add_argument("--budget-minutes", type=float, default=None, help="fit the epoch count to this wall-clock budget")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads for training")
    p.add_argument("--init-from", type=Path, default=None, help="start from this checkpoint's weights")
    p.add_argument("--oversample", type=float, default=None, help="foreground oversampling (default 0.33)")
    p.add_argument("--lr", type=float, default=None, help="initial learning rate (nnU-Net default 0.01)")
    p.add_argument("--part", type=int, default=0, help="data_small: this process's share")
    p.add_argument("--parts", type=int, default=1, help="data_small: number of processes")
    p.add_argument("--n-phantoms", type=int, default=16, help="data_small: extra phantoms")
    p.add_argument("--crops-per-phantom", type=int, default=6, help="data_small: crops per extra phantom")
    p.add_argument("--eval-model", type=Path, default=None, help="evaluate: model folder (default: work/export)")
    p.add_argument("--prob-dir", type=Path, default=None, help="evaluate: cache / reuse probabilities here")
    p.add_argument("--metrics-name", default="metrics.json", help="evaluate: output file name in --work")
    p.add_argument("--model-out", type=Path, default=None, help="where to write the exported model zip")
    a = p.parse_args(argv)
    _env(a.work)
    stages = ["data", "testdata", "preprocess", "train", "export", "evaluate"] if a.stage == "all" else [a.stage]
    for s in stages:
        t0 = time.time()
        if s == "data":
            stage_data(a.work, a.shared)
        elif s == "data_small":
            stage_data_small(a.work, a.shared, a.part, a.parts, a.n_phantoms, a.crops_per_phantom)
        elif s == "testdata":
            stage_testdata(a.work, a.shared)
        elif s == "preprocess":
            stage_preprocess(a.work)
        elif s == "train":
            stage_train(a.work, a.iterations, a.budget_minutes * 60 if a.budget_minutes else None, a.threads,
                        init_from=a.init_from, initial_lr=a.lr, oversample=a.oversample)
        elif s == "export":

            export_demo_model(a.work, a.model_out)
        elif s == "evaluate":

            evaluate_folder(a.work, a.eval_model, prob_dir=a.prob_dir, out_name=a.metrics_name)
        print(f"stage {s}: {time.time() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
