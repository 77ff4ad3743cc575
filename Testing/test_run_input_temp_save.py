"""A Slicer run's input on real slicer-core MRML: the volume's own file when it has one, else a temporary NIfTI."""
import numpy as np
import pytest

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.core.scene import headless_context
from CMBQuantLib.pipeline.run_input import INPUT_FILE, prepare_run_input
from CMBQuantLib.volumes.images import load_volume, read_image, volume_node_from_array, write_image

GEOMETRY = Geometry(np.array([[-0.5, 0, 0, 10.0], [0, -0.5, 0, 20.0], [0, 0, 2.0, -30.0], [0, 0, 0, 1]]), (6, 8, 10))


def swi():
    return np.arange(6 * 8 * 10, dtype=np.float32).reshape(6, 8, 10)


def test_a_volume_loaded_from_disk_runs_from_that_file_unchanged(tmp_path):
    ctx = headless_context()
    src = write_image(swi(), GEOMETRY, tmp_path / "in" / "sub-01_swi.nii.gz")
    node = load_volume(ctx, src)
    saved = []
    run = prepare_run_input(node, tmp_path / "temp", save=lambda n, p: saved.append(p) or True)
    assert run.image == src and not run.saved and saved == []
    assert run.out_dir == tmp_path / "temp" / "sub-01_swi"


def test_a_volume_without_a_file_is_saved_as_nifti_with_its_voxels_and_geometry(tmp_path):
    ctx = headless_context()
    node = volume_node_from_array(ctx, swi(), GEOMETRY, "made in Slicer")
    run = prepare_run_input(node, tmp_path / "temp")
    assert run.saved and run.image == tmp_path / "temp" / "made in Slicer" / INPUT_FILE
    array, geometry = read_image(run.image)
    np.testing.assert_array_equal(array, swi())
    np.testing.assert_allclose(geometry.ijk_to_ras, GEOMETRY.ijk_to_ras, atol=1e-5)


def test_a_volume_whose_file_is_gone_is_saved_again(tmp_path):
    ctx = headless_context()
    src = write_image(swi(), GEOMETRY, tmp_path / "in" / "moved.nii.gz")
    node = load_volume(ctx, src)
    src.unlink()
    run = prepare_run_input(node, tmp_path / "temp")
    assert run.saved and run.image.is_file()
    np.testing.assert_array_equal(read_image(run.image)[0], swi())


def test_a_failed_save_is_an_error_naming_the_file(tmp_path):
    node = volume_node_from_array(headless_context(), swi(), GEOMETRY, "v")
    with pytest.raises(OSError, match=INPUT_FILE):
        prepare_run_input(node, tmp_path / "temp", save=lambda n, p: False)
