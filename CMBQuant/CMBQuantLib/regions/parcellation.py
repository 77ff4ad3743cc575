"""Per-voxel MARS region map from a FreeSurfer/SynthSeg label map, and the lookup of CMB centres in it.

The label map may be on any grid registered to the SWI (same world coordinates): the region map is built on the
label map's own grid, where its voxels are least distorted, and CMB centres are looked up by RAS coordinates.
``RegionMap.resampled_to`` gives the map on the SWI grid (nearest neighbour) for display or export.

Cerebral white matter is split by distance rules (``RegionRules``, all in mm, all configurable), in this precedence:
corpus callosum > internal capsule > external capsule > juxtacortical (lobar, lobe of the nearest cortex) > deep WM.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.regions.mapping import (
    CODE_OF,
    CODES,
    SIDE_CODE_OF,
    SIDE_CODES,
    UNASSIGNED,
    MarsEntry,
    load_mapping,
    lookup_label,
)
from CMBQuantLib.volumes.images import read_image


class ParcellationError(ValueError):
    """The label map cannot be used for this SWI; the message says why and what to pass instead."""


@dataclass(frozen=True)
class RegionRules:
    """Distance rules that split cerebral white matter, and the snap distance for CMBs just outside the brain.

    juxtacortical_mm: WM this close to cortex is lobar (grey-white junction, MARS); 3 mm spans the U-fibre layer
        under the cortex at clinical resolution (one 2-3 mm SWI slice) without reaching the centrum semiovale.
    internal_capsule_mm: WM within this of BOTH the caudate/thalamus and the putamen/pallidum is internal capsule
        (the capsule is the 5-10 mm white band between these nuclei).
    external_capsule_mm: WM within this of the putamen, on its lateral side and nearer the putamen than any cortex,
        is external capsule (a thin lamina between putamen and claustrum; the extreme capsule beyond it stays lobar
        insula by the juxtacortical rule).
    callosal_mm: WM within this of the other hemisphere's WM is corpus callosum (only the commissures join the two
        hemispheres' white matter; SynthSeg has no callosal label). Ignored when the map has labels 251-255.
    snap_mm: a CMB centre outside any brain label takes the nearest brain label within this distance (blooming and
        partial volume put cortical CMBs on the pial surface); further away it is 'unassigned', never dropped.
    """

    juxtacortical_mm: float = 3.0
    internal_capsule_mm: float = 7.0
    external_capsule_mm: float = 3.0
    callosal_mm: float = 6.0
    snap_mm: float = 3.0
    cortex_labels: frozenset[int] = field(default_factory=lambda: frozenset({3, 42} | set(range(1000, 3000))))
    medial_nuclei: frozenset[int] = frozenset({10, 49, 11, 50})  # thalamus, caudate
    lentiform: frozenset[int] = frozenset({12, 51, 13, 52})  # putamen, pallidum
    putamen: frozenset[int] = frozenset({12, 51})


@dataclass(frozen=True)
class Assignment:
    """Where one point falls: region, sub-region (lobe), side, and how far it was snapped (0 inside a label)."""

    region: str
    lobe: str
    side: str
    distance_mm: float = 0.0


@dataclass
class RegionMap:
    """Region codes (``mapping.CODES``; 0 = outside the brain) and side codes on a voxel grid.

    ``sides`` None means the side is the sign of RAS x (template space, where x = 0 is the midline).
    """

    codes: np.ndarray  # uint8 [k, j, i]
    geometry: Geometry
    sides: np.ndarray | None = None  # uint8 [k, j, i], SIDE_CODES
    source: str = ""
    midline: frozenset[int] = frozenset({CODE_OF[("infratentorial", "brainstem")],
                                         CODE_OF[("deep", "corpus_callosum")]})

    def lookup(self, ras: np.ndarray, snap_mm: float = 3.0) -> list[Assignment]:
        """Assignment of each (N, 3) RAS point; points off the brain snap to the nearest code within ``snap_mm``."""
        ras = np.atleast_2d(np.asarray(ras, float))
        ijk = np.rint(self.geometry.ras_to_ijk_points(ras)).astype(int)
        out = []
        for p, v in zip(ras, ijk):
            kji = tuple(v[::-1])
            dist = 0.0
            if not self._inside(kji) or self.codes[kji] == 0:
                kji, dist = self._nearest(p, v, snap_mm)
            if kji is None:
                out.append(Assignment(UNASSIGNED, "", "", dist))
                continue
            region, lobe = CODES[int(self.codes[kji])]
            out.append(Assignment(region, lobe, self._side(kji, p), dist))
        return out

    def _inside(self, kji: tuple[int, int, int]) -> bool:
        return all(0 <= a < n for a, n in zip(kji, self.codes.shape))

    def _nearest(self, p: np.ndarray, ijk: np.ndarray, snap_mm: float):
        if snap_mm <= 0:
            return None, float("nan")
        half = np.ceil(snap_mm / self.geometry.spacing).astype(int) + 1
        lo = np.maximum(ijk - half, 0)
        hi = np.minimum(ijk + half + 1, np.array(self.codes.shape[::-1]))
        if (hi <= lo).any():
            return None, float("nan")
        block = self.codes[lo[2]:hi[2], lo[1]:hi[1], lo[0]:hi[0]]
        kji = np.argwhere(block > 0)
        if not len(kji):
            return None, float("nan")
        kji += lo[::-1]
        d = np.linalg.norm(self.geometry.ijk_to_ras_points(kji[:, ::-1].astype(float)) - p, axis=1)
        best = int(np.argmin(d))
        if d[best] > snap_mm:
            return None, float(d[best])
        return tuple(kji[best]), float(d[best])

    def _side(self, kji, p: np.ndarray) -> str:
        if self.sides is not None:
            return SIDE_CODES[int(self.sides[kji])]
        if int(self.codes[kji]) in self.midline:
            return "M"
        return self._side_from_x(p)

    @staticmethod
    def _side_from_x(p: np.ndarray) -> str:
        return "L" if p[0] < 0 else "R"

    def resampled_to(self, geometry: Geometry) -> RegionMap:
        """This map on another grid (nearest neighbour), e.g. the SWI's, for display and export."""
        codes = resample_nearest(self.codes, self.geometry, geometry)
        sides = None if self.sides is None else resample_nearest(self.sides, self.geometry, geometry)
        return RegionMap(codes, geometry, sides, self.source, self.midline)


def resample_nearest(array: np.ndarray, src: Geometry, dst: Geometry, slab: int = 8) -> np.ndarray:
    """``array`` on ``src`` resampled to ``dst`` by nearest neighbour in world space (0 outside), slab by slab."""
    out = np.zeros(dst.shape, array.dtype)
    nj, ni = dst.shape[1], dst.shape[2]
    jj, ii = np.meshgrid(np.arange(nj), np.arange(ni), indexing="ij")
    m = np.linalg.inv(src.ijk_to_ras) @ dst.ijk_to_ras
    for k0 in range(0, dst.shape[0], slab):
        ks = np.arange(k0, min(k0 + slab, dst.shape[0]))
        kk = np.broadcast_to(ks[:, None, None], (len(ks), nj, ni))
        pts = np.stack([np.broadcast_to(ii, kk.shape), np.broadcast_to(jj, kk.shape), kk], -1).reshape(-1, 3)
        src_ijk = np.rint(pts @ m[:3, :3].T + m[:3, 3]).astype(np.int64)
        ok = np.all((src_ijk >= 0) & (src_ijk < np.array(array.shape[::-1])), axis=1)
        vals = np.zeros(len(pts), array.dtype)
        s = src_ijk[ok]
        vals[ok] = array[s[:, 2], s[:, 1], s[:, 0]]
        out[ks[0]:ks[-1] + 1] = vals.reshape(kk.shape)
    return out


def load_label_map(path: str | Path) -> tuple[np.ndarray, Geometry]:
    """A label map file as int32 [k, j, i] and its geometry; rejects maps that are plainly not label maps."""
    arr, geom = read_image(path)
    if np.issubdtype(arr.dtype, np.floating) and not np.allclose(arr, np.rint(arr)):
        raise ParcellationError(f"{path}: has non-integer values; pass a label map (aseg / aparc+aseg / SynthSeg)")
    return np.rint(arr).astype(np.int32), geom


def region_map_from_labels(labels: np.ndarray, geometry: Geometry, table: dict[int, MarsEntry] | None = None,
                           rules: RegionRules | None = None, source: str = "") -> RegionMap:
    """MARS region map of a label map: table lookup for labelled structures, distance rules for white matter."""
    table = table if table is not None else load_mapping()
    rules = rules or RegionRules()
    labels = np.asarray(labels)
    present = [int(v) for v in np.unique(labels)]
    entries = {v: lookup_label(table, v) for v in present}
    brain_labels = [v for v, e in entries.items() if e.region != "none"]
    if not brain_labels:
        raise ParcellationError("the label map has no brain label of the mapping table (is it an aseg/SynthSeg map?)")
    codes = np.zeros(labels.shape, np.uint8)
    sides = np.zeros(labels.shape, np.uint8)
    brain = np.isin(labels, brain_labels)
    sl = _bbox(brain, pad=int(np.ceil(max(rules.callosal_mm, rules.internal_capsule_mm) / geometry.spacing.min())) + 2)
    lab = labels[sl]
    c, s = _codes_in_crop(lab, entries, geometry.spacing[::-1], rules)
    codes[sl], sides[sl] = c, s
    sides[codes == 0] = 0
    return RegionMap(codes, geometry, sides, source)


def _bbox(mask: np.ndarray, pad: int) -> tuple[slice, ...]:
    idx = [np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != d))) for d in range(3)]
    return tuple(slice(max(int(i[0]) - pad, 0), min(int(i[-1]) + pad + 1, n)) for i, n in zip(idx, mask.shape))


def _lut(entries: dict[int, MarsEntry], fn, dtype=np.uint8) -> tuple[np.ndarray, np.ndarray]:
    keys = np.array(sorted(entries), dtype=np.int64)
    return keys, np.array([fn(entries[int(k)]) for k in keys], dtype=dtype)


def _apply(lab: np.ndarray, keys: np.ndarray, vals: np.ndarray) -> np.ndarray:
    return vals[np.searchsorted(keys, lab)]


def _codes_in_crop(lab: np.ndarray, entries: dict[int, MarsEntry], sp: np.ndarray, rules: RegionRules):
    keys, code_lut = _lut(entries, lambda e: e.code)
    _, side_lut = _lut(entries, lambda e: SIDE_CODE_OF[e.side])
    _, wm_lut = _lut(entries, lambda e: e.region == "white_matter", bool)
    _, brain_lut = _lut(entries, lambda e: e.region != "none", bool)
    codes = _apply(lab, keys, code_lut)
    sides = _apply(lab, keys, side_lut)
    wm = _apply(lab, keys, wm_lut)
    brain = _apply(lab, keys, brain_lut)
    _fill_sides(sides, brain, sp)
    if wm.any():
        _white_matter(codes, sides, lab, wm, sp, rules)
    return codes, sides


def _fill_sides(sides: np.ndarray, brain: np.ndarray, sp: np.ndarray) -> None:
    """Brain voxels of unlateralised labels (e.g. WM hypointensities) take the side of the nearest L/R voxel."""
    todo = brain & (sides == 0)
    lateral = (sides == SIDE_CODE_OF["L"]) | (sides == SIDE_CODE_OF["R"])
    if not todo.any() or not lateral.any():
        return
    idx = ndimage.distance_transform_edt(~lateral, sampling=sp, return_distances=False, return_indices=True)
    sides[todo] = sides[idx[0][todo], idx[1][todo], idx[2][todo]]


def _white_matter(codes, sides, lab, wm, sp, rules: RegionRules) -> None:
    """Cerebral WM voxels: deep WM, then overwritten by juxtacortical, external/internal capsule, corpus callosum."""
    codes[wm] = CODE_OF[("deep", "deep_white_matter")]
    cortex = np.isin(lab, list(rules.cortex_labels))
    if cortex.any():
        d_ctx, idx = ndimage.distance_transform_edt(~cortex, sampling=sp, return_indices=True)
        jxt = wm & (d_ctx <= rules.juxtacortical_mm)
        codes[jxt] = codes[idx[0][jxt], idx[1][jxt], idx[2][jxt]]  # the lobe of the nearest cortex voxel
        del idx
    else:
        d_ctx = np.full(lab.shape, np.inf)
    put = np.isin(lab, list(rules.putamen))
    if put.any():
        d_put = ndimage.distance_transform_edt(~put, sampling=sp)
        ec = wm & (d_put <= rules.external_capsule_mm) & (d_put < d_ctx) & _lateral_of_putamen(lab, rules, sides)
        codes[ec] = CODE_OF[("deep", "external_capsule")]
    med, lent = np.isin(lab, list(rules.medial_nuclei)), np.isin(lab, list(rules.lentiform))
    if med.any() and lent.any():
        ic = (wm & (ndimage.distance_transform_edt(~med, sampling=sp) <= rules.internal_capsule_mm)
              & (ndimage.distance_transform_edt(~lent, sampling=sp) <= rules.internal_capsule_mm))
        codes[ic] = CODE_OF[("deep", "internal_capsule")]
    cc_code = CODE_OF[("deep", "corpus_callosum")]
    if not (codes == cc_code).any():  # no callosal labels (251-255): WM joining the two hemispheres' WM
        left, right = wm & (sides == SIDE_CODE_OF["L"]), wm & (sides == SIDE_CODE_OF["R"])
        if left.any() and right.any():
            cc = (left & (ndimage.distance_transform_edt(~right, sampling=sp) <= rules.callosal_mm)) | (
                right & (ndimage.distance_transform_edt(~left, sampling=sp) <= rules.callosal_mm))
            codes[cc] = cc_code
    sides[codes == cc_code] = SIDE_CODE_OF["M"]


def _lateral_of_putamen(lab: np.ndarray, rules: RegionRules, sides: np.ndarray) -> np.ndarray:
    """Voxels on the lateral side of their hemisphere's putamen (axis = left-to-right putamen centroids)."""
    put = sorted(rules.putamen)
    cents = {}
    for p in put:
        vox = np.argwhere(lab == p)
        if len(vox):
            cents[int(np.median(sides[lab == p]))] = vox.mean(axis=0)
    if len(cents) < 2:
        return np.zeros(lab.shape, bool)
    c_l, c_r = cents[SIDE_CODE_OF["L"]], cents[SIDE_CODE_OF["R"]]
    axis = (c_r - c_l) / np.linalg.norm(c_r - c_l)  # in voxel index units (k, j, i); sign is what matters
    grids = np.ogrid[tuple(slice(0, n) for n in lab.shape)]
    proj = sum(g * a for g, a in zip(grids, axis))
    out = np.zeros(lab.shape, bool)
    out |= (sides == SIDE_CODE_OF["R"]) & (proj > float(c_r @ axis))
    out |= (sides == SIDE_CODE_OF["L"]) & (proj < float(c_l @ axis))
    return out


def region_map_from_file(path: str | Path, table_path: str | Path | None = None,
                         rules: RegionRules | None = None) -> RegionMap:
    """Region map of a label map file (any grid registered to the SWI)."""
    labels, geom = load_label_map(path)
    return region_map_from_labels(labels, geom, load_mapping(table_path), rules, source=f"parcellation:{Path(path).name}")


def check_overlap(region_map: RegionMap, swi_geometry: Geometry) -> None:
    """Refuse a label map that does not cover the SWI's brain: it was not registered to this SWI."""
    nz = np.argwhere(region_map.codes > 0)
    if not len(nz):
        raise ParcellationError("the parcellation holds no brain region")
    centre = region_map.geometry.ijk_to_ras_points(nz.mean(axis=0)[::-1])
    ijk = swi_geometry.ras_to_ijk_points(centre)[0]
    if np.any(ijk < -0.5) or np.any(ijk > np.array(swi_geometry.shape[::-1]) - 0.5):
        raise ParcellationError(
            "the parcellation's brain lies outside the SWI field of view: it is not registered to this SWI. "
            "Run SynthSeg/FreeSurfer on this SWI (or resample the label map into its space) and pass that file.")
