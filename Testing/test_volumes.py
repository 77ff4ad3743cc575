"""Volume input keeps Slicer's exact geometry and rejects bad volumes with a message naming file and fix."""
import math

import numpy as np
import pytest
import SimpleITK as sitk

from CMBQuantLib.core.geometry import Geometry, geometry_from_sitk, geometry_of_node
from CMBQuantLib.core.scene import headless_context
from CMBQuantLib.volumes.images import VolumeInputError, load_volume, read_image, write_image


def _oblique_image() -> sitk.Image:
    rng = np.random.default_rng(3)
    img = sitk.GetImageFromArray(rng.random((12, 17, 23)).astype(np.float32))
    img.SetSpacing((0.9, 0.7, 2.2))
    img.SetOrigin((12.5, -30.25, 41.0))
    a, b = math.radians(17), math.radians(9)
    rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    img.SetDirection(tuple((rz @ rx).ravel()))
    return img


@pytest.mark.parametrize("ext", [".nii.gz", ".nrrd"])
def test_oblique_anisotropic_volume_keeps_ijk_to_ras_of_simpleitk(tmp_path, ext):
    img = _oblique_image()
    path = tmp_path / f"oblique{ext}"
    sitk.WriteImage(img, str(path))
    ctx = headless_context()
    node = load_volume(ctx, path)
    direction = np.array(img.GetDirection()).reshape(3, 3)
    expected = np.eye(4)
    expected[:3, :3] = np.diag([-1, -1, 1]) @ direction @ np.diag(img.GetSpacing())
    expected[:3, 3] = np.array(img.GetOrigin()) * [-1, -1, 1]
    geom = geometry_of_node(node)
    np.testing.assert_allclose(geom.ijk_to_ras, expected, atol=1e-5)
    assert geom.shape == (12, 17, 23)
    np.testing.assert_allclose(geom.spacing, [0.9, 0.7, 2.2], atol=1e-6)
    import slicer

    np.testing.assert_array_equal(slicer.util.arrayFromVolume(node), sitk.GetArrayFromImage(img))
    assert node.GetName() == "oblique"


def test_write_image_round_trips_geometry_and_voxels(tmp_path):
    geom = geometry_from_sitk(_oblique_image())
    data = np.arange(np.prod(geom.shape), dtype=np.float32).reshape(geom.shape)
    arr, back = read_image(write_image(data, geom, tmp_path / "x.nii.gz"))
    np.testing.assert_allclose(back.ijk_to_ras, geom.ijk_to_ras, atol=1e-5)
    np.testing.assert_array_equal(arr, data)


def test_dicom_series_folder_loads_with_its_geometry(tmp_path):
    img = sitk.Cast(sitk.RescaleIntensity(_oblique_image(), 0, 1000), sitk.sitkInt16)
    img.SetDirection(tuple(np.eye(3).ravel()))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(img.GetDepth()):
        sl = img[:, :, k]
        sl.SetMetaData("0020|000e", "1.2.826.0.1.3680043.2.1125.1")
        sl.SetMetaData("0020|0032", "\\".join(str(v) for v in img.TransformIndexToPhysicalPoint((0, 0, k))))
        sl.SetMetaData("0020|0037", "1\\0\\0\\0\\1\\0")
        sl.SetMetaData("0020|0013", str(k))
        sl.SetMetaData("0028|0030", "0.7\\0.9")  # row spacing (y) \\ column spacing (x)
        writer.SetFileName(str(tmp_path / f"slice{k:03d}.dcm"))
        writer.Execute(sl)
    node = load_volume(headless_context(), tmp_path)
    geom = geometry_of_node(node)
    assert geom.shape == (12, 17, 23)
    np.testing.assert_allclose(geom.spacing, [0.9, 0.7, 2.2], atol=1e-3)
    np.testing.assert_allclose(geom.ijk_to_ras[:3, 3], np.array(img.GetOrigin()) * [-1, -1, 1], atol=1e-3)


def _write(tmp_path, name, array, **kw):
    if array.ndim == 4 and not kw.get("isVector"):
        img = sitk.JoinSeries([sitk.GetImageFromArray(a) for a in array])  # a true 4D image (t, k, j, i)
    else:
        img = sitk.GetImageFromArray(array, **kw)
    path = tmp_path / name
    sitk.WriteImage(img, str(path))
    return path


@pytest.mark.parametrize(
    "name, make, words",
    [
        ("vec.nrrd", lambda: dict(array=np.ones((4, 5, 6, 3), np.float32), isVector=True), "components per voxel"),
        ("fourd.nii.gz", lambda: dict(array=np.random.rand(2, 4, 5, 6).astype(np.float32)), "4D"),
        ("nan.nrrd", lambda: dict(array=np.full((4, 5, 6), np.nan, np.float32)), "NaN"),
        ("inf.nrrd", lambda: dict(array=np.where(np.eye(6)[None, :5, :6] > 0, np.inf, 1.0).repeat(4, 0).astype(np.float32)),
         "NaN or infinite"),
        ("blank.nii.gz", lambda: dict(array=np.zeros((4, 5, 6), np.float32)), "blank"),
    ],
)
def test_bad_volume_is_rejected_with_file_name_and_fix(tmp_path, name, make, words):
    path = _write(tmp_path, name, **make())
    with pytest.raises(VolumeInputError) as err:
        load_volume(headless_context(), path)
    msg = str(err.value)
    assert name in msg and words in msg


def test_missing_and_unsupported_files_are_named(tmp_path):
    with pytest.raises(VolumeInputError, match="not found"):
        load_volume(headless_context(), tmp_path / "nope.nii.gz")
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    with pytest.raises(VolumeInputError, match=r"notes\.txt.*unsupported file type"):
        load_volume(headless_context(), txt)


def test_geometry_point_transforms_are_inverse():
    geom = geometry_from_sitk(_oblique_image())
    ijk = np.array([[1.5, 2.0, 3.25], [10, 0, 7]])
    np.testing.assert_allclose(geom.ras_to_ijk_points(geom.ijk_to_ras_points(ijk)), ijk, atol=1e-9)
    assert isinstance(geom, Geometry) and geom.voxel_volume == pytest.approx(0.9 * 0.7 * 2.2)
