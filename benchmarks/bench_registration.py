"""Benchmark: the template region paths on a 512 x 512 x 160 SWI-like phantom, in one run.

Prints, with SimpleITK and ANTs limited to ``--threads`` (default 2):
- the time per scan (wall and CPU) of the deformable path (brain mask, affine, SyN, labels warped into the subject,
  MARS region map: ``subject_labels.template_labels_in_subject``), step by step, against the 60 s target;
- the same for the affine-only path (``template.register_to_template``, CMB centres mapped into MNI);
- the accuracy of both against the phantom's truth: its 10 CMBs plus ``--points`` ground-truth points placed by the
  generator's rule (``place_cmbs``), lobar / deep / infratentorial.

    python benchmarks/bench_registration.py [--map 01] [--threads 2] [--points 300] [--cache DIR]
        [--methods syn,bspline]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "CMBQuant"))

from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.phantoms.phantom import (
    PhantomConfig,
    load_label_map,
    place_cmbs,
    read_cmb_table,
    synthesize,
    write_cmb_table,
)
from CMBQuantLib.regions.assign import apply_region_map, assign_in_template
from CMBQuantLib.regions.atlas import load_aparcaseg_atlas
from CMBQuantLib.regions.bspline import BSplineConfig
from CMBQuantLib.regions.deformable import SynConfig
from CMBQuantLib.regions.subject_labels import DeformableConfig, template_labels_in_subject
from CMBQuantLib.regions.template import register_to_template
from CMBQuantLib.volumes.images import read_image, write_image

SHARED = ROOT.parent / "shared" / "data"
CONFIG = PhantomConfig(n_cmbs=10, shape=(512, 512, 160), spacing=(0.45, 0.45, 1.0))


def truth(placement: str) -> str:
    return "lobar" if placement in ("lobar", "juxtacortical") else placement


def phantom_512(map_id: str, cache: Path | None):
    """(image, geometry, CMBs) of the benchmark phantom, cached as NIfTI + CSV when ``cache`` is given."""
    names = (f"bench_{map_id}_swi.nii.gz", f"bench_{map_id}_cmbs.csv")
    if cache and all((cache / n).is_file() for n in names):
        img, geom = read_image(cache / names[0])
        return img.astype(np.float32), geom, read_cmb_table(cache / names[1])
    labels, geom = load_label_map(SHARED / "synthseg" / f"training_seg_{map_id}.nii.gz")
    ph = synthesize(labels, geom, seed=1, config=CONFIG)
    if cache:
        cache.mkdir(parents=True, exist_ok=True)
        write_image(ph.image, ph.geometry, cache / names[0])
        write_cmb_table(ph.cmbs, cache / names[1])
    return ph.image, ph.geometry, ph.cmbs


def accuracy(regions: list[str], gt: list[str]) -> str:
    ok = [r == g for r, g in zip(regions, gt)]
    by = {k: f"{sum(o for o, g in zip(ok, gt) if g == k)}/{gt.count(k)}" for k in ("lobar", "deep", "infratentorial")}
    return f"{np.mean(ok):.1%} ({sum(ok)}/{len(ok)}; " + ", ".join(f"{k} {v}" for k, v in by.items()) + ")"


def main() -> None:
    import SimpleITK as sitk

    ap = argparse.ArgumentParser()
    ap.add_argument("--map", default="01")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--points", type=int, default=300)
    ap.add_argument("--cache", type=Path)
    ap.add_argument("--methods", default="syn", help="deformable methods to time, e.g. syn,bspline")
    args = ap.parse_args()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(args.threads)
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(args.threads)
    t = time.perf_counter()
    image, geom, cmbs = phantom_512(args.map, args.cache)
    labels, lgeom = load_label_map(SHARED / "synthseg" / f"training_seg_{args.map}.nii.gz")
    extra, _ = place_cmbs(labels, lgeom, seed=7919, config=PhantomConfig(**{**CONFIG.__dict__, "n_cmbs": args.points,
                                                                             "diameter_mm": (2.0, 3.0)}))
    pts = [(c.r, c.a, c.s, truth(c.placement)) for c in list(cmbs) + list(extra)]
    recs = [CMBRecord(cmb_id=n + 1, r=p[0], a=p[1], s=p[2]) for n, p in enumerate(pts)]
    gt = [p[3] for p in pts]
    print(f"phantom {image.shape[::-1]} (i, j, k), spacing {np.round(geom.spacing, 2)} mm, ready in "
          f"{time.perf_counter() - t:.0f} s; {len(cmbs)} CMBs + {len(extra)} points; threads {args.threads}")

    print(f"load average before: {', '.join(f'{v:.1f}' for v in os.getloadavg())} (other jobs share the CPUs)")
    for method in args.methods.split(","):
        cfg = DeformableConfig(method=method, syn=SynConfig(threads=args.threads),
                               bspline=BSplineConfig(threads=args.threads))
        c0, t0 = time.process_time(), time.perf_counter()
        found = template_labels_in_subject(image, geom, cfg)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        qc = found.qc
        print(f"{method:8s} path wall {wall:5.1f} s  cpu {cpu:5.1f} s  (target <= 60 s wall on 2 cores)  steps "
              + ", ".join(f"{k} {v:.1f}" for k, v in qc.seconds.items() if k != "total"))
        print(f"             QC {'passed' if qc.passed else 'FAILED: ' + qc.reason}; brain Dice {qc.brain_dice:.3f}, "
              f"NMI {qc.similarity:.3f}, affine Dice {qc.affine_dice:.3f}, warp p95 {qc.warp_p95_mm:.1f} mm; "
              f"refine {qc.refine}")
        if found.region_map is not None:
            print(f"             accuracy {accuracy([r.region for r in apply_region_map(recs, found.region_map)], gt)}")

    c0, t0 = time.process_time(), time.perf_counter()
    atlas = load_aparcaseg_atlas()
    reg = register_to_template(image, geom)
    out = assign_in_template(recs, reg, atlas)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"affine path  wall {wall:5.1f} s  cpu {cpu:5.1f} s  (MNI aparc+aseg map, CMB centres mapped into MNI)")
    print(f"             accuracy {accuracy([r.region for r in out], gt)}")
    print(f"load average after: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
