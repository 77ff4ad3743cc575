"""The intracranial mask the two-stage detector screens in: the brain cut free from the scalp.

On SWI the scalp and the face are as bright as the brain and touch it wherever the dark skull is thin, so the
largest bright component (``candidates.brain_mask``) is often the whole head; that is where a probe's "dots in
the scalp" came from. Here the bright tissue is eroded until the skull's ring separates the brain, the component
that is most brain-like is kept (large, compact, high in the head), and it is grown back inside the tissue.

A deep cut that splits the head can also cut the cerebellum off (it hangs from the brainstem, on thick slices a thin
bridge): a 5 mm grow-back then leaves it out (unseen phantom 12: 50 % of the infratentorial brain kept). With
``recover=True`` (the region path) the split's parts flood the tissue back from their cores, a watershed on depth,
and the brain's basin within the cut + ``RECOVER_MM`` of its core is added: the cerebellum returns, the face and scalp parts
keep their own basins.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from CMBQuantLib.detection.candidates import otsu_threshold

CUT_MM = 5.0  # erosion that breaks scalp bridges narrower than 2 x CUT_MM
TISSUE_FRACTION = 0.55  # of the median tissue level: the skull, air and dura fall below it
WORK_MM = 1.5  # the mask is computed on a grid of about this spacing (mm), then read back at full resolution
CLOSE_MM = 4.0
RECOVER_MM = 20.0  # how far past the cut a split-off part of the brain is flooded back (a cerebellum: ~20 mm)
MIN_PART_ML = 10.0  # parts of a split head that seed their own basin in the watershed (smaller ones: noise)


def _inside_distance(mask: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    return ndimage.distance_transform_edt(np.pad(mask, 1), sampling=spacing)[1:-1, 1:-1, 1:-1]


def tissue_mask(image: np.ndarray) -> np.ndarray:
    """Voxels brighter than a fraction of the Otsu level between air and tissue (dark skull and air excluded)."""
    img = np.asarray(image, np.float32)
    sample = img[:: max(1, img.shape[0] // 48), ::2, ::2]
    t = otsu_threshold(sample)
    tissue_level = float(np.median(sample[sample > t])) if (sample > t).any() else t
    return img > TISSUE_FRACTION * tissue_level if t > 0 else img > 0


def _pick_brain(labels: np.ndarray, n: int, spacing: np.ndarray) -> int:
    """The component with the largest volume x compactness, favouring the superior part of the head (the brain
    fills the top of an axial field of view; face and neck fill the bottom)."""
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    best, best_score = 0, -1.0
    objects = ndimage.find_objects(labels)
    head_top = max(sl[0].stop for sl in objects if sl is not None)
    for lab, sl in enumerate(objects, start=1):
        if sl is None or sizes[lab] * np.prod(spacing) < 50_000:  # under 50 ml is not a brain
            continue
        extent = np.array([s.stop - s.start for s in sl]) * spacing
        fill = sizes[lab] * np.prod(spacing) / max(np.prod(extent), 1.0)
        height = 1.0 + 0.5 * (sl[0].stop >= head_top - 2)
        score = float(sizes[lab] * fill * height)
        if score > best_score:
            best, best_score = lab, score
    return best


def intracranial_mask(image: np.ndarray, spacing_kji, cut_mm: float = CUT_MM) -> np.ndarray:
    """Boolean brain (+ CSF) mask on ``image``'s grid; empty for an empty image."""
    return brain_and_head(image, spacing_kji, cut_mm)[0]


def brain_and_head(image: np.ndarray, spacing_kji, cut_mm: float = CUT_MM,
                   recover: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The brain mask and the head (all tissue, holes filled: no air). Computed on a coarser grid (``WORK_MM``):
    a mask needs no sub-millimetre detail and the distance transforms cost 10x less. ``recover``: brain cut off by
    a deep split is flooded back (module docstring)."""
    full_sp = np.asarray(spacing_kji, float)
    step = np.maximum(1, np.floor(WORK_MM / full_sp)).astype(int)
    small = ndimage.uniform_filter(np.asarray(image, np.float32), size=tuple(step))[::step[0], ::step[1], ::step[2]]
    sp = full_sp * step
    brain = _mask(small, sp, cut_mm, recover)
    head = ndimage.binary_fill_holes(ndimage.binary_closing(tissue_mask(small), iterations=2) | brain)
    idx = np.ix_(*[np.minimum(np.arange(n) // s, m - 1) for n, s, m in zip(np.shape(image), step, brain.shape)])
    return brain[idx], head[idx]


def _mask(image: np.ndarray, sp: np.ndarray, cut_mm: float, recover: bool = False) -> np.ndarray:
    tissue = tissue_mask(image)
    if not tissue.any():
        return tissue
    inside = _inside_distance(tissue, sp)
    cut = _erosion_cut(inside, sp, cut_mm)
    if cut is None or not cut.pick:
        return np.zeros(tissue.shape, bool)
    brain, reach = cut.labels == cut.pick, cut.depth
    from_core = ndimage.distance_transform_edt(~brain, sampling=sp)
    grown = (from_core <= reach + 0.5) & tissue
    if recover and cut.split and reach > cut_mm:  # only a cut deeper than the first cuts brain off
        grown |= _flooded_back(cut, tissue, inside, sp) & (from_core <= reach + RECOVER_MM)
    pad = int(np.ceil(CLOSE_MM / sp.min())) + 1
    closed = ndimage.distance_transform_edt(np.pad(grown, pad) == 0, sampling=sp) <= CLOSE_MM
    closed = _inside_distance(closed, sp) > CLOSE_MM
    mask = ndimage.binary_fill_holes(closed[pad:-pad, pad:-pad, pad:-pad] | grown)
    for k in range(mask.shape[0]):  # holes open to another slice (thick slices, vessels leaving the slab)
        mask[k] = ndimage.binary_fill_holes(mask[k])
    return mask


@dataclass
class _Cut:
    """Tissue deeper than ``depth`` mm, labelled; the brain-like component; whether the cut split the head."""

    labels: np.ndarray
    pick: int
    depth: float
    split: bool


def _erosion_cut(inside: np.ndarray, sp: np.ndarray, cut_mm: float) -> _Cut | None:
    """A cut that grows (``cut_mm``, +2 mm ... up to 3x) until the head splits into a brain-sized part and the
    rest; without a split, the first cut. None when nothing is that deep."""
    first = None
    for depth in np.arange(cut_mm, 3 * cut_mm + 0.1, 2.0):
        labels, n = ndimage.label(inside > depth)
        if n == 0:
            break
        big = [lab for lab, size in enumerate(np.bincount(labels.ravel())[1:], 1) if size * np.prod(sp) >= 50_000]
        pick = _pick_brain(labels, n, sp)
        if len(big) >= 2 and pick:
            return _Cut(labels, pick, float(depth), True)
        if first is None:
            first = _Cut(labels, pick, float(depth), False)
    return first


def _flooded_back(cut: _Cut, tissue: np.ndarray, inside: np.ndarray, sp: np.ndarray) -> np.ndarray:
    """The brain core's basin in a watershed on depth seeded by every part of the split (and the non-tissue)."""
    sizes = np.bincount(cut.labels.ravel()) * np.prod(sp) / 1000.0
    others = [lab for lab in range(1, len(sizes)) if lab != cut.pick and sizes[lab] >= MIN_PART_ML]
    markers = np.zeros(cut.labels.shape, np.uint32)
    markers[np.isin(cut.labels, others)] = 2
    markers[~tissue] = 3
    markers[cut.labels == cut.pick] = 1
    elevation = sitk.GetImageFromArray((inside.max() - inside).astype(np.float32))
    basins = sitk.MorphologicalWatershedFromMarkers(elevation, sitk.GetImageFromArray(markers),
                                                    markWatershedLine=False, fullyConnected=True)
    return (sitk.GetArrayViewFromImage(basins) == 1) & tissue

