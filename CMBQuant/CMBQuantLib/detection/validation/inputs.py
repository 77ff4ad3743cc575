"""Reading prediction/reference pairs for validation: finding cases, geometry checks, region maps and sites.

Files are read with SimpleITK and handed on as numpy masks on the reference grid with an index-to-RAS affine.
Bad input raises ``InputError`` whose message names the file(s) and the fix, so the command can print one line.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import SimpleITK as sitk

from CMBQuantLib.detection.validation.metrics import binarize

IMAGE_SUFFIXES = (".seg.nrrd", ".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
CASE_SEGMENTATION = "cmbs.seg.nrrd"  # the case-folder contract (docs/case-folder.md)


class InputError(Exception):
    """Bad input the user can fix: the message names the file(s) and the fix."""


class GeometryMismatchError(InputError):
    """Prediction and reference are not on the same voxel grid (message names both files)."""


@dataclass(frozen=True)
class GeometryTolerance:
    """Absolute tolerances: mm for spacing and origin, unitless for direction cosines."""

    spacing_mm: float = 1e-3
    origin_mm: float = 1e-3
    direction: float = 1e-4


def case_id_of(path: Path) -> str | None:
    """Case ID = file name without its image extension and without a ``.seg`` suffix; None if not an image."""
    name = path.name
    for suf in IMAGE_SUFFIXES:
        if name.lower().endswith(suf):
            stem = name[: -len(suf)]
            return stem[:-4] if stem.lower().endswith(".seg") else stem
    return None


def find_cases(folder: Path) -> dict[str, Path]:
    """Image files directly in ``folder`` by case ID, or CMBQuant case folders (``<case_id>/cmbs.seg.nrrd``, as
    ``cmbquant run``/``batch`` write them); two files with one ID is an error (which one to score?)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder. Give a folder of NIfTI/NRRD files (one per case).")
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_dir() and (p / CASE_SEGMENTATION).is_file():
            out[p.name] = p / CASE_SEGMENTATION
            continue
        cid = case_id_of(p) if p.is_file() and not p.name.startswith(".") else None
        if cid is None:
            continue
        if cid in out:
            raise InputError(f"{out[cid]} and {p}: two files for case '{cid}'. Keep one of them in {folder}.")
        out[cid] = p
    return out


def _read(path: Path) -> sitk.Image:
    try:
        return sitk.ReadImage(str(path))
    except Exception as exc:  # SimpleITK raises RuntimeError with a long ITK trace
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: cannot be read as an image ({first[:200]}). "
                         "Re-export it as .nii.gz or .nrrd.") from None


def _to_3d_array(img: sitk.Image, path: Path) -> np.ndarray:
    """Voxels as a (z, y, x) array; vector pixels and a 4th axis (segmentation layers) are kept on the last axis."""
    arr = sitk.GetArrayFromImage(img)
    if img.GetDimension() == 4:  # (t, z, y, x) -> (z, y, x, t)
        arr = np.moveaxis(arr, 0, -1)
    elif img.GetDimension() != 3:
        raise InputError(f"{path}: a {img.GetDimension()}D image; CMB masks must be 3D volumes.")
    return arr


def _geometry_3d(img: sitk.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(size xyz, spacing xyz, origin LPS, direction 3x3) of the spatial part of ``img``."""
    d = img.GetDimension()
    size = np.array(img.GetSize()[:3])
    spacing = np.array(img.GetSpacing()[:3], dtype=float)
    origin = np.array(img.GetOrigin()[:3], dtype=float)
    direction = np.array(img.GetDirection(), dtype=float).reshape(d, d)[:3, :3]
    return size, spacing, origin, direction


def check_geometry(pred: sitk.Image, ref: sitk.Image, pred_path: Path, ref_path: Path,
                   tol: GeometryTolerance = GeometryTolerance(), check_size: bool = True) -> None:
    """Raise ``GeometryMismatchError`` naming both files when the grids differ beyond ``tol``."""
    ps, pp, po, pd_ = _geometry_3d(pred)
    rs, rp, ro, rd = _geometry_3d(ref)
    problems = []
    if check_size and not np.array_equal(ps, rs):
        problems.append(f"size {tuple(ps)} vs {tuple(rs)}")
    if not np.allclose(pp, rp, rtol=0, atol=tol.spacing_mm):
        problems.append(f"spacing {tuple(np.round(pp, 4))} vs {tuple(np.round(rp, 4))} mm")
    if check_size and not np.allclose(po, ro, rtol=0, atol=tol.origin_mm):
        problems.append(f"origin {tuple(np.round(po, 3))} vs {tuple(np.round(ro, 3))} mm")
    if not np.allclose(pd_, rd, rtol=0, atol=tol.direction):
        problems.append(f"direction {tuple(np.round(pd_.ravel(), 4))} vs {tuple(np.round(rd.ravel(), 4))}")
    if problems:
        raise GeometryMismatchError(
            f"{pred_path} and {ref_path}: different voxel grids ({'; '.join(problems)}). "
            "Resample the prediction onto the reference image (nearest neighbour) and run again.")


def _paste_segmentation(seg: sitk.Image, mask: np.ndarray, ref: sitk.Image, seg_path: Path, ref_path: Path,
                        tol: GeometryTolerance) -> np.ndarray:
    """Put a (cropped) .seg.nrrd mask into the reference grid.

    Slicer writes segmentations cropped to the segments' extent, so only spacing and direction must equal the
    reference; the origin must sit on a reference voxel and the mask inside the reference image.
    """
    out = np.zeros(ref.GetSize()[::-1], dtype=bool)
    if not mask.any():
        return out
    check_geometry(seg, ref, seg_path, ref_path, tol, check_size=False)
    _, _, so, _ = _geometry_3d(seg)
    _, rsp, ro, rdir = _geometry_3d(ref)
    offset_xyz = np.linalg.solve(rdir * rsp, so - ro)  # seg origin in reference voxel indices
    off = np.round(offset_xyz).astype(int)
    if not np.allclose(offset_xyz, off, atol=tol.origin_mm / rsp.min()):
        raise GeometryMismatchError(
            f"{seg_path} and {ref_path}: the segmentation origin is not on a reference voxel (offset "
            f"{tuple(np.round(offset_xyz, 3))} voxels). Export the segmentation with the reference image as "
            "its reference geometry.")
    zyx_idx = np.argwhere(mask) + off[::-1]
    if (zyx_idx < 0).any() or (zyx_idx >= np.array(out.shape)).any():
        raise GeometryMismatchError(
            f"{seg_path} and {ref_path}: segmented voxels lie outside the reference image. Export the "
            "segmentation with the reference image as its reference geometry.")
    out[tuple(zyx_idx.T)] = True
    return out


def is_segmentation(img: sitk.Image, path: Path) -> bool:
    """A Slicer segmentation file: ``.seg.nrrd`` by name, or an NRRD carrying Slicer's segment metadata."""
    return path.name.lower().endswith(".seg.nrrd") or img.HasMetaDataKey("Segment0_ID") or \
        img.HasMetaDataKey("Segmentation_MasterRepresentation")


def segmentation_mask(img: sitk.Image, arr: np.ndarray) -> np.ndarray:
    """Voxels of a ``.seg.nrrd``'s segments, leaving out those a CMBQuant reader rejected (tag status:rejected).

    A rejected candidate is not a predicted CMB after review; segments without CMBQuant tags all count.
    """
    layers = arr if arr.ndim == 4 else arr[..., None]
    keys = set(img.GetMetaDataKeys())
    mask = np.zeros(layers.shape[:3], bool)
    n = 0
    while f"Segment{n}_ID" in keys:
        tags = img.GetMetaData(f"Segment{n}_Tags") if f"Segment{n}_Tags" in keys else ""
        if "CMBQuant.status:rejected|" not in tags + "|":
            layer = int(img.GetMetaData(f"Segment{n}_Layer")) if f"Segment{n}_Layer" in keys else 0
            value = int(img.GetMetaData(f"Segment{n}_LabelValue")) if f"Segment{n}_LabelValue" in keys else 1
            mask |= layers[..., layer] == value
        n += 1
    return mask if n else (layers != 0).any(-1)


def load_pair(pred_path: Path, ref_path: Path, threshold: float = 0.5,
              tol: GeometryTolerance = GeometryTolerance()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(prediction mask, reference mask, affine array-index -> RAS mm) on the reference grid.

    Predictions: integer label maps (nonzero = CMB), float probability maps (> ``threshold``), or Slicer
    ``.seg.nrrd`` (any nonzero label in any layer = CMB).
    """
    ref_img = _read(ref_path)
    ref = _to_3d_array(ref_img, ref_path)
    if ref.ndim == 4:
        ref = (ref != 0).any(-1)
    ref = ref != 0
    pred_img = _read(pred_path)
    parr = _to_3d_array(pred_img, pred_path)
    if is_segmentation(pred_img, pred_path):
        pmask = segmentation_mask(pred_img, parr)
        pred = _paste_segmentation(pred_img, pmask, ref_img, pred_path, ref_path, tol)
    else:
        check_geometry(pred_img, ref_img, pred_path, ref_path, tol)
        if parr.ndim == 4:
            if np.issubdtype(parr.dtype, np.floating):
                raise InputError(f"{pred_path}: a float image with {parr.shape[-1]} channels (e.g. a softmax). "
                                 "Save only the CMB probability channel, or a label map.")
            parr = (parr != 0).any(-1)
        pred = binarize(parr, threshold)
    return pred, ref, affine_ras(ref_img)


def affine_ras(img: sitk.Image) -> np.ndarray:
    """4x4 from numpy index (k, j, i) to RAS mm (Slicer's world), from ITK's LPS geometry."""
    _, sp, origin, direction = _geometry_3d(img)
    m_xyz = direction * sp  # columns: i, j, k steps in LPS
    a = np.eye(4)
    a[:3, :3] = m_xyz[:, ::-1]  # numpy axes are (k, j, i)
    a[:3, 3] = origin
    lps_to_ras = np.diag([-1.0, -1.0, 1.0, 1.0])
    return lps_to_ras @ a


def load_regions(region_files: Mapping[str, Path], regions_dir: Path, case_id: str, ref_path: Path,
                 tol: GeometryTolerance = GeometryTolerance()) -> np.ndarray:
    """The case's region label map (integer array on the reference grid)."""
    if case_id not in region_files:
        raise InputError(f"{regions_dir}: no region map for case '{case_id}'. Add {case_id}.nii.gz there "
                         "or run without --regions.")
    path = region_files[case_id]
    img, ref_img = _read(path), _read(ref_path)
    check_geometry(img, ref_img, path, ref_path, tol)
    arr = _to_3d_array(img, path)
    if arr.ndim != 3:
        raise InputError(f"{path}: a multi-component image; a region map needs one integer label per voxel.")
    return np.rint(arr).astype(np.int64)


def read_region_names(path: Path) -> dict[int, str]:
    """``label,region`` CSV -> {label: region name} (e.g. 1,lobar / 2,deep / 3,infratentorial)."""
    try:
        df = pd.read_csv(path)
    except Exception as exc:
        raise InputError(f"{path}: cannot be read as CSV ({exc}). Give a CSV with columns label,region.") from None
    if not {"label", "region"} <= set(df.columns):
        raise InputError(f"{path}: needs columns label,region (found {', '.join(map(str, df.columns))}). "
                         "Rename the header.")
    try:
        return {int(k): str(v) for k, v in zip(df["label"], df["region"])}
    except (TypeError, ValueError):
        raise InputError(f"{path}: the label column must hold integers.") from None


def read_sites(path: Path) -> dict[str, str]:
    """``case_id,site`` CSV -> mapping (site e.g. internal / external)."""
    try:
        df = pd.read_csv(path, dtype=str)
    except Exception as exc:
        raise InputError(f"{path}: cannot be read as CSV ({exc}). Give a CSV with columns case_id,site.") from None
    if not {"case_id", "site"} <= set(df.columns):
        raise InputError(f"{path}: needs columns case_id,site (found {', '.join(df.columns)}). Rename the header.")
    df = df.dropna(subset=["case_id"])
    return dict(zip(df["case_id"].str.strip(), df["site"].fillna("unknown").str.strip()))

