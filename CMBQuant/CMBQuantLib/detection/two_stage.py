"""The two-stage detector: screening (dark-spot seeds, prescored, united with nnU-Net components) -> blobs -> CMB
filter.

Every candidate the filter scores at or above ``keep_floor`` becomes a record and a segment: ``p_cmb`` at or above
the filter threshold stays ``pending`` for the reader; below it, ``rejected`` with reason ``filter`` and
``decided_by`` ``cmbquant`` (hidden in review by default, restorable). Screen seeds the filter scores below the
floor are noise the reader never needs to see; their number is recorded in ``case.json``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.core.records import FILTER_REASON, PIPELINE_DECIDER, CMBRecord
from CMBQuantLib.detection.blobs import Blob, grow_blobs, label_map
from CMBQuantLib.detection.brain import brain_and_head
from CMBQuantLib.detection.candidates import (
    CandidateLimits,
    apply_limits,
    component_records,
    flag_outside_brain,
    label_components,
)
from CMBQuantLib.detection.cmb_filter import CMBFilter
from CMBQuantLib.detection.features import ScanContext, edge_distance_mm, feature_matrix, scan_context
from CMBQuantLib.detection.screening import ScreenSettings, Seed, find_seeds, screen_maps
from CMBQuantLib.detection.seed_features import background_map, seed_feature_matrix

SCREEN_MARGIN_MM = 8.0  # seeds up to this far outside the brain mask (a cortical CMB it missed), never in air
FLAG_EDGE_MM = -2.0  # ``outside_brain``: the centroid more than 2 mm outside the brain mask
KEEP_FLOOR = 0.05


@dataclass
class ScanMaps:
    """Everything computed once per scan: the screen's maps, the feature context and the raw seeds."""

    context: ScanContext
    brain: np.ndarray
    seeds: list[Seed]  # raw seeds, strongest response first
    seed_features: np.ndarray  # (len(seeds), len(SEED_FEATURE_NAMES))


@dataclass
class Screened:
    """Stage 1's output for one scan (also what training reads)."""

    blobs: list[Blob]
    sources: list[set[str]]
    context: ScanContext
    brain: np.ndarray
    n_seeds: int


@dataclass
class Detection:
    records: list[CMBRecord]
    labels: np.ndarray  # uint32, value = cmb_id
    summary: dict


def scan_maps(image: np.ndarray, geometry: Geometry, settings: ScreenSettings | None = None) -> ScanMaps:
    """Brain mask, DoG maps and every raw seed with its prescreen features."""
    sp = geometry.spacing[::-1]
    settings = settings or ScreenSettings()
    brain, head = brain_and_head(image, sp)
    edge = edge_distance_mm(brain, sp)
    maps = screen_maps(image, sp, brain, head & (edge > -SCREEN_MARGIN_MM), settings)
    ctx = scan_context(maps, geometry, brain, edge)
    seeds = find_seeds(maps, settings)
    kji = np.array([s.kji for s in seeds], int).reshape(-1, 3)
    sx = seed_feature_matrix(kji, np.array([s.response for s in seeds]), np.array([s.scale_mm for s in seeds]),
                             ctx, background_map(maps.normalised, sp))
    return ScanMaps(ctx, brain, seeds, sx)


def prescreen_order(scan: ScanMaps, prescreen: Any | None, max_seeds: int) -> list[int]:
    """Indices of the seeds that become blobs: the best ``max_seeds`` by the prescreen (by response without one)."""
    if prescreen is None or not len(scan.seeds):
        return list(range(min(max_seeds, len(scan.seeds))))
    score = np.asarray(prescreen.predict(scan.seed_features.astype(np.float64)))
    return [int(n) for n in np.argsort(-score, kind="stable")[:max_seeds]]


def screen(image: np.ndarray, geometry: Geometry, prob: np.ndarray | None = None,
           settings: ScreenSettings | None = None, nnunet_threshold: float = 0.3, prescreen: Any | None = None,
           scan: ScanMaps | None = None) -> Screened:
    """nnU-Net seeds first, then the prescreen's best dark-spot seeds -> blobs (one per CMB)."""
    settings = settings or ScreenSettings()
    scan = scan or scan_maps(image, geometry, settings)
    nn_seeds = nnunet_seeds(prob, scan.context.maps, nnunet_threshold, settings.scales_mm)
    dark = [scan.seeds[n] for n in prescreen_order(scan, prescreen, settings.max_seeds)]
    sp = geometry.spacing[::-1]
    blobs, sources = grow_blobs(scan.context.maps.normalised, nn_seeds + dark, sp,
                                ["nnunet"] * len(nn_seeds) + ["dark_spot"] * len(dark))
    return Screened(blobs, sources, scan.context, scan.brain, len(scan.seeds) + len(nn_seeds))


def nnunet_seeds(prob: np.ndarray | None, maps, threshold: float, scales_mm: tuple[float, ...]) -> list[Seed]:
    """One seed per nnU-Net component at ``threshold``: its darkest voxel (a binary mask works too)."""
    if prob is None:
        return []
    arr = np.asarray(prob)
    mask = arr >= threshold if np.issubdtype(arr.dtype, np.floating) else arr > 0
    labels, n = label_components(mask)
    seeds: list[Seed] = []
    for lab, sl in enumerate(ndimage.find_objects(labels) if n else [], start=1):
        if sl is None:
            continue
        vals = np.where(labels[sl] == lab, maps.normalised[sl], np.inf)
        off = np.unravel_index(int(np.argmin(vals)), vals.shape)
        kji = tuple(int(s.start + o) for s, o in zip(sl, off))
        seeds.append(Seed(kji, float(maps.response[kji]), float(scales_mm[maps.best_scale[kji]])))
    return seeds


def suppress_duplicates(blobs: list[Blob], p: np.ndarray, threshold: float, spacing_kji: np.ndarray) -> np.ndarray:
    """Two kept candidates closer than their radii + 1 mm are one CMB seen twice: the likelier one stays, the other
    drops just below the threshold (rejected, restorable) so a reader never counts one CMB twice."""
    p = np.asarray(p, float).copy()
    sp = np.asarray(spacing_kji, float)
    kept: list[tuple[np.ndarray, float]] = []
    for n in np.argsort(-p, kind="stable"):
        if p[n] < threshold:
            break
        centre = blobs[n].voxels.mean(0) * sp
        radius = (len(blobs[n].voxels) * float(np.prod(sp)) * 3 / (4 * np.pi)) ** (1 / 3)
        if any(np.linalg.norm(centre - c) < radius + r + 1.0 for c, r in kept):
            p[n] = min(p[n], max(threshold - 1e-3, 0.0))
        else:
            kept.append((centre, radius))
    return p


def detect(image: np.ndarray, geometry: Geometry, prob: np.ndarray | None, cmb_filter: CMBFilter,
           limits: CandidateLimits | None = None, keep_floor: float = KEEP_FLOOR) -> Detection:
    """Both stages on one scan: records (most likely CMB first) and their label map."""
    lim = limits or CandidateLimits()
    scr = screen(image, geometry, prob, cmb_filter.screen_settings, cmb_filter.spec.nnunet_screen_threshold,
                 prescreen=cmb_filter.prescreen)
    p = suppress_duplicates(scr.blobs, cmb_filter.predict(feature_matrix(scr.blobs, scr.context)),
                            cmb_filter.threshold, geometry.spacing[::-1])
    keep = [n for n in np.argsort(-p, kind="stable") if p[n] >= keep_floor or "nnunet" in scr.sources[n]]
    blobs = [scr.blobs[n] for n in keep]
    labels = label_map(blobs, geometry.shape)
    is_prob = prob is not None and np.issubdtype(np.asarray(prob).dtype, np.floating)
    records = component_records(labels, len(blobs), geometry, image=image,
                                prob=np.asarray(prob, np.float32) if is_prob else None)
    for rec, n in zip(records, keep):
        rec.p_cmb = round(float(p[n]), 4)
        rec.source = "+".join(sorted(scr.sources[n], key=["nnunet", "dark_spot"].index))
        if p[n] < cmb_filter.threshold:
            rec.status, rec.reason, rec.decided_by = "rejected", FILTER_REASON, PIPELINE_DECIDER
        apply_limits(rec, lim)
    flag_outside_brain(records, scr.context.edge_distance_mm > FLAG_EDGE_MM)
    kept = sum(r.status == "pending" for r in records)
    summary = {"two_stage": True, "filter": cmb_filter.info(), "n_seeds": scr.n_seeds, "n_blobs": len(scr.blobs),
               "n_candidates": len(records), "n_kept": kept, "n_filter_rejected": len(records) - kept,
               "keep_floor": keep_floor}
    return Detection(records, labels, summary)
