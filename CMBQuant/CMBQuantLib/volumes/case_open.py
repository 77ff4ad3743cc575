"""Opening a case folder: its SWI and segmentation loaded into a scene (``open_case``), and the input copied in."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from CMBQuantLib.core.atomic import atomic_write_bytes
from CMBQuantLib.core.case_folder import (
    IMAGE_FILE,
    SEG_FILE,
    CaseFolderError,
    CaseInfo,
    case_image_path,
    read_case_json,
)
from CMBQuantLib.core.geometry import Geometry, geometry_of_node
from CMBQuantLib.core.scene import SceneContext, headless_context
from CMBQuantLib.core.segments import load_segmentation
from CMBQuantLib.volumes.images import array_of, load_volume, read_image, volume_node_from_array, write_image


def copy_input_image(folder: str | Path, input_file: str | Path, image: np.ndarray | None = None,
                     geometry: Geometry | None = None) -> Path:
    """``image.nii.gz`` in the case folder, so the case opens on another machine (byte copy when already .nii.gz)."""

    dest = Path(folder) / IMAGE_FILE
    src = Path(input_file)
    if src.is_file() and src.name.lower().endswith(".nii.gz"):
        atomic_write_bytes(dest, src.read_bytes())
    else:
        if image is None or geometry is None:

            image, geometry = read_image(src)
        tmp = dest.with_name(".image.tmp.nii.gz")
        write_image(image, geometry, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    return dest


@dataclass
class OpenCase:
    """A case loaded into a scene: what the review session, the Slicer widget and the web app work on."""

    folder: Path
    info: CaseInfo
    ctx: SceneContext
    volume_node: Any
    seg_node: Any
    image: np.ndarray | None  # [k, j, i] SWI (None when the image file is gone and was not required)
    geometry: Geometry

    @property
    def case_id(self) -> str:
        return self.info.case_id


def open_case(folder: str | Path, ctx: SceneContext | None = None, require_image: bool = True) -> OpenCase:
    """Load a case folder's SWI and CMB segmentation into ``ctx`` (a new headless scene when None).

    Without the image (moved input, no copy) a blank volume on the case geometry stands in when
    ``require_image`` is False, so labels and counts can still be exported.
    """

    folder = Path(folder)
    info = read_case_json(folder)
    ctx = ctx or headless_context()
    seg_path = folder / SEG_FILE
    if not seg_path.exists():
        raise CaseFolderError(f"{seg_path}: not found. Re-run the case (`cmbquant batch`) to rebuild the "
                              "segmentation; review.jsonl will be replayed onto it.")
    image_path = case_image_path(folder, info)
    image = None
    if image_path is not None:
        volume = load_volume(ctx, image_path, name=info.case_id)
        image = np.array(array_of(volume))
        geometry = geometry_of_node(volume)
    else:
        geometry = info.geometry_obj()
        if require_image or geometry is None:
            raise CaseFolderError(f"{folder / IMAGE_FILE}: not found, and the input {info.input_file or '(unknown)'} "
                                  "is gone. Copy the SWI into the case folder as image.nii.gz.")
        volume = volume_node_from_array(ctx, np.zeros(geometry.shape, np.float32), geometry, info.case_id)
    try:
        seg_node = load_segmentation(ctx, seg_path, name=f"{info.case_id} CMBs")
    except ValueError as exc:
        raise CaseFolderError(f"{exc} (or delete it and re-run the case)") from None
    seg_node.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    return OpenCase(folder, info, ctx, volume, seg_node, image, geometry)

