"""SWI-like phantoms with known microbleeds, synthesised from a FreeSurfer/SynthSeg-numbered label map.

No labelled SWI is public, so the demo, the tests and the demo model's training data are made here: per-tissue SWI
contrast (CSF bright, iron-rich deep grey dark), dark veins along sulci and radial medullary veins, CMBs as dark
blooming spheres 2-10 mm with partial volume, mimics (symmetric pallidal calcification, vessels crossing the slice),
a bias field, Rician noise, and resampling to a clinical SWI grid. Everything is deterministic by ``seed``.
"""
from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from .volumes import Geometry, read_image, write_image

CSF_LIKE = {4, 5, 14, 15, 24, 43, 44}
# Mean SWI magnitude per tissue (white matter ~0.62); iron-rich nuclei dark, CSF bright.
TISSUE_INTENSITY = {
    0: 0.0, 2: 0.62, 41: 0.62, 7: 0.60, 46: 0.60, 3: 0.74, 42: 0.74, 8: 0.72, 47: 0.72,
    10: 0.56, 49: 0.56, 11: 0.58, 50: 0.58, 12: 0.46, 51: 0.46, 13: 0.30, 52: 0.30,
    16: 0.55, 17: 0.72, 53: 0.72, 18: 0.70, 54: 0.70, 26: 0.66, 58: 0.66, 28: 0.42, 60: 0.42,
    4: 0.95, 43: 0.95, 5: 0.95, 44: 0.95, 14: 0.95, 15: 0.95, 24: 0.92,
}
# Where CMBs are placed, by the anatomical label at their centre (the MARS category is the ground truth).
PLACEMENT = {
    "lobar": {3, 42} | set(range(1000, 3000)),
    "juxtacortical": {2, 41},  # white matter within 3 mm of cortex: lobar by MARS
    "deep": {10, 49, 11, 50, 12, 51, 2, 41},  # deep nuclei and deep white matter (> 8 mm from cortex)
    "infratentorial": {16, 7, 46, 8, 47},
}
PARENCHYMA_EXCLUDED = CSF_LIKE | {0}


@dataclass
class PhantomConfig:
    """What to synthesise; the defaults give a 0.9 x 0.9 x 2 mm axial SWI with 3-12 CMBs."""

    n_cmbs: int | tuple[int, int] = (3, 12)
    diameter_mm: tuple[float, float] = (2.0, 10.0)
    mix: dict[str, float] = field(default_factory=lambda: {"lobar": 0.35, "juxtacortical": 0.1, "deep": 0.3,
                                                           "infratentorial": 0.25})
    spacing: tuple[float, float, float] = (0.9, 0.9, 2.0)
    shape: tuple[int, int, int] | None = None  # output (i, j, k) voxels; None: cover the input field of view
    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)  # oblique acquisitions
    n_sulcal_veins: int = 60
    n_medullary_veins: int = 40
    n_crossing_vessels: int = 8  # short vessels across the slice: dots in-plane, a classic CMB mimic
    pallidal_calcification: bool | None = None  # None: random
    bias_amplitude: float = 0.2
    noise_sigma: float = 0.03
    randomise_contrast: float = 0.0  # SynthSeg-style domain randomisation: relative jitter of tissue intensities
    cmb_contrast: tuple[float, float] = (0.75, 0.95)  # fraction of signal lost in the CMB core


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
    if cfg.shape is None:
        labels, geometry = crop_to_head(labels, geometry)
    hi = _tissue_image(labels, rng, cfg)
    vein_lines = _vein_centrelines(labels, rng, cfg)
    mimics: list[dict] = []
    calc = cfg.pallidal_calcification if cfg.pallidal_calcification is not None else bool(rng.random() < 0.5)
    if calc:
        mimics += _pallidal_calcification(hi, labels, geometry, rng)
    hi *= 1.0 - 0.8 * _soft_tubes(vein_lines)
    out_geom = _output_geometry(geometry, labels.shape, cfg)
    cmbs = _place_cmbs(labels, geometry, out_geom, vein_lines, rng, cfg)
    for c in cmbs:
        depth = rng.uniform(*cfg.cmb_contrast)
        _stamp_sphere(hi, geometry, np.array([c.r, c.a, c.s]), c.diameter_mm / 2, depth)
    image, anatomy = _resample(hi, labels, geometry, out_geom, cfg)
    image = _bias_and_noise(image, out_geom, rng, cfg)
    cmb_labels = _cmb_label_map(cmbs, out_geom)
    for c in cmbs:
        c.i, c.j, c.k = (float(v) for v in out_geom.ras_to_ijk_points([c.r, c.a, c.s])[0])
    mimics += [{"kind": "vessel", "n": int(cfg.n_sulcal_veins + cfg.n_medullary_veins + cfg.n_crossing_vessels)}]
    return Phantom(image.astype(np.float32), cmb_labels, out_geom, cmbs, anatomy, mimics)


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


def _tissue_image(labels: np.ndarray, rng: np.random.Generator, cfg: PhantomConfig) -> np.ndarray:
    lut = np.zeros(int(labels.max()) + 1, np.float32)
    for lab in np.unique(labels):
        lab = int(lab)
        if lab in TISSUE_INTENSITY:
            v = TISSUE_INTENSITY[lab]
        elif 1000 <= lab < 3000:
            v = TISSUE_INTENSITY[3]
        else:  # extra-cerebral tissue: fixed by label, varied by seed
            v = 0.15 + 0.45 * ((lab * 7919) % 97) / 97
        if cfg.randomise_contrast and lab != 0:
            v *= 1.0 + rng.uniform(-cfg.randomise_contrast, cfg.randomise_contrast)
        lut[lab] = v
    img = lut[labels]
    # Mild texture so tissues are not flat.
    img *= (1.0 + 0.03 * ndimage.gaussian_filter(rng.standard_normal(labels.shape).astype(np.float32), 1.5) * 3)
    return img


def _vein_centrelines(labels: np.ndarray, rng: np.random.Generator, cfg: PhantomConfig) -> np.ndarray:
    """Boolean map of vein centrelines: random walks in sulcal CSF, radial medullary veins, vertical vessels."""
    lines = np.zeros(labels.shape, bool)
    brain = ~np.isin(labels, list(PARENCHYMA_EXCLUDED)) & (labels < 500)
    csf = labels == 24
    near_brain = csf & ndimage.binary_dilation(brain, iterations=2)
    seeds = np.argwhere(near_brain)
    shape = np.array(labels.shape)
    for _ in range(cfg.n_sulcal_veins if len(seeds) else 0):
        p = seeds[rng.integers(len(seeds))].astype(float)
        d = rng.standard_normal(3)
        for _ in range(int(rng.integers(15, 45))):
            d = d / np.linalg.norm(d) + 0.35 * rng.standard_normal(3)
            q = p + d / np.linalg.norm(d)
            qi = np.clip(np.round(q).astype(int), 0, shape - 1)
            if not csf[tuple(qi)]:
                d = -d + 0.5 * rng.standard_normal(3)
                continue
            p = q
            lines[tuple(qi)] = True
    vent = np.isin(labels, [4, 43])
    vseeds = np.argwhere(vent & ~ndimage.binary_erosion(vent))
    centre = np.argwhere(vent).mean(axis=0) if len(vseeds) else None
    for _ in range(cfg.n_medullary_veins if len(vseeds) else 0):
        p = vseeds[rng.integers(len(vseeds))].astype(float)
        d = p - centre
        d[0] *= 0.3
        d /= np.linalg.norm(d) + 1e-9
        _draw_line(lines, p, d, rng.uniform(8, 18), brain)
    wm = np.argwhere(np.isin(labels, [2, 41]))
    for _ in range(cfg.n_crossing_vessels if len(wm) else 0):
        p = wm[rng.integers(len(wm))].astype(float)
        d = np.array([1.0, 0.15 * rng.standard_normal(), 0.15 * rng.standard_normal()])  # along k (superior)
        _draw_line(lines, p - d * 4, d / np.linalg.norm(d), rng.uniform(6, 12), brain)
    return lines


def _draw_line(lines: np.ndarray, start: np.ndarray, direction: np.ndarray, length: float, allowed: np.ndarray) -> None:
    shape = np.array(lines.shape)
    for t in np.arange(0, length, 0.5):
        q = np.round(start + t * direction).astype(int)
        if (q < 0).any() or (q >= shape).any():
            return
        if allowed[tuple(q)]:
            lines[tuple(q)] = True


def _soft_tubes(lines: np.ndarray) -> np.ndarray:
    """Centrelines to soft dark tubes of ~1.5 mm diameter (0..1)."""
    f = ndimage.gaussian_filter(lines.astype(np.float32), 0.7)
    return np.clip(f / 0.16, 0.0, 1.0)


def _pallidal_calcification(img: np.ndarray, labels: np.ndarray, geometry: Geometry, rng) -> list[dict]:
    """Symmetric dark foci in both pallida: the mimic BOMBS and MARS tell readers to exclude."""
    out = []
    r = rng.uniform(1.5, 2.5)
    depth = rng.uniform(0.5, 0.8)
    left = np.argwhere(labels == 13)
    right = np.argwhere(labels == 52)
    if not len(left) or not len(right):
        return out
    for vox in (left.mean(axis=0), right.mean(axis=0)):
        ras = geometry.ijk_to_ras_points(vox[::-1])[0]
        _stamp_sphere(img, geometry, ras, r, depth)
        out.append({"kind": "pallidal_calcification", "r": ras[0], "a": ras[1], "s": ras[2], "radius_mm": r})
    return out


def _stamp_sphere(img: np.ndarray, geometry: Geometry, centre_ras: np.ndarray, radius: float, depth: float) -> None:
    """Darken a sphere with a one-voxel soft edge (partial volume + blooming halo)."""
    spacing = geometry.spacing
    c = geometry.ras_to_ijk_points(centre_ras)[0][::-1]  # k, j, i
    sp = spacing[::-1]
    half = np.ceil((radius + 2.0) / sp).astype(int)
    lo = np.maximum(np.floor(c).astype(int) - half, 0)
    hi = np.minimum(np.floor(c).astype(int) + half + 1, img.shape)
    grids = np.meshgrid(*[np.arange(lo[d], hi[d]) for d in range(3)], indexing="ij")
    ras = geometry.ijk_to_ras_points(np.stack([grids[2].ravel(), grids[1].ravel(), grids[0].ravel()], 1))
    dist = np.linalg.norm(ras - centre_ras, axis=1).reshape(grids[0].shape)
    core = np.clip((radius + 0.5 - dist) / 1.0, 0.0, 1.0)
    halo = 0.25 * np.exp(-np.clip(dist - radius, 0, None) / 1.0) * (dist > radius)
    img[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] *= 1.0 - depth * np.maximum(core, halo)


def _place_cmbs(labels: np.ndarray, geometry: Geometry, out_geom: Geometry, vein_lines: np.ndarray, rng,
                cfg: PhantomConfig) -> list[PhantomCMB]:
    n = cfg.n_cmbs if isinstance(cfg.n_cmbs, int) else int(rng.integers(cfg.n_cmbs[0], cfg.n_cmbs[1] + 1))
    brain = ~np.isin(labels, list(PARENCHYMA_EXCLUDED)) & (labels < 500)
    sp = geometry.spacing[::-1]
    inside = ndimage.distance_transform_edt(brain, sampling=sp)
    cortex = np.isin(labels, [3, 42]) | ((labels >= 1000) & (labels < 3000))
    to_cortex = ndimage.distance_transform_edt(~cortex, sampling=sp)
    to_vein = ndimage.distance_transform_edt(~vein_lines, sampling=sp)
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
        kji = cand[rng.integers(len(cand))]
        ras = geometry.ijk_to_ras_points(kji[::-1].astype(float))[0]
        out_ijk = out_geom.ras_to_ijk_points(ras)[0]
        margin = r / out_geom.spacing + 1
        if (out_ijk < margin).any() or (out_ijk > np.array(out_geom.shape[::-1]) - 1 - margin).any():
            continue  # must lie wholly inside the output field of view
        if any(np.linalg.norm(ras - np.array([c.r, c.a, c.s])) < r + c.diameter_mm / 2 + 4.0 for c in cmbs):
            continue
        cmbs.append(PhantomCMB(len(cmbs) + 1, *map(float, ras), 0.0, 0.0, 0.0, round(d, 3),
                               int(labels[tuple(kji)]), kind))
    return cmbs


def _output_geometry(geometry: Geometry, shape_kji: tuple[int, int, int], cfg: PhantomConfig) -> Geometry:
    """Clinical grid covering the input field of view, optionally oblique (rotation about the FOV centre)."""
    from scipy.spatial.transform import Rotation

    in_sp = geometry.spacing
    extent = np.array(shape_kji[::-1]) * in_sp
    spacing = np.array(cfg.spacing, float)
    shape_ijk = np.array(cfg.shape) if cfg.shape else np.floor(extent / spacing).astype(int)
    centre = geometry.ijk_to_ras_points((np.array(shape_kji[::-1]) - 1) / 2.0)[0]
    in_dir = geometry.ijk_to_ras[:3, :3] / in_sp
    rot = Rotation.from_euler("xyz", cfg.rotation_deg, degrees=True).as_matrix()
    # Axial-like output: keep the input's axes (a 1 mm label map is usually RAS or LIA), then rotate.
    axes = _axial_axes(in_dir)
    direction = rot @ axes
    mat = np.eye(4)
    mat[:3, :3] = direction @ np.diag(spacing)
    mat[:3, 3] = centre - mat[:3, :3] @ ((shape_ijk - 1) / 2.0)
    return Geometry(mat, (int(shape_ijk[2]), int(shape_ijk[1]), int(shape_ijk[0])))


def _axial_axes(direction: np.ndarray) -> np.ndarray:
    """Columns i->R/L, j->A/P, k->S/I: an axial acquisition whatever the input label map's orientation."""
    out = np.zeros((3, 3))
    for ras_axis in range(3):
        col = int(np.argmax(np.abs(direction[ras_axis, :])))
        out[:, ras_axis] = 0.0
        out[ras_axis, ras_axis] = 1.0 if direction[ras_axis, col] > 0 or ras_axis == 2 else -1.0
    out[2, 2] = 1.0
    return out


def _resample(hi: np.ndarray, labels: np.ndarray, geometry: Geometry, out: Geometry, cfg: PhantomConfig):
    """Image: anti-aliased linear resampling to the clinical grid (slice thickness blur); labels: nearest."""
    smooth = ndimage.gaussian_filter(hi, sigma=_source_blur(geometry, out)[::-1])
    kk, jj, ii = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in out.shape], indexing="ij")
    pts = np.stack([ii.ravel(), jj.ravel(), kk.ravel()], 1)
    out_to_src = np.linalg.inv(geometry.ijk_to_ras) @ out.ijk_to_ras
    src = (pts @ out_to_src[:3, :3].T.astype(np.float32) + out_to_src[:3, 3].astype(np.float32))[:, ::-1].T
    img = ndimage.map_coordinates(smooth, src, order=1, mode="constant", cval=0.0).reshape(out.shape)
    anat = ndimage.map_coordinates(labels, src, order=0, mode="constant", cval=0).reshape(out.shape)
    return img.astype(np.float32), anat.astype(np.int16)


def _source_blur(geometry: Geometry, out: Geometry) -> np.ndarray:
    """Gaussian sigma (source voxels, i/j/k) matching each output voxel's extent along the nearest source axis."""
    src_dir = geometry.ijk_to_ras[:3, :3] / geometry.spacing
    out_dir = out.ijk_to_ras[:3, :3] / out.spacing
    nearest_out_axis = np.argmax(np.abs(src_dir.T @ out_dir), axis=1)
    ratio = out.spacing[nearest_out_axis] / geometry.spacing
    return np.sqrt(np.maximum(ratio ** 2 - 1.0, 0.0)) / 2.355


def _bias_and_noise(img: np.ndarray, geom: Geometry, rng, cfg: PhantomConfig) -> np.ndarray:
    shape = img.shape
    coords = [np.linspace(-1, 1, n, dtype=np.float32) for n in shape]
    kk, jj, ii = np.meshgrid(*coords, indexing="ij", sparse=True)
    c = rng.uniform(-1, 1, 6) * cfg.bias_amplitude / 2
    bias = 1.0 + c[0] * ii + c[1] * jj + c[2] * kk + c[3] * ii * jj + c[4] * (ii ** 2 - 0.33) + c[5] * (jj ** 2 - 0.33)
    img = img * bias.astype(np.float32)
    s = cfg.noise_sigma
    n1 = rng.standard_normal(shape, dtype=np.float32) * s
    n2 = rng.standard_normal(shape, dtype=np.float32) * s
    return np.sqrt((img + n1) ** 2 + n2 ** 2)  # Rician magnitude noise


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
    if cfg.shape is None:
        labels, geometry = crop_to_head(labels, geometry)
    lines = _vein_centrelines(labels, rng, cfg) if veins else np.zeros(labels.shape, bool)
    if not lines.any():
        lines[0, 0, 0] = True  # distance transform needs one background voxel
    out_geom = _output_geometry(geometry, labels.shape, cfg)
    return _place_cmbs(labels, geometry, out_geom, lines, rng, cfg), out_geom


def builtin_phantom(seed: int = 0, config: PhantomConfig | None = None) -> Phantom:
    """A phantom from the procedural built-in anatomy (works without ``../shared``)."""
    from .anatomy import builtin_head

    labels, geom = builtin_head(seed)
    return synthesize(labels, geom, seed=seed, config=config)
