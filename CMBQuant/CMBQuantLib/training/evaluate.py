"""Held-out evaluation on whole phantoms: voxel Dice, lesion-wise sensitivity / precision / F1, FP per scan.

Lesions are paired by ``cmbquant evaluate``'s one matcher with its ``overlap`` rule: a predicted 26-connected
component and a true CMB match when they share a voxel, one-to-one (maximum matching, ties by IoU). An unmatched
true CMB is missed; an unmatched predicted component is a false positive (vessel dots and pallidal calcifications
are the usual culprits).

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
from scipy import ndimage

from CMBQuantLib.detection.candidates import CandidateLimits, brain_mask, find_candidates
from CMBQuantLib.detection.nnunet.model_store import validate_model
from CMBQuantLib.detection.nnunet.prediction import predict_volume
from CMBQuantLib.detection.nnunet.predictor import CMBPredictor, PredictorOptions
from CMBQuantLib.detection.validation.matching import components, counts_from_matches, describe_labels, match_lesions
from CMBQuantLib.phantoms.phantom import read_cmb_table
from CMBQuantLib.pipeline.run_options import DEFAULT_MIN_CONFIDENCE
from CMBQuantLib.volumes.images import read_image


@dataclass
class ScanScore:
    case: str
    n_true: int
    n_pred: int
    tp_true: int  # true CMBs matched (one-to-one, so equal to tp_pred)
    tp_pred: int  # predicted components matched to a true CMB
    inter: int
    sum_true: int
    sum_pred: int
    seconds: float
    missed_diameters: list[float]


def _confident(pred: np.ndarray, prob: np.ndarray, min_confidence: float) -> np.ndarray:
    """The voxels of the components of ``pred`` whose mean probability reaches ``min_confidence``."""
    labels, comps = components(pred)
    if not comps:
        return pred
    means = ndimage.mean(prob, labels, index=np.arange(1, len(comps) + 1))
    return np.concatenate([[False], np.asarray(means) >= min_confidence])[labels]


def _instances(truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(true CMB ids, the truth relabelled 1..N in id order): one lesion per id, even where two CMBs touch."""
    ids = np.unique(truth[truth > 0])
    labels = np.where(truth > 0, np.searchsorted(ids, truth) + 1, 0).astype(np.uint32)
    return ids, labels


def score_scan(case: str, prob: np.ndarray, truth: np.ndarray, threshold: float, seconds: float,
               diameters: dict[int, float], min_confidence: float = 0.0,
               keep: np.ndarray | None = None) -> ScanScore:
    """Score one scan (``truth``: a CMB id per voxel). ``min_confidence`` > 0 scores only components whose mean
    probability reaches it (what a reader sees unflagged); ``keep`` (boolean, same grid) scores only the predicted
    voxels inside it (e.g. the unflagged candidates' components)."""
    pred = prob >= threshold
    if keep is not None:
        pred &= keep
    if min_confidence > 0:
        pred = _confident(pred, prob, min_confidence)
    pred_labels, pred_comps = components(pred)
    ids, truth_labels = _instances(truth)
    matches = match_lesions(pred_labels, pred_comps, truth_labels, describe_labels(truth_labels), rule="overlap")
    c = counts_from_matches(matches)
    missed = [diameters.get(int(ids[m.ref.label - 1]), 0.0) for m in matches if m.status == "FN"]
    return ScanScore(case, len(ids), len(pred_comps), c.tp, c.tp, int((pred & (truth > 0)).sum()),
                     int((truth > 0).sum()), int(pred.sum()), seconds, missed)


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


@dataclass
class _Probabilities:
    """Foreground probability per case: ``prob_dir/<case>.npy`` when present, else a CPU prediction (saved there
    when ``prob_dir`` is set); the predictor is built on first use, so a fully cached run never loads a model."""

    work: Path
    model: Path | None
    prob_dir: Path | None
    predictor: CMBPredictor | None = None

    def __call__(self, case: str, image: np.ndarray, spacing_zyx) -> np.ndarray:
        cached = self.prob_dir / f"{case}.npy" if self.prob_dir else None
        if cached is not None and cached.exists():
            return np.load(cached)
        if self.predictor is None:
            model = self.model or next((self.work / "export").glob("Dataset*/*__*__*"))
            self.predictor = CMBPredictor(validate_model(model), PredictorOptions(device="cpu", step_size=1.0,
                                                                                  mirroring=False))
        prob, _ = predict_volume(self.predictor, image, spacing_zyx)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            np.save(cached, prob)
        return prob


def evaluate_folder(work: Path, model: Path | None = None, threshold: float = 0.5, prob_dir: Path | None = None,
                    out_name: str = "metrics.json") -> dict:
    """Predict (or reuse ``prob_dir/<case>.npy`` when present; new predictions are saved there) and score."""
    probabilities = _Probabilities(work, model, prob_dir)
    groups: dict[str, list[ScanScore]] = {}
    variants: dict[str, dict[str, list[ScanScore]]] = {"unflagged_min_confidence_0.6": {},
                                                        **{k: {} for k in UNFLAGGED_VARIANTS}}
    for img_path in sorted((work / "test").glob("*_swi.nii.gz")):
        case = img_path.name[: -len("_swi.nii.gz")]
        image, geom = read_image(img_path)
        truth, _ = read_image(work / "test" / f"{case}_cmb.nii.gz")
        truth = np.rint(truth).astype(np.int32)
        diam = {c.cmb_id: c.diameter_mm for c in read_cmb_table(work / "test" / f"{case}_cmbs.csv")}
        t0 = time.perf_counter()
        prob = probabilities(case, image, geom.spacing[::-1]).astype(np.float32)
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
