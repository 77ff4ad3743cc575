"""A built-in, procedural head label map in FreeSurfer aparc+aseg numbering.

The demo and CI must work on a fresh machine without ``../shared``: this builds a plausible (not real) head from
ellipsoids, a folded cortex with sulci, deep nuclei, ventricles, brainstem and cerebellum. Cortex voxels carry a
Desikan-Killiany parcel of their lobe (left 1000s, right 2000s) so lobar counting can be tested too.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from .volumes import Geometry

# One representative Desikan-Killiany parcel per lobe (left numbering; right = +1000).
LOBE_PARCEL = {"frontal": 1028, "parietal": 1029, "temporal": 1015, "occipital": 1011, "insula": 1035}
SCALP, SKULL = 507, 515  # extra-cerebral labels, as in the SynthSeg training maps

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
