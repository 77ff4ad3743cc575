"""Held-out evaluation on whole phantoms: voxel Dice, lesion-wise sensitivity / precision / F1, FP per scan.

A true CMB is detected when a predicted 26-connected component overlaps it; a predicted component overlapping no
true CMB is a false positive (vessel dots and pallidal calcifications are the usual culprits).

Besides every component above the threshold, the same predictions are scored with flagged candidates excluded (what a
reader sees unflagged): below mean probability 0.6 (``low_confidence``), the domain-rule flags ``tubular`` and
``outside_brain`` (brain mask from the image, as in the inference run), and every flag together.
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
               diameters: dict[int, float], min_confidence: float = 0.0,
               keep: np.ndarray | None = None) -> ScanScore:
    """``min_confidence`` > 0 scores only components whose mean probability reaches it (what a reader sees
    unflagged); ``keep`` (boolean, same grid) scores only the predicted voxels inside it (e.g. the unflagged
    candidates' components)."""
    from scipy import ndimage

    from CMBQuantLib.detection.candidates import label_components

    pred = prob >= threshold
    if keep is not None:
        pred &= keep
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


UNFLAGGED_VARIANTS = {  # metrics key -> flags whose candidates are excluded
    "unflagged_tubular": ("tubular",),
    "unflagged_outside_brain": ("outside_brain",),
    "unflagged_rules": ("tubular", "outside_brain"),
    "unflagged_all_flags": ("tubular", "outside_brain", "low_confidence", "exceeds_cmb_size", "below_min_size"),
}


def keep_mask(records, comp: np.ndarray, excluded: tuple[str, ...]) -> np.ndarray:
    """Voxels of the candidates that carry none of the ``excluded`` flags."""
    ok = np.zeros(int(comp.max()) + 1, bool)
    for r in records:
        ok[r.cmb_id] = not (set(r.flags) & set(excluded))
    return ok[comp]


def evaluate_folder(work: Path, model: Path | None = None, threshold: float = 0.5, prob_dir: Path | None = None,
                    out_name: str = "metrics.json") -> dict:
    """Predict (or reuse ``prob_dir/<case>.npy`` when present; new predictions are saved there) and score."""
    from CMBQuantLib.detection.candidates import CandidateLimits, brain_mask, find_candidates
    from CMBQuantLib.detection.nnunet.prediction import predict_volume
    from CMBQuantLib.phantoms.phantom import read_cmb_table
    from CMBQuantLib.pipeline.run_options import DEFAULT_MIN_CONFIDENCE
    from CMBQuantLib.volumes.images import read_image

    pred = None
    groups: dict[str, list[ScanScore]] = {}
    variants: dict[str, dict[str, list[ScanScore]]] = {"unflagged_min_confidence_0.6": {},
                                                        **{k: {} for k in UNFLAGGED_VARIANTS}}
    for img_path in sorted((work / "test").glob("*_swi.nii.gz")):
        case = img_path.name[: -len("_swi.nii.gz")]
        image, geom = read_image(img_path)
        truth, _ = read_image(work / "test" / f"{case}_cmb.nii.gz")
        truth = np.rint(truth).astype(np.int32)
        diam = {c.cmb_id: c.diameter_mm for c in read_cmb_table(work / "test" / f"{case}_cmbs.csv")}
        cached = prob_dir / f"{case}.npy" if prob_dir else None
        t0 = time.perf_counter()
        if cached is not None and cached.exists():
            prob = np.load(cached)
        else:
            if pred is None:
                from CMBQuantLib.detection.nnunet.model_store import validate_model
                from CMBQuantLib.detection.nnunet.predictor import CMBPredictor, PredictorOptions

                model = model or next((work / "export").glob("Dataset*/*__*__*"))
                pred = CMBPredictor(validate_model(model), PredictorOptions(device="cpu", step_size=1.0,
                                                                            mirroring=False))
            prob, _ = predict_volume(pred, image, geom.spacing[::-1])
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                np.save(cached, prob)
        prob = prob.astype(np.float32)
        s = score_scan(case, prob, truth, threshold, time.perf_counter() - t0, diam)
        group = case.split("_")[0]
        groups.setdefault(group, []).append(s)
        print(json.dumps(asdict(s)), flush=True)
        variants["unflagged_min_confidence_0.6"].setdefault(group, []).append(
            score_scan(case, prob, truth, threshold, s.seconds, diam, min_confidence=0.6))
        records, comp = find_candidates(prob, geom, image,
                                        CandidateLimits(threshold=threshold, min_confidence=DEFAULT_MIN_CONFIDENCE),
                                        brain_mask=brain_mask(image, geom.spacing[::-1]))
        for key, excluded in UNFLAGGED_VARIANTS.items():
            variants[key].setdefault(group, []).append(
                score_scan(case, prob, truth, threshold, s.seconds, diam, keep=keep_mask(records, comp, excluded)))
    out = {g: summarise(v) for g, v in groups.items()}
    out["all"] = summarise([s for v in groups.values() for s in v])
    for key, per_group in variants.items():
        out[key] = {g: summarise(v) for g, v in per_group.items()}
        out[key]["all"] = summarise([s for v in per_group.values() for s in v])
    (work / out_name).write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2), flush=True)
    return out
