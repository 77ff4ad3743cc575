"""Detection by CMB size: the small CMBs are the ones one-stage detectors miss, so a single F1 hides what matters.

Reference CMBs are binned by their equivalent-sphere diameter (6V/pi)^(1/3) of the voxelised lesion, which is what
real reference labels give; a phantom's nominal diameter can read smaller on thick slices. False positives are
binned by the predicted component's own diameter.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

SIZE_BINS_MM = ((0.0, 3.0, "<3"), (3.0, 5.0, "3-5"), (5.0, 10.0, "5-10"), (10.0, math.inf, ">10"))


def equivalent_diameter(volume_mm3: pd.Series) -> pd.Series:
    return (6.0 * volume_mm3.astype(float) / np.pi) ** (1.0 / 3.0)


def _bin(d: float) -> str:
    return next(name for lo, hi, name in SIZE_BINS_MM if lo <= d < hi)


def size_table(lesions: pd.DataFrame, n_scans: int) -> pd.DataFrame:
    """Per size bin: reference CMBs, found, missed, sensitivity; false positives and FP per scan."""
    ref = lesions[lesions["status"].isin(["TP", "FN"])].copy()
    ref["bin"] = [_bin(d) for d in equivalent_diameter(ref["ref_volume_mm3"])]
    fp = lesions[lesions["status"] == "FP"].copy()
    fp["bin"] = [_bin(d) for d in equivalent_diameter(fp["pred_volume_mm3"])]
    rows = []
    for _, _, name in SIZE_BINS_MM:
        r = ref[ref["bin"] == name]
        found = int((r["status"] == "TP").sum())
        n_fp = int((fp["bin"] == name).sum())
        rows.append({"size_mm": name, "n_ref": len(r), "found": found, "missed": len(r) - found,
                     "sensitivity": found / len(r) if len(r) else math.nan, "false_positives": n_fp,
                     "fp_per_scan": n_fp / n_scans if n_scans else math.nan})
    return pd.DataFrame(rows)
