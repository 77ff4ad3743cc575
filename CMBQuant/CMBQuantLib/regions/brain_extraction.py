"""The SWI's brain, cut from the scalp, and the SWI on a coarse isotropic working grid for registration.

Registering the whole head lets the scalp, face and neck (bright on SWI, absent from a brain template) pull the
warp; the brain alone does not. The mask starts as the detector's intracranial mask (``detection.brain``: brain +
CSF, computed on a ~1.5 mm grid). On thick-slice, oblique, noisy scans it can leak into the face or neck or lose
part of the cerebellum (docs/regions.md measures both), so ``constrain_to_prior`` then keeps it within
``outer_mm`` of the affinely placed template intracranial volume and adds that volume's core (``inner_mm`` inside
its edge). The working grid keeps the SWI's own axes (oblique scans stay oblique), with isotropic voxels: thick
slices are interpolated, thin ones averaged first.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from CMBQuantLib.core.geometry import Geometry, sitk_from_array
from CMBQuantLib.detection.brain import brain_and_head

MARGIN_MM = 12.0  # working grid = brain bounding box + this (the warp needs some background around the brain)


@dataclass
class SubjectBrain:
    """Brain mask on the SWI grid; the SWI and the mask on a working grid over the whole field of view."""

    mask: np.ndarray  # bool [k, j, i], SWI grid
    volume_ml: float
    cut_faces: dict[str, float]  # mask area (cm^2) on each face of the field of view it touches
    fov_image: sitk.Image  # float32 SWI averaged onto the working grid (whole field of view)
    fov_mask: sitk.Image  # uint8, same grid


@dataclass
class WorkingImages:
    """What the deformable registration aligns: the masked, normalised SWI around the brain, and its mask."""

    image: sitk.Image  # float32, 0 outside the brain, 1 at the brain's 99th percentile
    mask: sitk.Image  # uint8
    prior_added_ml: float = 0.0  # brain added from the template prior (missed by the mask)
    prior_removed_ml: float = 0.0  # mask removed as too far from the template prior (leak)


def extract_brain(image: np.ndarray, geometry: Geometry, spacing_mm: float = 2.0) -> SubjectBrain:
    """The brain mask of an SWI, and the SWI and mask averaged onto a ``spacing_mm`` grid of its field of view."""
    mask, _ = brain_and_head(image, geometry.spacing[::-1], recover=True)  # cerebellum cut off by a deep split
    volume_ml = float(mask.sum() * geometry.voxel_volume / 1000.0)
    swi = sitk.Cast(sitk_from_array(np.asarray(image, np.float32), geometry), sitk.sitkFloat32)
    msk = sitk.Cast(sitk_from_array(mask.astype(np.uint8), geometry), sitk.sitkFloat32)
    factors = [max(1, int(np.floor(spacing_mm / s))) for s in swi.GetSpacing()]
    ref = grid_over(swi, None, spacing_mm, margin_mm=0.0)
    work = sitk.Resample(sitk.BinShrink(swi, factors), ref, sitk.Transform(), sitk.sitkLinear, 0.0)
    frac = sitk.Resample(sitk.BinShrink(msk, factors), ref, sitk.Transform(), sitk.sitkLinear, 0.0)
    return SubjectBrain(mask, volume_ml, cut_faces(mask, geometry), work, sitk.Cast(frac > 0.5, sitk.sitkUInt8))


def grid_over(image: sitk.Image, mask: sitk.Image | None, spacing_mm: float, margin_mm: float = MARGIN_MM):
    """An empty image on ``image``'s axes, ``spacing_mm`` isotropic, over the mask's bounding box + margin (the
    whole image when ``mask`` is None or empty)."""
    lo, hi = np.zeros(3), np.array(image.GetSize(), float) - 1
    if mask is not None:
        stats = sitk.LabelShapeStatisticsImageFilter()
        stats.Execute(sitk.Cast(mask > 0, sitk.sitkUInt8))
        if stats.HasLabel(1):
            box = stats.GetBoundingBox(1)
            lo, hi = np.array(box[:3], float), np.array(box[:3], float) + np.array(box[3:]) - 1
    sp = np.array(image.GetSpacing())
    lo, hi = lo - margin_mm / sp, hi + margin_mm / sp
    size = [int(np.ceil((h - lo_) * s / spacing_mm)) + 1 for lo_, h, s in zip(lo, hi, sp)]
    ref = sitk.Image(size, sitk.sitkFloat32)
    ref.SetSpacing((spacing_mm,) * 3)
    ref.SetDirection(image.GetDirection())
    ref.SetOrigin(image.TransformContinuousIndexToPhysicalPoint(tuple(float(v) for v in lo)))
    return ref


def constrain_to_prior(brain: SubjectBrain, prior: sitk.Image | None, inner_mm: float = 5.0,
                       outer_mm: float = 10.0) -> WorkingImages:
    """The working images, the mask kept within ``outer_mm`` of ``prior`` (template intracranial volume on the
    working grid) and completed with ``prior`` eroded by ``inner_mm``; ``prior`` None: the mask as it is."""
    mask = sitk.GetArrayFromImage(brain.fov_mask) > 0
    voxel_ml = float(np.prod(brain.fov_mask.GetSpacing())) / 1000.0
    added = removed = 0.0
    if prior is not None and (sitk.GetArrayViewFromImage(prior) > 0).any():
        p = sitk.GetArrayFromImage(prior) > 0
        sp = np.array(brain.fov_mask.GetSpacing())[::-1]
        d_out = ndimage.distance_transform_edt(~p, sampling=sp)
        d_in = ndimage.distance_transform_edt(p, sampling=sp)
        new = (mask | (d_in > inner_mm)) & (d_out <= outer_mm)
        added, removed = float((new & ~mask).sum() * voxel_ml), float((mask & ~new).sum() * voxel_ml)
        mask = new
    mask_img = sitk.GetImageFromArray(mask.astype(np.uint8))
    mask_img.CopyInformation(brain.fov_mask)
    ref = grid_over(brain.fov_mask, mask_img, brain.fov_mask.GetSpacing()[0])
    image = sitk.Resample(brain.fov_image, ref, sitk.Transform(), sitk.sitkLinear, 0.0)
    mask_img = sitk.Resample(mask_img, ref, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    return WorkingImages(normalised(image, mask_img), mask_img, added, removed)


def normalised(image: sitk.Image, mask: sitk.Image) -> sitk.Image:
    """``image`` inside ``mask`` divided by its 99th percentile there, 0 outside."""
    arr = sitk.GetArrayFromImage(image)
    inside = sitk.GetArrayViewFromImage(mask) > 0
    scale = float(np.percentile(arr[inside], 99)) if inside.any() else 1.0
    out = sitk.GetImageFromArray(np.where(inside, arr / max(scale, 1e-6), 0.0).astype(np.float32))
    out.CopyInformation(image)
    return out


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
