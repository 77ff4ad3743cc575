"""MARS region accuracy of every region path on phantoms from the SynthSeg maps, per phantom set.

Sets: ``default`` (the project's own generator, ``PhantomConfig``: 0.9 x 0.9 x 2 mm axial) and ``unseen``
(``random_config(.., "unseen")``: 3-3.5 mm slices at 0.4-0.5 mm in-plane, 20-28 deg oblique on two axes, other
contrast, noise and bias). Truth is each CMB's placement category (lobar / juxtacortical -> lobar, deep,
infratentorial). Paths:

- ``path1``: the phantom's own anatomy on the SWI grid (what SynthSeg run on the SWI would give, minus its errors);
- ``affine_aparcaseg`` / ``affine_mars``: the affine path (SWI -> ICBM152, CMB centres mapped into MNI);
- ``syn`` / ``bspline``: the deformable path (template labels warped into the subject, rules in subject space).

Also per phantom: the detector brain mask against the phantom's anatomy (brain kept, mask outside the head's
intracranial space) and the deformable QC record. ``--extra-points N`` adds N ground-truth points per phantom placed
by the generator's own rule (``place_cmbs``, not drawn into the image) for a tighter estimate of the region maps.

    python benchmarks/measure_region_accuracy.py --maps 08,09 --sets default,unseen --seeds 2 --out rows.jsonl
    python benchmarks/measure_region_accuracy.py --summarise rows.jsonl      # confusion tables per set and path
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "CMBQuant"))

from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.detection.brain import brain_and_head
from CMBQuantLib.phantoms.phantom import PhantomConfig, load_label_map, place_cmbs, synthesize
from CMBQuantLib.phantoms.randomized import random_config
from CMBQuantLib.regions.assign import apply_region_map, assign_in_template
from CMBQuantLib.regions.atlas import aparcaseg_path, load_aparcaseg_atlas, load_mars_atlas
from CMBQuantLib.regions.label_template import load_label_template
from CMBQuantLib.regions.parcellation import region_map_from_labels
from CMBQuantLib.regions.registration_qc import QCThresholds, RegistrationQC, decide
from CMBQuantLib.regions.subject_labels import DeformableConfig, template_labels_in_subject
from CMBQuantLib.regions.template import RegistrationError, register_to_template

SHARED = ROOT.parent / "shared" / "data"
REGIONS = ("lobar", "deep", "infratentorial")
COLUMNS = REGIONS + ("unassigned",)
PATHS = ("path1", "affine_aparcaseg", "affine_mars", "syn", "bspline")
NO_LIMITS = QCThresholds(min_brain_dice=0.0, min_similarity=0.0, min_brain_in_fov=0.0, max_cut_cm2=float("inf"),
                         max_brain_ml=float("inf"), min_affine_dice=0.0, max_warp_p95_mm=float("inf"))


def truth(placement: str) -> str:
    return "lobar" if placement in ("lobar", "juxtacortical") else placement


def phantom_config(setting: str, seed: int) -> PhantomConfig:
    cfg = PhantomConfig() if setting == "default" else random_config(np.random.default_rng(seed), setting)
    cfg.n_cmbs = 30
    return cfg


def brain_mask_quality(ph) -> dict:
    """The detector's intracranial mask against the phantom anatomy (labels 1-499 are intracranial)."""
    mask, _ = brain_and_head(ph.image, ph.geometry.spacing[::-1])
    icv = (ph.anatomy > 0) & (ph.anatomy < 500)
    brain = icv & (ph.anatomy != 24)
    infra = np.isin(ph.anatomy, [16, 7, 8, 46, 47])
    return {"brain_kept": round(float(mask[brain].mean()), 3),
            "infratentorial_kept": round(float(mask[infra].mean()), 3),
            "mask_outside_icv": round(float((mask & ~icv).sum() / max(mask.sum(), 1)), 3)}


def confusion(regions: list[str], gt: list[str]) -> list[list[int]]:
    """Rows: truth lobar, deep, infratentorial; columns: assigned lobar, deep, infratentorial, unassigned."""
    table = np.zeros((3, 4), int)
    for r, g in zip(regions, gt):
        table[REGIONS.index(g), COLUMNS.index(r if r in REGIONS else "unassigned")] += 1
    return table.tolist()


def run_paths(ph, paths, atlases, template) -> tuple[dict, dict]:
    """Per path a ``records -> records`` look-up (None where the registration was refused), and path notes."""
    out: dict = {}
    notes: dict = {}
    if "path1" in paths:
        rm1 = region_map_from_labels(ph.anatomy, ph.geometry)
        out["path1"] = lambda recs, rm=rm1: apply_region_map(recs, rm)
    if any(p.startswith("affine") for p in paths):
        t = time.perf_counter()
        try:
            reg = register_to_template(ph.image, ph.geometry)
            for name, rm in atlases.items():
                out[f"affine_{name}"] = lambda recs, rm=rm: assign_in_template(recs, reg, rm)
            notes["affine"] = {"seconds": round(time.perf_counter() - t, 1),
                               "scales": np.round(reg.singular_values, 3).tolist()}
        except RegistrationError as exc:
            notes["affine"] = {"error": str(exc).splitlines()[0]}
            out.update({f"affine_{name}": None for name in atlases})
    for method in ("syn", "bspline"):
        if method in paths:  # QC limits off here: the accuracy is measured on every registration, and the
            # default limits' decision is recorded beside it (``qc_default``); summaries apply it
            sl = template_labels_in_subject(ph.image, ph.geometry, DeformableConfig(method=method, overlay=False,
                                            qc=NO_LIMITS), template=template)
            notes[method] = sl.qc.to_dict()
            notes[method]["qc_default"] = decide(copy.copy(sl.qc), QCThresholds()).reason or "passed"
            out[method] = (lambda recs, rm=sl.region_map: apply_region_map(recs, rm)) if sl.region_map else None
    return out, notes


def measure(map_id: str, setting: str, seed: int, paths, atlases, template, extra_points: int) -> dict:
    labels, geom = load_label_map(SHARED / "synthseg" / f"training_seg_{map_id}.nii.gz")
    cfg = phantom_config(setting, seed)
    t = time.perf_counter()
    ph = synthesize(labels, geom, seed=seed, config=cfg)
    row = {"map": map_id, "set": setting, "seed": seed, "synth_s": round(time.perf_counter() - t, 1),
           "spacing": np.round(ph.geometry.spacing, 2).tolist(), "brain_mask": brain_mask_quality(ph)}
    points = {"cmbs": [(c.r, c.a, c.s, truth(c.placement)) for c in ph.cmbs]}
    if extra_points:
        extra = PhantomConfig(**{**cfg.__dict__, "n_cmbs": extra_points, "diameter_mm": (2.0, 3.0)})
        placed, _ = place_cmbs(labels, geom, seed=seed + 7919, config=extra)
        points["extra"] = [(c.r, c.a, c.s, truth(c.placement)) for c in placed]
    lookups, row["notes"] = run_paths(ph, paths, atlases, template)
    for kind, pts in points.items():
        recs = [CMBRecord(cmb_id=n + 1, r=p[0], a=p[1], s=p[2]) for n, p in enumerate(pts)]
        gt = [p[3] for p in pts]
        row[kind] = {name: (confusion([r.region for r in fn(recs)], gt) if fn is not None else None)
                     for name, fn in lookups.items()}
        row[kind]["n"] = len(gt)
    return row


def qc_refusal(notes: dict, limits: QCThresholds) -> str:
    """The reason ``limits`` refuse a recorded deformable registration ('' when it passes)."""
    if notes.get("reason"):  # refused before the limits applied (no brain, affine checks)
        return notes["reason"]
    fields = {k: v for k, v in notes.items() if k in RegistrationQC.__dataclass_fields__ and k not in ("passed",)}
    floats = {k: (float("nan") if v is None else v) for k, v in fields.items()}
    return decide(RegistrationQC(**floats), limits).reason


def summarise(rows: list[dict], kind: str = "cmbs", limits: QCThresholds | None = None) -> dict:
    """Per set and path: accuracy (refused registrations count as unassigned), confusion table, refusals."""
    limits = limits or QCThresholds()
    out: dict = {}
    for row in rows:
        truth_n = np.array(row[kind]["path1"]).sum(axis=1) if row.get(kind, {}).get("path1") else None
        for path, table in row.get(kind, {}).items():
            if path == "n":
                continue
            s = out.setdefault(row["set"], {}).setdefault(path, {"table": np.zeros((3, 4), int), "refused": [],
                                                                  "phantoms": 0})
            s["phantoms"] += 1
            why = qc_refusal(row["notes"][path], limits) if path in ("syn", "bspline") else (
                row["notes"].get("affine", {}).get("error", "") if table is None else "")
            if why or table is None:
                s["refused"].append(f"{row['map']}/{row['seed']}: {why}")
                if truth_n is not None:
                    s["table"][:, 3] += truth_n
                continue
            s["table"] += np.array(table)
    for paths in out.values():
        for s in paths.values():
            t = s["table"]
            s["accuracy"] = round(float(np.trace(t[:, :3]) / max(t.sum(), 1)), 4)
            s["n"] = int(t.sum())
            s["table"] = t.tolist()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--maps", default=",".join(f"{i:02d}" for i in range(8, 15)))
    ap.add_argument("--sets", default="default,unseen")
    ap.add_argument("--seeds", type=int, default=1, help="phantoms per map and set (seeds map, map + 100, ...)")
    ap.add_argument("--paths", default=",".join(PATHS))
    ap.add_argument("--extra-points", type=int, default=0)
    ap.add_argument("--mars", type=Path, default=SHARED / "mars" / "MARS_scale_parcellation_map_mni.nii.gz")
    ap.add_argument("--out", type=Path, help="JSON lines, one per phantom (appended; done phantoms are skipped)")
    ap.add_argument("--summarise", type=Path, help="only print the summary of a JSON-lines file")
    args = ap.parse_args()
    if args.summarise:
        rows = [json.loads(x) for x in args.summarise.read_text().splitlines() if x.strip()]
        print(json.dumps({k: summarise(rows, k) for k in ("cmbs", "extra")}, indent=1))
        return
    paths = args.paths.split(",")
    atlases = {"mars": load_mars_atlas(args.mars)}
    if aparcaseg_path():
        atlases = {"aparcaseg": load_aparcaseg_atlas(), **atlases}
    template = load_label_template() if {"syn", "bspline"} & set(paths) else None
    done = set()
    if args.out and args.out.is_file():
        done = {(r["map"], r["set"], r["seed"]) for r in map(json.loads, args.out.read_text().splitlines()) if r}
    rows = []
    for setting in args.sets.split(","):
        for m in args.maps.split(","):
            for s in range(args.seeds):
                seed = int(m) + 100 * s
                if (m, setting, seed) in done:
                    continue
                row = measure(m, setting, seed, paths, atlases, template, args.extra_points)
                rows.append(row)
                line = json.dumps(row)
                print(line, flush=True)
                if args.out:
                    with open(args.out, "a", encoding="utf-8") as fh:
                        fh.write(line + "\n")
    print(json.dumps(summarise(rows), indent=1))


if __name__ == "__main__":
    main()
