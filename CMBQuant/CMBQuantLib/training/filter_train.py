"""Recipe for the CMB filter: ``python -m CMBQuantLib.training.filter_train --work DIR --stage all``.

Stages, in order (``all`` runs them all; each caches, so a rerun redoes nothing):
``data`` (phantoms and labelled raw seeds, in parallel), ``prescreen`` (the seed ranker), ``blobs`` (the blobs the
prescreened screen hands to stage 2, labelled), ``fit`` (LightGBM and the logistic baseline, threshold on
validation, scores on the test and unseen-setting splits, the filter written into ``--model-folder``/cmb_filter),
``heldout`` (the test and unseen phantoms as NIfTI files for ``cmbquant run`` + ``cmbquant evaluate``).
Runs on 2 CPU cores inside an hour.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from CMBQuantLib.core.atomic import atomic_write_json
from CMBQuantLib.detection.cmb_filter import FilterSpec, save_filter
from CMBQuantLib.detection.features import FEATURE_NAMES
from CMBQuantLib.detection.screening import ScreenSettings
from CMBQuantLib.detection.validation.evaluate import evaluate_folders
from CMBQuantLib.pipeline.process_case import BatchInput, process_case
from CMBQuantLib.pipeline.segmenter_factory import create_segmenter
from CMBQuantLib.training.filter_data import (
    PhantomJob,
    cache_phantom,
    candidate_rows,
    load_phantom,
    load_rows,
    make_jobs,
    save_rows,
    seed_rows,
)
from CMBQuantLib.training.filter_fit import (
    choose_threshold,
    fit_lightgbm,
    fit_logistic,
    fit_prescreen,
    prescreen_recall,
    score,
    screen_sensitivity,
    stack,
)
from CMBQuantLib.volumes.images import write_image

DEFAULT_PER_MAP = {"train": 4, "val": 4, "test": 3, "unseen": 2}


def _seeds(args: tuple[PhantomJob, str, str]) -> str:
    job, shared, work = args
    t0 = time.perf_counter()
    out = Path(work) / "seeds" / f"{job.name}.npz"
    if not out.is_file():
        save_rows(seed_rows(cache_phantom(job, Path(shared), Path(work))), out)
    return f"{job.name} {time.perf_counter() - t0:.1f}s"


def _blobs(args: tuple[PhantomJob, str, str]) -> str:
    job, model_text, work = args
    import lightgbm

    t0 = time.perf_counter()
    out = Path(work) / "rows" / f"{job.name}.npz"
    if not out.is_file():
        prescreen = lightgbm.Booster(model_str=model_text)
        save_rows(candidate_rows(Path(work) / "phantoms" / f"{job.name}.npz", prescreen), out)
    return f"{job.name} {time.perf_counter() - t0:.1f}s"


def _parallel(fn, todo: list, workers: int, label: str) -> None:
    """Jobs in worker processes started fresh ("spawn"): a fork after LightGBM ran its OpenMP threads deadlocks."""
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for n, msg in enumerate(pool.map(fn, todo), 1):
            print(f"[{label} {n}/{len(todo)}] {msg}", flush=True)


def stage_data(jobs: list[PhantomJob], shared: Path, work: Path, workers: int) -> None:
    _parallel(_seeds, [(j, str(shared), str(work)) for j in jobs], workers, "data")


def stage_prescreen(jobs: list[PhantomJob], work: Path, max_seeds: int) -> tuple[object, dict]:
    import lightgbm

    path = work / "prescreen.txt"
    rows = load_rows(work, jobs, "seeds")
    if path.is_file():
        model = lightgbm.Booster(model_str=path.read_text(encoding="utf-8"))
    else:
        model = fit_prescreen(rows["train"], rows["val"])
        path.write_text(model.model_to_string(), encoding="utf-8")
    recall = {s: prescreen_recall(rows[s], model, max_seeds) for s in rows}
    print(f"[prescreen] CMBs with a seed among the best {max_seeds}: " +
          "; ".join(f"{s} {r['recall_of_seeded']}" for s, r in recall.items()), flush=True)
    return model, recall


def stage_blobs(jobs: list[PhantomJob], work: Path, prescreen, workers: int) -> None:
    text = prescreen.model_to_string()
    _parallel(_blobs, [(j, text, str(work)) for j in jobs], workers, "blobs")


def stage_fit(jobs: list[PhantomJob], work: Path, model_folder: Path | None, name: str, prescreen=None,
              prescreen_report: dict | None = None) -> dict:
    rows = load_rows(work, jobs)
    X, y = stack(rows["train"])
    Xv, yv = stack(rows["val"])
    print(f"[fit] train rows {len(y)} ({int(y.sum())} CMB), val rows {len(yv)} ({int(yv.sum())} CMB)", flush=True)
    t0 = time.perf_counter()
    booster = fit_lightgbm(X, y)
    lgb_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    logistic = fit_logistic(X, y)
    log_s = time.perf_counter() - t0
    learners = {"lightgbm": booster.predict, "logistic": logistic.predict}
    report: dict = {"rows": {s: int(sum(len(c["y"]) for c in rows[s])) for s in rows},
                    "scans": {s: len(rows[s]) for s in rows}, "fit_seconds": {"lightgbm": round(lgb_s, 1),
                                                                              "logistic": round(log_s, 1)},
                    "screen": {s: screen_sensitivity(rows[s]).as_dict() for s in rows},
                    "prescreen": prescreen_report or {}, "learners": {}}
    for lname, predict in learners.items():
        probs = {s: [predict(c["X"].astype(np.float64)) for c in rows[s]] for s in rows}
        chosen = choose_threshold(rows["val"], probs["val"])
        report["learners"][lname] = {s: score(rows[s], probs[s], chosen.threshold).as_dict() for s in rows}
        print(f"[fit] {lname}: threshold {chosen.threshold:.3f}; " + "; ".join(
            f"{s} F1 {report['learners'][lname][s]['f1']} FP/scan {report['learners'][lname][s]['fp_per_scan']}"
            for s in ("val", "test", "unseen") if s in rows), flush=True)
    threshold = report["learners"]["lightgbm"]["val"]["threshold"]
    report["threshold"] = threshold
    report["feature_importance"] = dict(sorted(zip(FEATURE_NAMES, map(float, booster.feature_importance("gain"))),
                                               key=lambda kv: -kv[1]))
    if model_folder is not None:
        spec = FilterSpec(name=name, threshold=float(threshold), screen=ScreenSettings().__dict__,
                          created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                          metrics={s: report["learners"]["lightgbm"][s] for s in rows},
                          recipe={"module": __name__, "jobs": [j.name for j in jobs]})
        save_filter(booster, spec, model_folder / "cmb_filter", prescreen=prescreen)
        print(f"[fit] filter written to {model_folder / 'cmb_filter'}", flush=True)
    atomic_write_json(work / "filter_report.json", report)
    return report


def stage_heldout(jobs: list[PhantomJob], work: Path, out: Path) -> None:
    """Held-out phantoms as ``<split>/<name>.nii.gz`` + ``<split>_truth/<name>.nii.gz`` for run + evaluate."""
    for job in jobs:
        if job.split not in ("test", "unseen") or (out / job.split / f"{job.name}.nii.gz").is_file():
            continue
        image, labels, geom, ids, _ = load_phantom(work / "phantoms" / f"{job.name}.npz")
        write_image(labels, geom, out / f"{job.split}_truth" / f"{job.name}.nii.gz")
        write_image(image, geom, out / job.split / f"{job.name}.nii.gz")
        print(f"[heldout] {job.split}/{job.name}: {len(ids)} CMBs", flush=True)


def stage_evaluate(work: Path, model: str | None, filter_choice: str = "auto") -> dict:
    """The default pipeline (``cmbquant run``: nnU-Net + screen + filter, regions off) on the held-out phantoms,
    scored by ``cmbquant evaluate``'s matching; results per split in ``<work>/evaluate/<split>/``."""

    segmenter = create_segmenter(model=model, device="cpu", filter=filter_choice)
    out: dict = {}
    for split in ("test", "unseen"):
        inputs = sorted((work / "heldout" / split).glob("*.nii.gz"))
        cases = work / "evaluate" / split / "cases"
        t0 = time.perf_counter()
        for path in inputs:
            if not (cases / path.name[:-7] / "case.json").is_file():
                process_case(BatchInput(path.name[:-7], path), cases, segmenter, copy_image=False)
        seconds = (time.perf_counter() - t0) / max(len(inputs), 1)
        res = evaluate_folders(cases, work / "heldout" / f"{split}_truth", work / "evaluate" / split, n_boot=200,
                               html=False)
        c = sum((r.counts for r in res.results[1:]), res.results[0].counts) if res.results else None
        out[split] = {"scans": len(res.results), "tp": c.tp, "fp": c.fp, "fn": c.fn,
                      "sensitivity": round(c.sensitivity, 3), "precision": round(c.precision, 3),
                      "f1": round(2 * c.tp / max(2 * c.tp + c.fp + c.fn, 1), 3),
                      "fp_per_scan": round(c.fp / max(len(res.results), 1), 2), "seconds_per_scan": round(seconds, 1),
                      "per_case": {r.case_id: [r.counts.tp, r.counts.fp, r.counts.fn] for r in res.results}}
        print(f"[evaluate] {split}: {json.dumps({k: v for k, v in out[split].items() if k != 'per_case'})}", flush=True)
    atomic_write_json(work / "evaluate" / "results.json", out)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[4] / "shared")
    ap.add_argument("--stage", choices=["data", "prescreen", "blobs", "fit", "heldout", "evaluate", "all"],
                    default="all")
    ap.add_argument("--model", default=None, help="evaluate: model (default the shipped demo model)")
    ap.add_argument("--filter", default="auto", help="evaluate: --filter of cmbquant run")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--model-folder", type=Path, default=None, help="trainer folder to write cmb_filter/ into")
    ap.add_argument("--name", default="CMBQuantDemoFilter")
    ap.add_argument("--per-map", type=json.loads, default=DEFAULT_PER_MAP)
    args = ap.parse_args(argv)
    jobs = make_jobs(args.per_map)
    t0 = time.perf_counter()
    max_seeds = ScreenSettings().max_seeds
    if args.stage in ("data", "all"):
        stage_data(jobs, args.shared, args.work, args.workers)
    prescreen, recall = None, None
    if args.stage in ("prescreen", "blobs", "fit", "all"):
        prescreen, recall = stage_prescreen(jobs, args.work, max_seeds)
    if args.stage in ("blobs", "all"):
        stage_blobs(jobs, args.work, prescreen, args.workers)
    if args.stage in ("fit", "all"):
        stage_fit(jobs, args.work, args.model_folder, args.name, prescreen, recall)
    if args.stage in ("heldout", "all"):
        stage_heldout(jobs, args.work, args.work / "heldout")
    if args.stage == "evaluate":
        stage_evaluate(args.work, args.model, args.filter)
    print(f"[done] {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
