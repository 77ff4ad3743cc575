"""CMB mimics a reader rejects: calcifications, arterial flow voids, air-bone susceptibility artefacts and ring
artefacts (``n_ring_artefacts``: off by default and never in the training recipes, so it is a mimic the shipped CMB
filter has not learned; ``benchmarks/bench_learning.py`` teaches it from reviewed cases).

Each is drawn where it occurs in real scans (BOMBS and MARS list them as exclusions): symmetric pallidal,
bilateral choroid plexus (atrium of the lateral ventricles) and midline pineal calcification; round flow voids in
the basal cisterns; smooth dark/bright blotches at the inferior frontal and temporal surface above the sinuses and
petrous bone. Every one is recorded in ``Phantom.mimics`` (kind, r, a, s, radius_mm) so false positives can be
attributed. No focal mimic may touch a CMB (the ground truth must stay unambiguous); the artefacts are smooth
modulations, so a CMB under one keeps its relative contrast.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.phantoms.config import THALAMUS, VENTRICLES, brain_mask
from CMBQuantLib.phantoms.vessels import flow_void_sites


def stamp_sphere(img: np.ndarray, geometry: Geometry, centre_ras: np.ndarray, radius: float, depth: float,
                 halo_strength: float = 0.25) -> None:
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
    halo = halo_strength * np.exp(-np.clip(dist - radius, 0, None) / 1.0) * (dist > radius)
    img[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] *= 1.0 - depth * np.maximum(core, halo)


def _record(kind: str, ras: np.ndarray, radius: float, **extra) -> dict:
    return {"kind": kind, "r": float(ras[0]), "a": float(ras[1]), "s": float(ras[2]), "radius_mm": float(radius),
            **extra}


def _ras(geometry: Geometry, kji: np.ndarray) -> np.ndarray:
    return geometry.ijk_to_ras_points(np.atleast_2d(kji)[:, ::-1].astype(float))


def _clear(ras: np.ndarray, radius: float, avoid: list[tuple[np.ndarray, float]], gap: float = 2.0) -> bool:
    """True when a mimic of ``radius`` at ``ras`` keeps ``gap`` mm from every (centre, radius) in ``avoid``."""
    return all(np.linalg.norm(ras - c) >= radius + r + gap for c, r in avoid)


def pallidal_calcification(img: np.ndarray, labels: np.ndarray, geometry: Geometry, rng) -> list[dict]:
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
        stamp_sphere(img, geometry, ras, r, depth)
        out.append({"kind": "pallidal_calcification", "r": ras[0], "a": ras[1], "s": ras[2], "radius_mm": r})
    return out


def choroid_calcification(img: np.ndarray, labels: np.ndarray, geometry: Geometry, rng,
                          avoid: list[tuple[np.ndarray, float]]) -> list[dict]:
    """Bilateral dark foci in the atria: the ventricle lumen nearest the back of each thalamus (the glomus)."""
    out = []
    depth = rng.uniform(0.5, 0.85)
    for side in ("left", "right"):
        r = rng.uniform(1.5, 3.0)
        site = _atrium_site(labels, geometry, side)
        if site is not None and _clear(site, r, avoid):
            stamp_sphere(img, geometry, site, r, depth)
            out.append(_record("choroid_calcification", site, r, side=side))
    return out


def _atrium_site(labels: np.ndarray, geometry: Geometry, side: str) -> np.ndarray | None:
    vent = np.isin(labels, VENTRICLES[side])
    thal = np.argwhere(labels == THALAMUS[side])
    if not vent.any() or not len(thal):
        return None
    thal_ras = _ras(geometry, thal)
    pulvinar = thal_ras[thal_ras[:, 1] <= np.percentile(thal_ras[:, 1], 10)].mean(axis=0)
    nz = np.argwhere(vent)
    lo, hi = np.maximum(nz.min(axis=0) - 1, 0), nz.max(axis=0) + 2
    sub = vent[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    depth = ndimage.distance_transform_edt(sub, sampling=geometry.spacing[::-1])
    cand = np.argwhere(sub)
    dist = np.linalg.norm(_ras(geometry, cand + lo) - pulvinar, axis=1)
    near = cand[dist <= dist.min() + 6.0]  # the atrium lumen next to the pulvinar
    best = near[np.argmax(depth[tuple(near.T)])]
    return _ras(geometry, best + lo)[0]


def pineal_calcification(img: np.ndarray, labels: np.ndarray, geometry: Geometry, rng,
                         avoid: list[tuple[np.ndarray, float]]) -> list[dict]:
    """A midline dark focus just behind the third ventricle, between the posterior thalami."""
    third = np.argwhere(labels == 14)
    thal = [np.argwhere(labels == THALAMUS[s]) for s in ("left", "right")]
    if not len(third) or not all(len(t) for t in thal):
        return []
    ras = _ras(geometry, third)
    back = ras[ras[:, 1] <= np.percentile(ras[:, 1], 5)].mean(axis=0)
    midline = np.mean([_ras(geometry, t)[:, 0].mean() for t in thal])
    r = rng.uniform(1.5, 3.5)
    site = np.array([midline, back[1] - r - rng.uniform(1.0, 3.0), back[2] + rng.uniform(0.0, 3.0)])
    if not _clear(site, r, avoid):
        return []
    stamp_sphere(img, geometry, site, r, rng.uniform(0.5, 0.85))
    return [_record("pineal_calcification", site, r)]


def flow_voids(img: np.ndarray, labels: np.ndarray, geometry: Geometry, rng, n: int,
               avoid: list[tuple[np.ndarray, float]]) -> list[dict]:
    """Round dark arterial spots (short straight segments) in basal and sylvian CSF."""
    sites = flow_void_sites(labels, geometry) if n else np.zeros((0, 3), int)
    out: list[dict] = []
    for _ in range(50 * n if len(sites) else 0):
        if len(out) >= n:
            break
        centre = _ras(geometry, sites[rng.integers(len(sites))])[0]
        r = rng.uniform(0.8, 2.0)
        if not _clear(centre, r, avoid + [(np.array([m["r"], m["a"], m["s"]]), m["radius_mm"]) for m in out]):
            continue
        axis = rng.standard_normal(3)
        axis /= np.linalg.norm(axis)
        length = rng.uniform(0.0, 6.0)
        depth = rng.uniform(0.7, 0.95)
        for t in np.arange(-length / 2, length / 2 + 1e-6, max(r / 2, 0.5)):
            stamp_sphere(img, geometry, centre + t * axis, r, depth, halo_strength=0.1)
        out.append(_record("flow_void", centre, r, length_mm=float(length)))
    return out


def susceptibility_artefacts(img: np.ndarray, labels: np.ndarray, geometry: Geometry, rng, n: int) -> list[dict]:
    """Smooth signal dropout (dark) or pile-up (bright) over the inferior frontal and temporal surface."""
    sites = _air_bone_sites(labels, geometry) if n else None
    if sites is None or not len(sites):
        return []
    out = []
    for _ in range(n):
        surface, outward = sites[rng.integers(len(sites))]
        centre = surface + outward * rng.uniform(0.0, 5.0)
        sigma = rng.uniform(4.0, 12.0)
        dark = rng.random() < 0.7
        amp = rng.uniform(0.4, 0.9) if dark else rng.uniform(0.2, 0.6)
        _blotch(img, geometry, centre, sigma * rng.uniform(0.6, 1.5, 3), -amp if dark else amp)
        if rng.random() < 0.5:  # dipole-like: a weaker lobe of the opposite sign above or below
            lobe = centre + np.array([0.0, 0.0, rng.choice([-1.0, 1.0]) * sigma])
            _blotch(img, geometry, lobe, np.full(3, sigma * 0.7), (amp if dark else -amp) * 0.5)
        out.append(_record("susceptibility_artefact", centre, sigma, sign="dark" if dark else "bright"))
    return out


def _air_bone_sites(labels: np.ndarray, geometry: Geometry) -> list[tuple[np.ndarray, np.ndarray]]:
    """Brain-surface points (RAS) above the frontal sinus / orbits and the petrous bone, with outward directions."""
    brain = brain_mask(labels) & (labels != 16) & ~np.isin(labels, [7, 8, 46, 47])
    nz = np.argwhere(brain)
    if not len(nz):
        return []
    lo, hi = np.maximum(nz.min(axis=0) - 1, 0), nz.max(axis=0) + 2
    sub = brain[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    surf = np.argwhere(sub & ~ndimage.binary_erosion(sub)) + lo
    ras = _ras(geometry, surf[::7])
    c = ras.mean(axis=0)
    half = (np.percentile(ras, 98, axis=0) - np.percentile(ras, 2, axis=0)) / 2
    u = (ras - c) / half
    frontal = (u[:, 1] > 0.45) & (u[:, 2] < -0.05) & (np.abs(u[:, 0]) < 0.6)
    temporal = (np.abs(u[:, 0]) > 0.45) & (u[:, 2] < -0.3) & (u[:, 1] > -0.3) & (u[:, 1] < 0.7)
    keep = frontal | temporal
    outward = (ras[keep] - c) / np.linalg.norm(ras[keep] - c, axis=1, keepdims=True)
    outward[:, 2] -= 0.5  # towards the skull base
    outward /= np.linalg.norm(outward, axis=1, keepdims=True)
    return list(zip(ras[keep], outward))


def _blotch(img: np.ndarray, geometry: Geometry, centre: np.ndarray, sigmas: np.ndarray, amp: float) -> None:
    """Multiply by 1 + amp * (anisotropic Gaussian), within 3 sigma; clipped so the signal stays >= 0."""
    c = geometry.ras_to_ijk_points(centre)[0][::-1]
    half = np.ceil(3 * sigmas.max() / geometry.spacing[::-1]).astype(int)
    lo = np.maximum(np.floor(c).astype(int) - half, 0)
    hi = np.minimum(np.floor(c).astype(int) + half + 1, img.shape)
    if (hi <= lo).any():
        return
    grids = np.meshgrid(*[np.arange(lo[d], hi[d]) for d in range(3)], indexing="ij")
    ras = geometry.ijk_to_ras_points(np.stack([g.ravel() for g in grids[::-1]], 1))
    q = (((ras - centre) / sigmas) ** 2).sum(axis=1).reshape(grids[0].shape)
    img[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] *= np.clip(1.0 + amp * np.exp(-0.5 * q), 0.0, None)


RING_STREAM = 0x414E47  # its own random stream: switching ring artefacts on leaves every other draw unchanged


def ring_profile(dist: np.ndarray, radius: float, depth: float, ring_amp: float, ring_gap: float = 1.3,
                 ring_width: float = 0.6) -> np.ndarray:
    """Multiplicative profile of a ringing spot: a dark core of ``depth`` with a one-voxel soft edge, then a bright
    overshoot of ``ring_amp`` peaking ``ring_gap`` mm outside the core (k-space truncation ringing, unapodised)."""
    core = np.clip((radius + 0.5 - dist) / 1.0, 0.0, 1.0)
    ring = ring_amp * np.exp(-0.5 * ((dist - radius - ring_gap) / ring_width) ** 2)
    return 1.0 - depth * core + ring * (1.0 - core)


def ring_artefacts(img: np.ndarray, labels: np.ndarray, geometry: Geometry, rng, n: int,
                   avoid: list[tuple[np.ndarray, float]]) -> list[dict]:
    """Round dark spots in the parenchyma, each ringed by a bright overshoot: a site whose reconstruction skips
    k-space apodisation rings around small strong susceptibility sources (an SWI mimic the shipped filter never
    saw). A CMB's surround is plain tissue, so the bright shell is what tells the two apart."""
    if not n:
        return []
    sp = geometry.spacing[::-1]
    inside = ndimage.distance_transform_edt(np.pad(brain_mask(labels), 1), sampling=sp)[1:-1, 1:-1, 1:-1]
    sites = np.argwhere(inside >= 4.5)
    out: list[dict] = []
    for _ in range(50 * n if len(sites) else 0):
        if len(out) >= n:
            break
        centre = _ras(geometry, sites[rng.integers(len(sites))])[0]
        r = rng.uniform(1.5, 3.5)
        taken = avoid + [(np.array([m["r"], m["a"], m["s"]]), m["radius_mm"] + 2.0) for m in out]
        if not _clear(centre, r + 2.0, taken):
            continue
        depth, amp = rng.uniform(0.75, 0.95), rng.uniform(0.08, 0.2)
        _stamp_profile(img, geometry, centre, r + 3.5, lambda d: ring_profile(d, r, depth, amp))
        out.append(_record("ring_artefact", centre, r, depth=float(depth), ring_amp=float(amp)))
    return out


def _stamp_profile(img: np.ndarray, geometry: Geometry, centre_ras: np.ndarray, reach: float, profile) -> None:
    """Multiply the voxels within ``reach`` mm of ``centre_ras`` by ``profile(distance_mm)``."""
    c = geometry.ras_to_ijk_points(centre_ras)[0][::-1]
    half = np.ceil(reach / geometry.spacing[::-1]).astype(int)
    lo = np.maximum(np.floor(c).astype(int) - half, 0)
    hi = np.minimum(np.floor(c).astype(int) + half + 1, img.shape)
    grids = np.meshgrid(*[np.arange(lo[d], hi[d]) for d in range(3)], indexing="ij")
    ras = geometry.ijk_to_ras_points(np.stack([grids[2].ravel(), grids[1].ravel(), grids[0].ravel()], 1))
    dist = np.linalg.norm(ras - centre_ras, axis=1).reshape(grids[0].shape)
    img[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] *= profile(dist)
