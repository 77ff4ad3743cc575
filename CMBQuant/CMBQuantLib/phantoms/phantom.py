"""SWI-like phantoms with known microbleeds, synthesised from a FreeSurfer/SynthSeg-numbered label map.

No labelled SWI is public, so the demo, the tests and the demo model's training data are made here: per-tissue SWI
contrast (CSF bright, iron-rich deep grey dark; ``phantom_tissue``), dark veins along sulci, radial medullary veins
and vessels crossing the slice (``phantom_vessels``), CMBs as dark blooming spheres 2-10 mm with partial volume,
mimics (pallidal, choroid and pineal calcification, flow voids, air-bone artefacts, and on request ring artefacts, a
site's mimic the shipped filter never saw; ``phantom_mimics``), a bias
field, Rician noise and resampling to a clinical SWI grid (``phantom_acquisition``). ``phantom_random`` draws
configurations for detector training. Everything is deterministic by ``seed``; the newer features draw from a
second random stream and default to off, so a default configuration gives the original phantoms voxel for voxel.
"""
from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.phantoms.acquisition import bias_and_noise, output_geometry, resample
from CMBQuantLib.phantoms.anatomy import add_extracerebral_shell, builtin_head
from CMBQuantLib.phantoms.config import (
    CSF_LIKE,
    PARENCHYMA_EXCLUDED,
    PhantomConfig,
    brain_mask,
    cortex_mask,
    extracerebral,
)
from CMBQuantLib.phantoms.mimics import (
    RING_STREAM,
    choroid_calcification,
    flow_voids,
    pallidal_calcification,
    pineal_calcification,
    ring_artefacts,
    stamp_sphere,
    susceptibility_artefacts,
)
from CMBQuantLib.phantoms.tissue import TISSUE_INTENSITY, soften, tissue_image
from CMBQuantLib.phantoms.vessels import slice_normal_kji, soft_tubes, vein_centrelines
from CMBQuantLib.volumes.images import read_image, write_image

__all__ = ["CSF_LIKE", "PARENCHYMA_EXCLUDED", "PLACEMENT", "TISSUE_INTENSITY", "Phantom", "PhantomCMB",
           "PhantomConfig", "builtin_phantom", "crop_to_head", "load_label_map", "place_cmbs", "read_cmb_table",
           "synthesize", "write_cmb_table"]
EXTRA_STREAM = 0x5EED  # second random stream for the newer features, so the original draws never shift

# Where CMBs are placed, by the anatomical label at their centre (the MARS category is the ground truth).
PLACEMENT = {
    "lobar": {3, 42} | set(range(1000, 3000)),
    "juxtacortical": {2, 41},  # white matter within 3 mm of cortex: lobar by MARS
    "deep": {10, 49, 11, 50, 12, 51, 2, 41},  # deep nuclei and deep white matter (> 8 mm from cortex)
    "infratentorial": {16, 7, 46, 8, 47},
}


@dataclass
class PhantomCMB:
    cmb_id: int
    r: float
    a: float
    s: float
    i: float
    j: float
    k: float
    diameter_mm: float
    label: int  # anatomical label at the centre (input label map)
    placement: str  # lobar / juxtacortical / deep / infratentorial (the sampling category)


@dataclass
class Phantom:
    image: np.ndarray  # float32 [k, j, i]
    cmb_labels: np.ndarray  # uint16 [k, j, i], value = cmb_id
    geometry: Geometry
    cmbs: list[PhantomCMB]
    anatomy: np.ndarray  # the input labels resampled (nearest) to the output grid, int16
    mimics: list[dict]

    def write(self, folder: str | Path, case_id: str) -> dict[str, Path]:
        """Write ``<case_id>_swi.nii.gz``, ``_cmb.nii.gz``, ``_anat.nii.gz`` and ``_cmbs.csv``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        out = {
            "image": write_image(self.image, self.geometry, folder / f"{case_id}_swi.nii.gz"),
            "cmb_labels": write_image(self.cmb_labels, self.geometry, folder / f"{case_id}_cmb.nii.gz"),
            "anatomy": write_image(self.anatomy, self.geometry, folder / f"{case_id}_anat.nii.gz"),
            "table": folder / f"{case_id}_cmbs.csv",
        }
        write_cmb_table(self.cmbs, out["table"])
        return out


def write_cmb_table(cmbs: list[PhantomCMB], path: Path) -> None:
    names = list(PhantomCMB.__dataclass_fields__)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        for c in cmbs:
            writer.writerow(asdict(c))


def read_cmb_table(path: str | Path) -> list[PhantomCMB]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    types = {"cmb_id": int, "label": int, "placement": str}
    return [PhantomCMB(**{k: types.get(k, float)(v) for k, v in row.items()}) for row in rows]


def load_label_map(path: str | Path) -> tuple[np.ndarray, Geometry]:
    """A SynthSeg/FreeSurfer label map as int16 [k, j, i] and its geometry."""
    arr, geom = read_image(path)
    return np.rint(arr).astype(np.int16), geom


def synthesize(labels: np.ndarray, geometry: Geometry, seed: int = 0, config: PhantomConfig | None = None) -> Phantom:
    """Synthesise an SWI-like phantom with known CMBs from a label map (1 mm isotropic expected)."""
    cfg = config or PhantomConfig()
    rng = np.random.default_rng(seed)
    rng_x = np.random.default_rng([seed, EXTRA_STREAM])
    labels, geometry = _prepare(labels, geometry, rng_x, cfg)
    hi = soften(tissue_image(labels, rng, rng_x, cfg), geometry.spacing[::-1], cfg.tissue_blur_mm)
    out_geom = output_geometry(geometry, labels.shape, cfg)
    vein_lines = vein_centrelines(labels, rng, rng_x, cfg, slice_normal_kji(geometry, out_geom))
    mimics: list[dict] = []
    calc = cfg.pallidal_calcification if cfg.pallidal_calcification is not None else bool(rng.random() < 0.5)
    if calc:
        mimics += pallidal_calcification(hi, labels, geometry, rng)
    hi *= 1.0 - cfg.vein_darkness * soft_tubes(vein_lines, cfg.vein_calibre_mm)
    cmbs = _place_cmbs(labels, geometry, out_geom, vein_lines, rng, cfg)
    for c in cmbs:
        depth = rng.uniform(*cfg.cmb_contrast)
        stamp_sphere(hi, geometry, np.array([c.r, c.a, c.s]), c.diameter_mm / 2, depth, cfg.blooming)
    mimics += _newer_mimics(hi, labels, geometry, rng_x, cfg, cmbs)
    mimics += _ring_mimics(hi, labels, geometry, seed, cfg, cmbs, mimics)
    image, anatomy = resample(hi, labels, geometry, out_geom)
    image = bias_and_noise(image, rng, cfg)
    cmb_labels = _cmb_label_map(cmbs, out_geom)
    for c in cmbs:
        c.i, c.j, c.k = (float(v) for v in out_geom.ras_to_ijk_points([c.r, c.a, c.s])[0])
    mimics += [{"kind": "vessel", "n": int(cfg.n_sulcal_veins + cfg.n_medullary_veins + cfg.n_crossing_vessels)}]
    return Phantom(image.astype(np.float32), cmb_labels, out_geom, cmbs, anatomy, mimics)


def _prepare(labels: np.ndarray, geometry: Geometry, rng_x: np.random.Generator,
             cfg: PhantomConfig) -> tuple[np.ndarray, Geometry]:
    """Optional synthesised skull/scalp (maps with brain labels only), then the crop to the head."""
    if cfg.extracerebral_shell and not extracerebral(labels).any():
        labels, geometry = add_extracerebral_shell(labels, geometry, rng_x)
    if cfg.shape is None:
        labels, geometry = crop_to_head(labels, geometry)
    return labels, geometry


def _newer_mimics(hi: np.ndarray, labels: np.ndarray, geometry: Geometry, rng_x: np.random.Generator,
                  cfg: PhantomConfig, cmbs: list[PhantomCMB]) -> list[dict]:
    """Choroid/pineal calcification, flow voids and air-bone artefacts, all clear of the CMBs (second stream)."""
    avoid = [(np.array([c.r, c.a, c.s]), c.diameter_mm / 2) for c in cmbs]
    out: list[dict] = []
    if _decide(cfg.choroid_calcification, 0.6, rng_x):
        out += choroid_calcification(hi, labels, geometry, rng_x, avoid)
    if _decide(cfg.pineal_calcification, 0.5, rng_x):
        out += pineal_calcification(hi, labels, geometry, rng_x, avoid)
    avoid += [(np.array([m["r"], m["a"], m["s"]]), m["radius_mm"]) for m in out]
    out += flow_voids(hi, labels, geometry, rng_x, cfg.n_flow_voids, avoid)
    out += susceptibility_artefacts(hi, labels, geometry, rng_x, cfg.susceptibility_artefacts)
    return out


def _ring_mimics(hi: np.ndarray, labels: np.ndarray, geometry: Geometry, seed: int, cfg: PhantomConfig,
                 cmbs: list[PhantomCMB], mimics: list[dict]) -> list[dict]:
    """Ring artefacts on their own stream, clear of the CMBs and the focal mimics (off: nothing is drawn)."""
    if not cfg.n_ring_artefacts:
        return []
    avoid = [(np.array([c.r, c.a, c.s]), c.diameter_mm / 2) for c in cmbs]
    avoid += [(np.array([m["r"], m["a"], m["s"]]), m["radius_mm"]) for m in mimics
              if "r" in m and m["kind"] != "susceptibility_artefact"]
    rng_r = np.random.default_rng([seed, RING_STREAM])
    return ring_artefacts(hi, labels, geometry, rng_r, cfg.n_ring_artefacts, avoid)


def _decide(flag: bool | None, p: float, rng: np.random.Generator) -> bool:
    return bool(rng.random() < p) if flag is None else bool(flag)


def crop_to_head(labels: np.ndarray, geometry: Geometry, margin: int = 4) -> tuple[np.ndarray, Geometry]:
    """Drop empty background around the head (SynthSeg maps are 256^3 with the head in the middle): 2x faster."""
    nz = np.argwhere(labels > 0)
    if not len(nz):
        return labels, geometry
    lo = np.maximum(nz.min(axis=0) - margin, 0)
    hi = np.minimum(nz.max(axis=0) + margin + 1, labels.shape)
    mat = geometry.ijk_to_ras.copy()
    mat[:3, 3] = geometry.ijk_to_ras_points(lo[::-1].astype(float))[0]
    crop = labels[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    return crop, Geometry(mat, tuple(int(v) for v in crop.shape))


def _place_cmbs(labels: np.ndarray, geometry: Geometry, out_geom: Geometry, vein_lines: np.ndarray, rng,
                cfg: PhantomConfig) -> list[PhantomCMB]:
    n = cfg.n_cmbs if isinstance(cfg.n_cmbs, int) else int(rng.integers(cfg.n_cmbs[0], cfg.n_cmbs[1] + 1))
    labels_full = labels
    box, (labels, inside, to_cortex, to_vein) = _placement_maps(labels, geometry, vein_lines, cfg)
    offset = np.array([sl.start for sl in box])
    cortex = cortex_mask(labels)
    pools = {
        "lobar": cortex,
        "juxtacortical": np.isin(labels, [2, 41]) & (to_cortex <= 3.0),
        "deep": np.isin(labels, [10, 49, 11, 50, 12, 51]) | (np.isin(labels, [2, 41]) & (to_cortex > 8.0)),
        "infratentorial": np.isin(labels, [16, 7, 46, 8, 47]),
    }
    kinds = list(cfg.mix)
    probs = np.array([cfg.mix[k] for k in kinds], float)
    probs /= probs.sum()
    cmbs: list[PhantomCMB] = []
    attempts = 0
    while len(cmbs) < n and attempts < 200 * n:
        attempts += 1
        kind = kinds[rng.choice(len(kinds), p=probs)]
        d = float(np.exp(rng.uniform(np.log(cfg.diameter_mm[0]), np.log(cfg.diameter_mm[1]))))
        r = d / 2
        # At least half surrounded by parenchyma; away from veins so the two never merge.
        ok = pools[kind] & (inside >= max(r * 0.6, 1.0)) & (to_vein >= r + 2.0)
        cand = np.argwhere(ok)
        if not len(cand):
            continue
        kji = cand[rng.integers(len(cand))] + offset
        ras = geometry.ijk_to_ras_points(kji[::-1].astype(float))[0]
        out_ijk = out_geom.ras_to_ijk_points(ras)[0]
        margin = r / out_geom.spacing + 1
        if (out_ijk < margin).any() or (out_ijk > np.array(out_geom.shape[::-1]) - 1 - margin).any():
            continue  # must lie wholly inside the output field of view
        if any(np.linalg.norm(ras - np.array([c.r, c.a, c.s])) < r + c.diameter_mm / 2 + 4.0 for c in cmbs):
            continue
        cmbs.append(PhantomCMB(len(cmbs) + 1, *map(float, ras), 0.0, 0.0, 0.0, round(d, 3),
                               int(labels_full[tuple(kji)]), kind))
    return cmbs


def _placement_maps(labels: np.ndarray, geometry: Geometry, vein_lines: np.ndarray, cfg: PhantomConfig):
    """Labels and distance maps (mm) on the bounding box of brain and cortex, where every CMB centre lies.

    The margin keeps every threshold exact: a vein outside the box is farther than any ``r + 2`` test, the box
    border is not brain, and all cortex lies inside it. Three EDTs on the box instead of the head: ~3x faster.
    """
    sp = geometry.spacing[::-1]
    brain = brain_mask(labels, cfg.parcels_are_brain)
    cortex = cortex_mask(labels)
    nz = np.argwhere(brain | cortex)
    margin = int(np.ceil((cfg.diameter_mm[1] / 2 + 2.0) / sp.min())) + 1
    lo = np.maximum(nz.min(axis=0) - margin, 0) if len(nz) else np.zeros(3, int)
    hi = np.minimum(nz.max(axis=0) + margin + 1, labels.shape) if len(nz) else np.array(labels.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    lab = labels[box]
    inside = ndimage.distance_transform_edt(brain[box], sampling=sp)
    to_cortex = _edt_to(cortex, box, sp)
    to_vein = _edt_to(vein_lines, box, sp)
    return box, (lab, inside, to_cortex, to_vein)


def _edt_to(features: np.ndarray, box: tuple[slice, ...], sp: np.ndarray) -> np.ndarray:
    """Distance to the nearest feature voxel, on ``box``; none in the box: infinite (the full grid if none at all)."""
    sub = features[box]
    if sub.any():
        return ndimage.distance_transform_edt(~sub, sampling=sp)
    if features.any():
        return np.full(sub.shape, np.inf)
    return ndimage.distance_transform_edt(~features, sampling=sp)[box]  # the original's behaviour, kept


def _cmb_label_map(cmbs: list[PhantomCMB], geom: Geometry) -> np.ndarray:
    """Voxels whose centre lies within the CMB radius (at least the voxel nearest the centre)."""
    out = np.zeros(geom.shape, np.uint16)
    sp = geom.spacing
    for c in cmbs:
        centre = np.array([c.r, c.a, c.s])
        ijk = geom.ras_to_ijk_points(centre)[0]
        half = np.ceil(c.diameter_mm / 2 / sp + 1).astype(int)
        lo = np.maximum(np.floor(ijk).astype(int) - half, 0)
        hi = np.minimum(np.floor(ijk).astype(int) + half + 2, np.array(geom.shape[::-1]))
        ii, jj, kk = np.meshgrid(*[np.arange(lo[d], hi[d]) for d in range(3)], indexing="ij")
        pts = np.stack([ii.ravel(), jj.ravel(), kk.ravel()], 1)
        inside = np.linalg.norm(geom.ijk_to_ras_points(pts) - centre, axis=1) <= c.diameter_mm / 2
        sel = pts[inside]
        if not len(sel):
            sel = np.round(ijk)[None].astype(int)
        out[sel[:, 2], sel[:, 1], sel[:, 0]] = c.cmb_id
    return out


def place_cmbs(labels: np.ndarray, geometry: Geometry, seed: int = 0, config: PhantomConfig | None = None,
               veins: bool = False) -> tuple[list[PhantomCMB], Geometry]:
    """CMB centres exactly as ``synthesize`` places them, without synthesising the image (fast ground truth).

    Returns the CMBs and the clinical output grid they were placed for. ``veins=False`` places them against the
    anatomy alone (no vein exclusion), which is what region-accuracy studies want.
    """
    cfg = config or PhantomConfig()
    rng = np.random.default_rng(seed)
    rng_x = np.random.default_rng([seed, EXTRA_STREAM])
    labels, geometry = _prepare(labels, geometry, rng_x, cfg)
    out_geom = output_geometry(geometry, labels.shape, cfg)
    normal = slice_normal_kji(geometry, out_geom)
    lines = vein_centrelines(labels, rng, rng_x, cfg, normal) if veins else np.zeros(labels.shape, bool)
    if not lines.any():
        lines[0, 0, 0] = True  # distance transform needs one background voxel
    return _place_cmbs(labels, geometry, out_geom, lines, rng, cfg), out_geom


def builtin_phantom(seed: int = 0, config: PhantomConfig | None = None) -> Phantom:
    """A phantom from the procedural built-in anatomy (works without ``../shared``)."""
    labels, geom = builtin_head(seed)
    return synthesize(labels, geom, seed=seed, config=config)
