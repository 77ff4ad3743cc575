"""Recipe for the CMB filter: ``python -m CMBQuantLib.inference.training.filter_train --work DIR --stage all``.

Stages: ``data`` (phantoms -> screened, labelled candidate rows, cached, in parallel), ``fit`` (LightGBM and the
logistic baseline, threshold on validation, scores on test and unseen-setting splits, the shipped filter written
into ``--model-folder``/cmb_filter), ``heldout`` (the test and unseen phantoms as NIfTI files, regenerated from the
recorded seeds, for ``cmbquant run`` + ``cmbquant evaluate``). Runs on 2 CPU cores well inside an hour.
"""
from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ...atomic import atomic_write_json
from ...detection.cmb_filter import FilterSpec, save_filter
from ...detection.features import FEATURE_NAMES
from ...detection.screening import ScreenSettings
from .filter_data import PhantomJob, build_job, load_rows, make_jobs, make_phantom
from .filter_fit import choose_threshold, fit_lightgbm, fit_logistic, score, screen_sensitivity, stack

DEFAULT_PER_MAP = {"train": 4, "val": 4, "test": 3, "unseen": 2}


def _build(args: tuple[PhantomJob, str, str]) -> str:
    job, shared, work = args
    t0 = time.perf_counter()
    build_job(job, Path(shared), Path(work))
    return f"{job.name} {time.perf_counter() - t0:.1f}s"


def stage_data(jobs: list[PhantomJob], shared: Path, work: Path, workers: int) -> None:
    todo = [(j, str(shared), str(work)) for j in jobs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for n, msg in enumerate(pool.map(_build, todo), 1):
            print(f"[data {n}/{len(todo)}] {msg}", flush=True)


def stage_fit(jobs: list[PhantomJob], work: Path, model_folder: Path | None, name: str) -> dict:
    rows = load_rows(work, jobs)
    X, y = stack(rows["train"])
    Xv, yv = stack(rows["val"])
    print(f"[fit] train rows {len(y)} ({int(y.sum())} CMB), val rows {len(yv)} ({int(yv.sum())} CMB)", flush=True)
    t0 = time.perf_counter()
    booster = fit_lightgbm(X, y, Xv, yv)
    lgb_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    logistic = fit_logistic(X, y)
    log_s = time.perf_counter() - t0
    learners = {"lightgbm": booster.predict, "logistic": logistic.predict}
    report: dict = {"rows": {s: int(sum(len(c["y"]) for c in rows[s])) for s in rows},
                    "scans": {s: len(rows[s]) for s in rows}, "fit_seconds": {"lightgbm": round(lgb_s, 1),
                                                                              "logistic": round(log_s, 1)},
                    "screen": {s: screen_sensitivity(rows[s]).as_dict() for s in rows}, "learners": {}}
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
        save_filter(booster, spec, model_folder / "cmb_filter")
        print(f"[fit] filter written to {model_folder / 'cmb_filter'}", flush=True)
    atomic_write_json(work / "filter_report.json", report)
    return report


def stage_heldout(jobs: list[PhantomJob], shared: Path, out: Path) -> None:
    """Held-out phantoms as ``<split>/<name>.nii.gz`` + ``<split>_truth/<name>.nii.gz`` for run + evaluate."""
    for job in jobs:
        if job.split not in ("test", "unseen"):
            continue
        image = out / job.split / f"{job.name}.nii.gz"
        if image.is_file():
            continue
        ph = make_phantom(job, shared)
        from ...volumes import write_image

        write_image(ph.cmb_labels, ph.geometry, out / f"{job.split}_truth" / f"{job.name}.nii.gz")
        write_image(ph.image, ph.geometry, image)
        print(f"[heldout] {job.split}/{job.name}: {len(ph.cmbs)} CMBs", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[5] / "shared")
    ap.add_argument("--stage", choices=["data", "fit", "heldout", "all"], default="all")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--model-folder", type=Path, default=None, help="trainer folder to write cmb_filter/ into")
    ap.add_argument("--name", default="CMBQuantDemoFilter")
    ap.add_argument("--per-map", type=json.loads, default=DEFAULT_PER_MAP)
    args = ap.parse_args(argv)
    jobs = make_jobs(args.per_map)
    t0 = time.perf_counter()
    if args.stage in ("data", "all"):
        stage_data(jobs, args.shared, args.work, args.workers)
    if args.stage in ("fit", "all"):
        stage_fit(jobs, args.work, args.model_folder, args.name)
    if args.stage in ("heldout", "all"):
        stage_heldout(jobs, args.shared, args.work / "heldout")
    print(f"[done] {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
