"""Volume input: SWI files into scalar volume nodes with their exact IJK-to-RAS geometry.

NIfTI and NRRD are read by Slicer's own archetype storage node (what Slicer's "Add data" does); a DICOM series
folder is read with SimpleITK's series reader. Arrays are always indexed [k, j, i] like ``slicer.util.arrayFromVolume``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from CMBQuantLib.core.geometry import Geometry, geometry_from_sitk, sitk_from_array
from CMBQuantLib.core.scene import SceneContext, read_with_storage_node

SUPPORTED = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")


class VolumeInputError(ValueError):
    """Bad input volume; the message names the file and how to fix it."""


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def write_image(array: np.ndarray, geometry: Geometry, path: str | Path) -> Path:
    """Write a [k, j, i] array as NIfTI/NRRD with the given geometry (compressed)."""

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk_from_array(array, geometry), str(path), True)
    return path


def read_image(path: str | Path) -> tuple[np.ndarray, Geometry]:
    """Read a 3D scalar image file (or DICOM folder) to a [k, j, i] array and geometry, validated."""
    image = _read_sitk(Path(path))
    array = _sitk_array(image)
    _check_values(array, Path(path))
    return array, geometry_from_sitk(image)


def _read_sitk(path: Path) -> Any:

    if not path.exists():
        raise VolumeInputError(f"{path}: file not found. Check the path (and that the drive is mounted).")
    if path.is_dir():
        reader = sitk.ImageSeriesReader()
        series = reader.GetGDCMSeriesIDs(str(path))
        if not series:
            raise VolumeInputError(
                f"{path}: folder holds no DICOM series. Point to a NIfTI/NRRD file or a folder of one DICOM series."
            )
        files = reader.GetGDCMSeriesFileNames(str(path), series[0])
        reader.SetFileNames(files)
        image = reader.Execute()
    else:
        if _suffix(path) not in SUPPORTED and _suffix(path) != ".dcm":
            raise VolumeInputError(
                f"{path}: unsupported file type '{_suffix(path)}'. Use NIfTI (.nii/.nii.gz), NRRD (.nrrd) or a DICOM folder."
            )
        try:
            image = sitk.ReadImage(str(path))
        except RuntimeError as exc:
            raise VolumeInputError(f"{path}: cannot be read as an image ({str(exc).strip().splitlines()[-1]}). "
                                   "Re-export it as NIfTI or NRRD.") from None
    _check_header(image, path)
    return image


def _check_header(image: Any, path: Path) -> None:
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise VolumeInputError(
            f"{path}: has {image.GetNumberOfComponentsPerPixel()} components per voxel (vector/RGB). "
            "CMBQuant needs one SWI magnitude volume: extract the magnitude channel first."
        )
    dim = image.GetDimension()
    size = image.GetSize()
    if dim == 4:
        if size[3] != 1:
            raise VolumeInputError(
                f"{path}: is 4D ({size[3]} volumes, e.g. echoes or magnitude+phase). "
                "Pass one 3D SWI volume (split the series, or take the SWI/minIP-free magnitude)."
            )
    elif dim != 3:
        raise VolumeInputError(f"{path}: is {dim}D; CMBQuant needs a 3D SWI volume.")
    if min(size[:3]) < 1 or int(np.prod(size[:3])) == 0:
        raise VolumeInputError(f"{path}: is empty (size {size}). Re-export the volume.")


def _sitk_array(image: Any) -> np.ndarray:

    if image.GetDimension() == 4:
        extractor = sitk.ExtractImageFilter()
        size = list(image.GetSize())
        size[3] = 0
        extractor.SetSize(size)
        image = extractor.Execute(image)
    return sitk.GetArrayFromImage(image)


def _check_values(array: np.ndarray, path: Path) -> None:
    if array.size == 0:
        raise VolumeInputError(f"{path}: is empty. Re-export the volume.")
    if np.issubdtype(array.dtype, np.floating):
        finite = np.isfinite(array)
        if not finite.any():
            raise VolumeInputError(f"{path}: every voxel is NaN/inf. The reconstruction failed: re-export the SWI.")
        if not finite.all():
            n = int((~finite).sum())
            raise VolumeInputError(
                f"{path}: {n} voxels are NaN or infinite. Replace them (e.g. fslmaths -nan) or re-export the SWI."
            )
    if array.min() == array.max():
        raise VolumeInputError(f"{path}: every voxel has the same value ({array.flat[0]}): the volume is blank.")


def load_volume(ctx: SceneContext, path: str | Path, name: str | None = None) -> Any:
    """Load an SWI file or DICOM folder into a new ``vtkMRMLScalarVolumeNode``, validated first.

    NIfTI/NRRD go through Slicer's archetype storage node so geometry is exactly what Slicer would show.
    """
    import slicer

    path = Path(path)
    image = _read_sitk(path)
    _check_values(_sitk_array(image), path)
    node_name = name or _case_name(path)
    if path.is_dir() or image.GetDimension() == 4:
        return volume_node_from_array(ctx, _sitk_array(image), geometry_from_sitk(image), node_name)
    node = slicer.vtkMRMLScalarVolumeNode()
    node.SetName(node_name)
    ctx.scene.AddNode(node)
    if not read_with_storage_node(ctx, node, slicer.vtkMRMLVolumeArchetypeStorageNode(), str(path)):
        raise VolumeInputError(f"{path}: Slicer could not read this file. Re-export it as NIfTI or NRRD.")
    _ensure_display(ctx, node)
    return node


def remove_volume(scene: Any, node: Any) -> None:
    """Take ``node`` out of ``scene`` with its display and storage nodes (a removed volume leaves none behind)."""
    extra = [node.GetDisplayNode(), node.GetStorageNode()]
    scene.RemoveNode(node)
    for other in extra:
        if other is not None and scene.IsNodePresent(other):
            scene.RemoveNode(other)


def _case_name(path: Path) -> str:
    name = path.name
    for ext in (".nii.gz", ".seg.nrrd", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return name


def case_id_from_path(path: str | Path) -> str:
    """Case id = file name without its (double) extension, e.g. ``sub-01_swi.nii.gz`` -> ``sub-01_swi``."""
    return _case_name(Path(path))


def volume_node_from_array(ctx: SceneContext, array: np.ndarray, geometry: Geometry, name: str,
                           labelmap: bool = False) -> Any:
    """A new scalar (or labelmap) volume node holding ``array`` [k, j, i] with ``geometry``."""
    import slicer
    import vtk

    cls = "vtkMRMLLabelMapVolumeNode" if labelmap else "vtkMRMLScalarVolumeNode"
    node = ctx.scene.AddNewNodeByClass(cls, name)
    m = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            m.SetElement(r, c, float(geometry.ijk_to_ras[r, c]))
    node.SetIJKToRASMatrix(m)
    slicer.util.updateVolumeFromArray(node, np.ascontiguousarray(array))
    node.SetIJKToRASMatrix(m)
    _ensure_display(ctx, node)
    return node


def _ensure_display(ctx: SceneContext, node: Any) -> None:
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()


def array_of(node: Any) -> np.ndarray:
    """The node's voxels as [k, j, i] (a view: do not modify without ``arrayFromVolumeModified``)."""
    import slicer

    return slicer.util.arrayFromVolume(node)

