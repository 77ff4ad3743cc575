"""Held-out evaluation on whole phantoms: voxel Dice, lesion-wise sensitivity / precision / F1, FP per scan.

A true CMB is detected when a predicted 26-connected component overlaps it; a predicted component overlapping no
true CMB is a false positive (vessel dots and pallidal calcifications are the usual culprits).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass
class ScanScore:
    case: str
    n_true: int
    n_pred: int
    tp_true: int  # true CMBs hit
    tp_pred: int  # predicted components that hit a true CMB
    inter: int
    sum_true: int
    sum_pred: int
    seconds: float
    missed_diameters: list[float]


def score_scan(case: str, prob: np.ndarray, truth: np.ndarray, threshold: float, seconds: float,
               diameters: dict[int, float], min_confidence: float = 0.0) -> ScanScore:
    """``min_confidence`` > 0 scores only components whose mean probability reaches it (what a reader sees
    unflagged)."""
    from scipy import ndimage

    from ...candidates import label_components

    pred = prob >= threshold
    comp, n_pred = label_components(pred)
    if min_confidence > 0 and n_pred:
        means = ndimage.mean(prob, comp, index=np.arange(1, n_pred + 1))
        keep = np.concatenate([[False], np.asarray(means) >= min_confidence])
        pred = keep[comp]
        comp, n_pred = label_components(pred)
    ids = [int(i) for i in np.unique(truth) if i > 0]
    hit = {i: bool((pred & (truth == i)).any()) for i in ids}
    tp_pred = len(set(np.unique(comp[truth > 0]).tolist()) - {0})
    return ScanScore(case, len(ids), n_pred, sum(hit.values()), tp_pred, int((pred & (truth > 0)).sum()),
                     int((truth > 0).sum()), int(pred.sum()), seconds,
                     [diameters.get(i, 0.0) for i, h in hit.items() if not h])


def summarise(scores: list[ScanScore]) -> dict:
    n_true = sum(s.n_true for s in scores)
    n_pred = sum(s.n_pred for s in scores)
    sens = sum(s.tp_true for s in scores) / n_true if n_true else float("nan")
    prec = sum(s.tp_pred for s in scores) / n_pred if n_pred else float("nan")
    f1 = 2 * sens * prec / (sens + prec) if (sens + prec) else 0.0
    dice = 2 * sum(s.inter for s in scores) / max(1, sum(s.sum_true + s.sum_pred for s in scores))
    return {"scans": len(scores), "true_cmbs": n_true, "pred_components": n_pred,
            "voxel_dice": round(dice, 3), "sensitivity": round(sens, 3), "precision": round(prec, 3),
            "f1": round(f1, 3), "fp_per_scan": round((n_pred - sum(s.tp_pred for s in scores)) / len(scores), 2),
            "seconds_per_scan": round(float(np.mean([s.seconds for s in scores])), 1),
            "missed_diameters_mm": sorted(round(d, 1) for s in scores for d in s.missed_diameters)}


def evaluate_folder(work: Path, model: Path | None = None, threshold: float = 0.5) -> dict:
    from ...phantom import read_cmb_table
    from ...volumes import read_image
    from ..model_store import validate_model
    from ..predictor import CMBPredictor, PredictorOptions
    from ..run import predict_volume

    model = model or next((work / "export").glob("Dataset*/*__*__*"))
    pred = CMBPredictor(validate_model(model), PredictorOptions(device="cpu", step_size=1.0, mirroring=False))
    groups: dict[str, list[ScanScore]] = {}
    flagged: dict[str, list[ScanScore]] = {}
    for img_path in sorted((work / "test").glob("*_swi.nii.gz")):
        case = img_path.name[: -len("_swi.nii.gz")]
        image, geom = read_image(img_path)
        truth, _ = read_image(work / "test" / f"{case}_cmb.nii.gz")
        diam = {c.cmb_id: c.diameter_mm for c in read_cmb_table(work / "test" / f"{case}_cmbs.csv")}
        t0 = time.perf_counter()
        prob, _ = predict_volume(pred, image, geom.spacing[::-1])
        s = score_scan(case, prob.astype(np.float32), np.rint(truth).astype(np.int32), threshold,
                       time.perf_counter() - t0, diam)
        groups.setdefault(case.split("_")[0], []).append(s)
        print(json.dumps(asdict(s)), flush=True)
        s2 = score_scan(case, prob.astype(np.float32), np.rint(truth).astype(np.int32), threshold, s.seconds, diam,
                        min_confidence=0.6)
        flagged.setdefault(case.split("_")[0], []).append(s2)
    out = {g: summarise(v) for g, v in groups.items()}
    out["all"] = summarise([s for v in groups.values() for s in v])
    out["unflagged_min_confidence_0.6"] = {g: summarise(v) for g, v in flagged.items()}
    (work / "metrics.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2), flush=True)
    return out
