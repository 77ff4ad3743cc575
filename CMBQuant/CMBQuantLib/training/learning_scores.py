"""Before/after scores of a reader-taught filter on held-out reviewed cases, as inference would count them.

Each held-out case is screened as at inference; the filter scores every blob, duplicates are suppressed
(``two_stage.suppress_duplicates``) and blobs at or above the threshold are kept. The reader's review is the truth:
a kept blob on a confirmed or added CMB is a hit (a second one on the same CMB a false positive), a kept blob on a
reader rejection, a filter rejection or nothing the reader marked is a false positive, one on a pending candidate
is not counted. Sensitivity's denominator is every CMB the reader confirmed or added, so one the screen misses
counts as missed before and after alike. Calibration: the reliability of ``p_cmb`` on the labelled candidates.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np

from CMBQuantLib.detection.two_stage import suppress_duplicates
from CMBQuantLib.training.reviewed_labels import NEGATIVE, CaseLabels

N_BINS = 10


def case_counts(case: CaseLabels, p: np.ndarray, threshold: float) -> tuple[int, int, int, Counter]:
    """(tp, fp, fn, kept negatives by rejection kind) of one case at ``threshold``."""
    p = suppress_duplicates(case.blobs, p, threshold, case.spacing_kji) if case.blobs else np.asarray(p)
    kept = np.flatnonzero(p >= threshold)
    truth = case.blob_truth[kept]
    hits = set(int(t) for t in truth if t > 0)
    fp = int((truth == 0).sum()) + int((truth > 0).sum()) - len(hits)
    kinds: Counter = Counter()
    kept_set = set(kept.tolist())
    for c in case.candidates:
        if c.label == NEGATIVE and c.blob in kept_set:
            kinds[c.kind] += 1
    return len(hits), fp, case.n_positive_truth - len(hits), kinds


def reliability(y: np.ndarray, p: np.ndarray, n_bins: int = N_BINS) -> dict:
    """Reliability bins (mean p_cmb vs fraction confirmed), Brier score and expected calibration error."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.floor(p * n_bins + 1e-9).astype(int), 0, n_bins - 1)  # bin b holds [b/n, (b+1)/n)
    bins = []
    ece = 0.0
    for b in range(n_bins):
        sel = idx == b
        if not sel.any():
            continue
        mp, fy = float(p[sel].mean()), float(y[sel].mean())
        ece += sel.sum() / max(len(p), 1) * abs(mp - fy)
        bins.append({"lo": round(float(edges[b]), 2), "hi": round(float(edges[b + 1]), 2), "n": int(sel.sum()),
                     "mean_p": round(mp, 3), "fraction_cmb": round(fy, 3)})
    brier = float(np.mean((p - y) ** 2)) if len(p) else None
    return {"bins": bins, "brier": None if brier is None else round(brier, 4), "ece": round(ece, 4), "n": len(p)}


def holdout_scores(cases: list[CaseLabels], predict: Callable[[np.ndarray], np.ndarray], threshold: float) -> dict:
    """Lesion-level sensitivity and FP per scan, and calibration, of one filter on the held-out cases."""
    tp = fp = fn = 0
    kinds: Counter = Counter()
    ys, ps = [], []
    for case in cases:
        p = np.asarray(predict(case.X), float) if len(case.X) else np.zeros(0)
        t, f, n, k = case_counts(case, p, threshold)
        tp, fp, fn = tp + t, fp + f, fn + n
        kinds.update(k)
        X, y, _ = case.rows()
        if len(y):
            ys.append(y)
            ps.append(np.asarray(predict(X), float))
    y = np.concatenate(ys) if ys else np.zeros(0)
    p = np.concatenate(ps) if ps else np.zeros(0)
    n_scans = len(cases)
    return {"scans": n_scans, "threshold": round(float(threshold), 4), "tp": tp, "fp": fp, "fn": fn,
            "sensitivity": round(tp / max(tp + fn, 1), 3), "fp_per_scan": round(fp / max(n_scans, 1), 2),
            "kept_rejections_by_kind": dict(sorted(kinds.items())), "calibration": reliability(y, p)}
