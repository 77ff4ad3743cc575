"""Measure MARS region accuracy of path 1 (label map) and path 2 (template) on phantoms from the SynthSeg maps.

Ground truth is the phantom's placement category (lobar / juxtacortical -> lobar, deep, infratentorial). Path 1 is
fed the phantom's own anatomy on the SWI grid (what SynthSeg run on the SWI would give, minus its errors) and the
1 mm source map; path 2 registers the synthetic SWI to ICBM152 and reads the MARS atlas and the aparc+aseg map.

    python benchmarks/measure_region_accuracy.py [--maps 01,02] [--n-cmbs 30] [--mars PATH] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "CMBQuant"))

from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.phantoms.phantom import PhantomConfig, load_label_map, synthesize
from CMBQuantLib.regions.assign import apply_region_map, assign_in_template
from CMBQuantLib.regions.atlas import (
    aparcaseg_path,
    load_aparcaseg_atlas,
    load_mars_atlas,
)
from CMBQuantLib.regions.parcellation import region_map_from_labels
from CMBQuantLib.regions.template import RegistrationError, register_to_template

SHARED = ROOT.parent / "shared" / "data"


def truth(placement: str) -> str:
    return "lobar" if placement in ("lobar", "juxtacortical") else placement


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--maps", default=",".join(f"{i:02d}" for i in range(1, 15)))
    ap.add_argument("--n-cmbs", type=int, default=30)
    ap.add_argument("--mars", type=Path, default=SHARED / "mars" / "MARS_scale_parcellation_map_mni.nii.gz")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    atlases = {"mars": load_mars_atlas(args.mars)}
    if aparcaseg_path():
        atlases["aparcaseg"] = load_aparcaseg_atlas()
    tally: dict[str, Counter] = {}
    errors: dict[str, Counter] = {}
    per_map = []
    for m in args.maps.split(","):
        labels, geom = load_label_map(SHARED / "synthseg" / f"training_seg_{m}.nii.gz")
        t = time.perf_counter()
        ph = synthesize(labels, geom, seed=int(m), config=PhantomConfig(n_cmbs=args.n_cmbs))
        t_syn = time.perf_counter() - t
        recs = [CMBRecord(cmb_id=c.cmb_id, r=c.r, a=c.a, s=c.s, status="definite") for c in ph.cmbs]
        gt = [truth(c.placement) for c in ph.cmbs]
        results = {
            "path1_swi_grid": apply_region_map(recs, region_map_from_labels(ph.anatomy, ph.geometry)),
            "path1_1mm": apply_region_map(recs, region_map_from_labels(labels, geom)),
        }
        t = time.perf_counter()
        try:
            reg = register_to_template(ph.image, ph.geometry)
            for name, rm in atlases.items():
                results[f"path2_{name}"] = assign_in_template(recs, reg, rm)
            reg_info = {"seconds": round(reg.seconds, 1), "metric": round(reg.metric, 3),
                        "brain_in_head": round(reg.brain_in_head, 3), "scales": np.round(reg.singular_values, 3).tolist()}
        except RegistrationError as exc:
            reg_info = {"error": str(exc)}
        row = {"map": m, "n": len(recs), "synth_s": round(t_syn, 1), "registration": reg_info}
        for name, out in results.items():
            ok = [r.region == g for r, g in zip(out, gt)]
            tally.setdefault(name, Counter()).update(ok=sum(ok), n=len(ok))
            errors.setdefault(name, Counter()).update(f"{g}->{r.region}" for r, g, o in zip(out, gt, ok) if not o)
            row[name] = round(float(np.mean(ok)), 3)
        per_map.append(row)
        print(json.dumps(row), flush=True)
    summary = {k: {"accuracy": round(v["ok"] / max(v["n"], 1), 4), "n": v["n"], "errors": dict(errors[k])}
               for k, v in tally.items()}
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"per_map": per_map, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
