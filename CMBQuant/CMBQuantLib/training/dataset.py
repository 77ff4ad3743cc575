"""Phantom generation with SynthSeg-style domain randomisation, and the nnU-Net raw dataset built from it.

Training volumes are crops (about 96 x 115 x 115 mm) around CMBs or random brain points rather than whole heads: the
network sees every lesion and mimic at full resolution while the dataset stays small enough to train on a CPU.
Held-out scans are whole phantoms, so false positives per scan are measured on the full field of view.
Each crop is divided by its own 99th percentile (the CSF level): the same rule the predictor applies to a whole
input volume, so crops and whole heads reach the network on one intensity scale (nnU-Net's per-image z-score did
not: the air fraction shifted brain intensities by ~0.8 SD between crops and heads, see MODEL_CARD.md).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.detection.nnunet.predictor import p99_scale
from CMBQuantLib.phantoms.anatomy import builtin_head
from CMBQuantLib.phantoms.phantom import Phantom, PhantomConfig, load_label_map, synthesize
from CMBQuantLib.training.plans import dataset_json
from CMBQuantLib.volumes.images import write_image

CROP_MM = (96.0, 115.0, 115.0)  # (k, j, i) extent of a training crop


@dataclass(frozen=True)
class Source:
    """Where a phantom's anatomy comes from: a SynthSeg label-map file or the built-in head (``path`` None)."""

    path: Path | None
    seed: int


def synthseg_maps(shared: Path) -> list[Path]:
    return sorted((shared / "data" / "synthseg").glob("training_seg_*.nii.gz"))


def randomised_config(rng: np.random.Generator) -> PhantomConfig:
    """Training distribution: random tissue contrasts, in-plane 0.6-1.0 mm, slices 1-2.5 mm, bias, noise, tilt."""
    return PhantomConfig(
        n_cmbs=(4, 14),
        diameter_mm=(2.0, 10.0),
        spacing=(float(rng.uniform(0.6, 1.0)),) * 2 + (float(rng.uniform(1.0, 2.5)),),
        rotation_deg=tuple(float(x) for x in rng.uniform(-10, 10, 3)),
        bias_amplitude=float(rng.uniform(0.05, 0.4)),
        noise_sigma=float(rng.uniform(0.01, 0.06)),
        randomise_contrast=float(rng.uniform(0.05, 0.3)),
        cmb_contrast=(0.6, 0.95),
    )


def small_cmb_config(rng: np.random.Generator) -> PhantomConfig:
    """Run-4 fine-tuning distribution: the training ranges, but more and smaller CMBs (2-4.5 mm, log-uniform),
    the sizes the run-3 model missed."""
    cfg = randomised_config(rng)
    cfg.n_cmbs = (10, 20)
    cfg.diameter_mm = (2.0, 4.5)
    return cfg


def unseen_config(rng: np.random.Generator) -> PhantomConfig:
    """A generator setting outside the training ranges: 25-30 deg oblique, 0.5 mm in-plane, 3 mm slices,
    stronger noise and contrast jitter."""
    return PhantomConfig(
        n_cmbs=(4, 14),
        spacing=(0.5, 0.5, 3.0),
        rotation_deg=(float(rng.uniform(25, 30)), 0.0, float(rng.uniform(-30, -25))),
        bias_amplitude=0.45,
        noise_sigma=0.07,
        randomise_contrast=0.35,
        cmb_contrast=(0.6, 0.95),
    )


def crop_labels(labels: np.ndarray, geometry: Geometry, margin: int = 4) -> tuple[np.ndarray, Geometry]:
    """Crop a label map to its non-zero bounding box (+margin): synthesis time scales with the grid."""
    nz = np.argwhere(labels > 0)
    lo = np.maximum(nz.min(0) - margin, 0)
    hi = np.minimum(nz.max(0) + margin + 1, labels.shape)
    mat = geometry.ijk_to_ras.copy()
    mat[:3, 3] = geometry.ijk_to_ras_points(lo[::-1].astype(float))[0]
    sub = labels[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    return np.ascontiguousarray(sub), Geometry(mat, tuple(int(x) for x in sub.shape))


def make_phantom(source: Source, config: PhantomConfig) -> Phantom:
    if source.path is None:

        labels, geom = builtin_head(source.seed)
    else:
        labels, geom = load_label_map(source.path)
    labels, geom = crop_labels(labels, geom)
    return synthesize(labels, geom, seed=source.seed, config=config)


def crop_box(phantom: Phantom, centre_kji: np.ndarray) -> tuple[slice, slice, slice]:
    half = np.ceil(np.array(CROP_MM) / phantom.geometry.spacing[::-1] / 2).astype(int)
    shape = np.array(phantom.image.shape)
    size = np.minimum(2 * half, shape)
    lo = np.clip(np.round(centre_kji).astype(int) - size // 2, 0, shape - size)
    return tuple(slice(int(a), int(a + s)) for a, s in zip(lo, size))


def cropped_geometry(geometry: Geometry, box: tuple[slice, slice, slice]) -> Geometry:
    lo = np.array([s.start for s in box][::-1], float)
    mat = geometry.ijk_to_ras.copy()
    mat[:3, 3] = geometry.ijk_to_ras_points(lo)[0]
    return Geometry(mat, tuple(s.stop - s.start for s in box))


def crop_centres(phantom: Phantom, rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """Mostly around CMBs (jittered by up to 25 mm), one around a random brain point (mimics, empty crops)."""
    out: list[np.ndarray] = []
    sp = phantom.geometry.spacing[::-1]
    brain = np.argwhere(phantom.anatomy[::4, ::4, ::4] > 0) * 4
    for idx in range(n):
        if idx < n - 1 and phantom.cmbs:
            c = phantom.cmbs[int(rng.integers(len(phantom.cmbs)))]
            out.append(np.array([c.k, c.j, c.i]) + rng.uniform(-25, 25, 3) / sp)
        else:
            out.append(brain[int(rng.integers(len(brain)))].astype(float))
    return out


def edge_centres(phantom: Phantom, rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """Crop centres on the brain surface (cortex, sulcal CSF and its veins, scalp and the air beyond): the places of
    the run-3 model's false positives. Whatever CMBs fall inside are labelled as usual."""

    brain = phantom.anatomy[::2, ::2, ::2] > 0
    edge = np.argwhere(brain & ~ndimage.binary_erosion(brain, iterations=2)) * 2
    return [edge[int(rng.integers(len(edge)))].astype(float) for _ in range(n)]


def small_cmb_centres(phantom: Phantom, rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """Half the crops around (small) CMBs, half on the brain surface (vein-rich cortex / CSF, air)."""
    n_cmb = (n + 1) // 2
    return crop_centres(phantom, rng, n_cmb + 1)[:n_cmb] + edge_centres(phantom, rng, n - n_cmb)


def build_raw_dataset(out: Path, sources: list[Source], crops_per_phantom: int = 3, seed: int = 0,
                      log=print, config_fn=None, centres_fn=None, first_index: int = 0,
                      write_json: bool = True) -> int:
    """Write ``imagesTr/``, ``labelsTr/`` (binary CMB masks) and ``dataset.json``; return the case count.

    ``config_fn`` / ``centres_fn`` replace the phantom distribution and the crop placement; ``first_index`` appends
    cases after an existing dataset (then the caller writes ``dataset.json`` for the total)."""

    config_fn = config_fn or randomised_config
    centres_fn = centres_fn or crop_centres
    rng = np.random.default_rng(seed)
    (out / "imagesTr").mkdir(parents=True, exist_ok=True)
    (out / "labelsTr").mkdir(parents=True, exist_ok=True)
    n = first_index
    for src in sources:
        ph = make_phantom(src, config_fn(rng))
        for centre in centres_fn(ph, rng, crops_per_phantom):
            box = crop_box(ph, centre)
            geom = cropped_geometry(ph.geometry, box)
            case = f"cmb_{n:04d}"
            crop = ph.image[box]
            write_image(crop / p99_scale(crop), geom, out / "imagesTr" / f"{case}_0000.nii.gz")
            write_image((ph.cmb_labels[box] > 0).astype(np.uint8), geom, out / "labelsTr" / f"{case}.nii.gz")
            n += 1
        log(f"phantom {src} -> {n} crops, spacing {ph.geometry.spacing.round(2).tolist()}, {len(ph.cmbs)} CMBs")
    if write_json:
        (out / "dataset.json").write_text(json.dumps(dataset_json(n, scaling="p99"), indent=2))
    return n


def write_test_phantoms(out: Path, sources: list[Source], unseen: bool, seed: int, log=print) -> list[Path]:
    """Whole held-out phantoms: ``<case>_swi.nii.gz`` + ``_cmb.nii.gz`` + ``_cmbs.csv``."""
    rng = np.random.default_rng(seed)
    written = []
    for idx, src in enumerate(sources):
        cfg = unseen_config(rng) if unseen else randomised_config(rng)
        ph = make_phantom(src, cfg)
        case = f"{'unseen' if unseen else 'heldout'}_{idx:02d}"
        ph.write(out, case)
        written.append(out / f"{case}_swi.nii.gz")
        log(f"test phantom {case}: {ph.image.shape}, spacing {ph.geometry.spacing.round(2).tolist()}, "
            f"{len(ph.cmbs)} CMBs")
    return written
