"""The SWI's brain, cut from the scalp, and the SWI on a coarse isotropic working grid for registration.

Registering the whole head lets the scalp, face and neck (bright on SWI, absent from a brain template) pull the
warp; the brain alone does not. The mask is the detector's intracranial mask (``detection.brain``: brain + CSF,
robust to thin skull bridges, computed on a ~1.5 mm grid); how much of the true brain it keeps on thick-slice and
oblique scans is measured in docs/regions.md. The working grid keeps the SWI's own axes (oblique scans stay
oblique), with isotropic ``spacing_mm`` voxels: thick slices are interpolated, thin ones averaged first.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from CMBQuantLib.core.geometry import Geometry, sitk_from_array
from CMBQuantLib.detection.brain import brain_and_head

MARGIN_MM = 12.0  # working grid = brain bounding box + this (the warp needs some background around the brain)


@dataclass
class SubjectBrain:
    """Brain mask on the SWI grid and the masked, normalised SWI on the working grid (SimpleITK, LPS)."""

    mask: np.ndarray  # bool [k, j, i], SWI grid
    volume_ml: float
    cut_faces: dict[str, float]  # mask area (cm^2) on each face of the field of view it touches
    work_image: sitk.Image  # float32, 0 outside the brain, ~1 at the brain's 99th percentile
    work_mask: sitk.Image  # uint8, same grid


def extract_brain(image: np.ndarray, geometry: Geometry, spacing_mm: float = 2.0) -> SubjectBrain:
    """The brain mask of an SWI and the working-grid image a registration aligns to the template."""
    mask, _ = brain_and_head(image, geometry.spacing[::-1])
    volume_ml = float(mask.sum() * geometry.voxel_volume / 1000.0)
    swi = sitk.Cast(sitk_from_array(np.asarray(image, np.float32), geometry), sitk.sitkFloat32)
    msk = sitk_from_array(mask.astype(np.uint8), geometry)
    ref = working_grid(msk, spacing_mm)
    factors = [max(1, int(np.floor(spacing_mm / s))) for s in swi.GetSpacing()]
    small = sitk.BinShrink(swi * sitk.Cast(msk, sitk.sitkFloat32), factors)
    small_mask = sitk.BinShrink(sitk.Cast(msk, sitk.sitkFloat32), factors)
    work = sitk.Resample(small, ref, sitk.Transform(), sitk.sitkLinear, 0.0)
    frac = sitk.Resample(small_mask, ref, sitk.Transform(), sitk.sitkLinear, 0.0)
    wmask = frac > 0.5
    arr = sitk.GetArrayFromImage(work) / np.maximum(sitk.GetArrayFromImage(frac), 1e-3)
    inside = sitk.GetArrayViewFromImage(wmask) > 0
    scale = float(np.percentile(arr[inside], 99)) if inside.any() else 1.0
    arr = np.where(inside, arr / max(scale, 1e-6), 0.0).astype(np.float32)
    work_img = sitk.GetImageFromArray(arr)
    work_img.CopyInformation(ref)
    return SubjectBrain(mask, volume_ml, cut_faces(mask, geometry), work_img, sitk.Cast(wmask, sitk.sitkUInt8))


def working_grid(mask: sitk.Image, spacing_mm: float) -> sitk.Image:
    """An empty image on the SWI's axes, ``spacing_mm`` isotropic, covering the mask's bounding box + margin."""
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(mask)
    if not stats.HasLabel(1):
        lo, hi = np.zeros(3), np.array(mask.GetSize(), float) - 1
    else:
        box = stats.GetBoundingBox(1)
        lo, hi = np.array(box[:3], float), np.array(box[:3], float) + np.array(box[3:]) - 1
    sp = np.array(mask.GetSpacing())
    lo, hi = lo - MARGIN_MM / sp, hi + MARGIN_MM / sp
    size = [int(np.ceil((h - lo_) * s / spacing_mm)) + 1 for lo_, h, s in zip(lo, hi, sp)]
    ref = sitk.Image(size, sitk.sitkFloat32)
    ref.SetSpacing((spacing_mm,) * 3)
    ref.SetDirection(mask.GetDirection())
    ref.SetOrigin(mask.TransformContinuousIndexToPhysicalPoint(tuple(float(v) for v in lo)))
    return ref


def cut_faces(mask: np.ndarray, geometry: Geometry) -> dict[str, float]:
    """Brain-mask area (cm^2) lying on each face of the field of view (a brain cut by the FOV shows up here)."""
    sp = geometry.spacing[::-1]  # k, j, i
    out = {}
    for axis, name in enumerate(("k", "j", "i")):
        pixel = float(np.prod(np.delete(sp, axis))) / 100.0
        for end, idx in (("lo", 0), ("hi", -1)):
            area = float(np.take(mask, idx, axis=axis).sum()) * pixel
            if area > 0:
                out[f"{name}_{end}"] = round(area, 1)
    return out
