"""Phase ingestion: ``--phase`` and a BIDS ``part-phase`` file end up in the case folder as ``phase.nii.gz`` on the
SWI grid (real resampling, values checked at known positions), listed in ``case.json``; bad phase input fails
before the detector runs, naming the file and the fix; a case without phase is as before."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import SimpleITK as sitk
from review_helpers import SMALL_GEOMETRY, DarkThresholdSegmenter, small_swi

from CMBQuantLib.commands.cli import main as cli_main
from CMBQuantLib.core.case_folder import (
    CASE_JSON,
    PHASE_FILE,
    case_phase_path,
    read_case_json,
)
from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.pipeline.batch import discover_inputs
from CMBQuantLib.pipeline.phase_input import check_phase_option, phase_for_case
from CMBQuantLib.pipeline.process_case import BatchInput, process_case
from CMBQuantLib.pipeline.run_options import RunOptions, add_arguments, options_from_args
from CMBQuantLib.pipeline.worker import worker_command
from CMBQuantLib.volumes.images import VolumeInputError, read_image, write_image
from CMBQuantLib.volumes.phase_image import read_phase_on_grid


def _linear_phase_field(geometry: Geometry) -> np.ndarray:
    """A phase in scanner units that is linear in RAS (so trilinear resampling must reproduce it exactly)."""
    k, j, i = np.meshgrid(*(np.arange(n) for n in geometry.shape), indexing="ij")
    ras = geometry.ijk_to_ras_points(np.stack([i.ravel(), j.ravel(), k.ravel()], 1))
    return (100 + 10 * ras[:, 0] + 3 * ras[:, 1] - 7 * ras[:, 2]).reshape(geometry.shape).astype(np.float32)


def _field_at(ras):
    return 100 + 10 * ras[0] + 3 * ras[1] - 7 * ras[2]


# a coarser, shifted grid that covers the SWI's field of view (SWI spans x,y -20..19 mm, z -10..12 mm)
COARSE = Geometry(np.array([[2.0, 0, 0, -23.0], [0, 1.5, 0, -22.5], [0, 0, 3.0, -13.0], [0, 0, 0, 1]]), (10, 32, 24))


def test_phase_on_another_grid_is_resampled_to_the_swi_voxels(tmp_path):
    src = write_image(_linear_phase_field(COARSE), COARSE, tmp_path / "phase.nii.gz")
    result = read_phase_on_grid(src, SMALL_GEOMETRY)
    assert result.resampled and result.array.shape == SMALL_GEOMETRY.shape and result.coverage == 1.0
    for k, j, i in [(0, 0, 0), (5, 17, 31), (11, 39, 39), (6, 20, 3)]:
        ras = SMALL_GEOMETRY.ijk_to_ras_points([i, j, k])[0]
        assert result.array[k, j, i] == pytest.approx(_field_at(ras), abs=1e-2)


def test_radian_phase_is_interpolated_on_the_unit_circle_so_a_wrap_stays_near_pi(tmp_path):
    geo = Geometry(np.diag([2.0, 2.0, 2.0, 1.0]), (4, 4, 4))
    phase = np.where(np.arange(4)[None, None, :] % 2 == 0, np.pi - 0.1, -np.pi + 0.1).repeat(4, 1).repeat(4, 0)
    src = write_image(phase.astype(np.float32), geo, tmp_path / "phase.nii.gz")
    fine = Geometry(np.diag([1.0, 2.0, 2.0, 1.0]), (4, 4, 7))  # voxel i=1 lies half-way between two phase voxels
    out = read_phase_on_grid(src, fine).array
    assert abs(out[1, 1, 1]) == pytest.approx(np.pi, abs=1e-3)  # a plain average would give 0
    assert out[1, 1, 0] == pytest.approx(np.pi - 0.1, abs=1e-4)


def test_phase_on_the_same_grid_is_copied_voxel_for_voxel(tmp_path):
    img, _ = small_swi(0)
    src = write_image(img * 2 - 1, SMALL_GEOMETRY, tmp_path / "phase.nii.gz")
    result = read_phase_on_grid(src, SMALL_GEOMETRY)
    assert not result.resampled and np.array_equal(result.array, (img * 2 - 1).astype(np.float32))


def test_bad_phase_input_names_the_file_and_the_fix(tmp_path):
    with pytest.raises(VolumeInputError, match=r"missing\.nii\.gz: file not found.*without --phase"):
        read_phase_on_grid(tmp_path / "missing.nii.gz", SMALL_GEOMETRY)
    far = Geometry(COARSE.ijk_to_ras.copy(), COARSE.shape)
    far.ijk_to_ras[:3, 3] += 500.0
    src = write_image(_linear_phase_field(far), far, tmp_path / "far_phase.nii.gz")
    with pytest.raises(VolumeInputError, match=r"far_phase\.nii\.gz: covers only 0% of the SWI's field of view"):
        read_phase_on_grid(src, SMALL_GEOMETRY)
    four = sitk.JoinSeries([sitk.GetImageFromArray(np.random.rand(4, 5, 6).astype(np.float32))] * 2)
    sitk.WriteImage(four, str(tmp_path / "echoes_phase.nii.gz"))
    with pytest.raises(VolumeInputError, match=r"echoes_phase\.nii\.gz: is 4D \(2 volumes.*--phase"):
        read_phase_on_grid(tmp_path / "echoes_phase.nii.gz", SMALL_GEOMETRY)


def test_case_with_phase_holds_phase_on_the_swi_grid_listed_in_case_json(tmp_path):
    img, _ = small_swi(1)
    swi = write_image(img, SMALL_GEOMETRY, tmp_path / "in" / "c1.nii.gz")
    phase = write_image(_linear_phase_field(COARSE), COARSE, tmp_path / "in" / "c1_phase.nii.gz")
    folder = process_case(BatchInput("c1", swi, phase=phase), tmp_path / "cases", DarkThresholdSegmenter())
    assert case_phase_path(folder) == folder / PHASE_FILE
    arr, geo = read_image(folder / PHASE_FILE)
    assert geo.same_as(SMALL_GEOMETRY)
    ras = SMALL_GEOMETRY.ijk_to_ras_points([31, 17, 5])[0]
    assert arr[5, 17, 31] == pytest.approx(_field_at(ras), abs=1e-2)
    info = read_case_json(folder)
    assert info.phase["file"] == PHASE_FILE and info.phase["resampled"] is True
    assert info.phase["input_file"] == str(phase.resolve()) and len(info.phase["input_sha256"]) == 64


def test_bad_phase_fails_the_case_before_the_detector_runs(tmp_path):
    img, _ = small_swi(1)
    swi = write_image(img, SMALL_GEOMETRY, tmp_path / "c1.nii.gz")
    seg = DarkThresholdSegmenter()
    with pytest.raises(VolumeInputError, match=r"nope\.nii\.gz: file not found"):
        process_case(BatchInput("c1", swi, phase=tmp_path / "nope.nii.gz"), tmp_path / "cases", seg)
    assert seg.calls == 0 and not (tmp_path / "cases" / "c1").exists()


def test_case_without_phase_has_no_phase_file_and_old_case_json_still_reads(tmp_path):
    img, _ = small_swi(2)
    swi = write_image(img, SMALL_GEOMETRY, tmp_path / "c2.nii.gz")
    folder = process_case(BatchInput("c2", swi), tmp_path / "cases", DarkThresholdSegmenter())
    assert case_phase_path(folder) is None and read_case_json(folder).phase == {}
    data = json.loads((folder / CASE_JSON).read_text())
    del data["phase"]  # a case.json written before the phase field existed
    (folder / CASE_JSON).write_text(json.dumps(data))
    assert read_case_json(folder).phase == {} and read_case_json(folder).case_id == "c2"


def test_bids_part_phase_beside_part_mag_rides_with_its_magnitude(tmp_path):
    img, _ = small_swi(3)
    anat = tmp_path / "bids" / "sub-01" / "ses-2" / "anat"
    mag = write_image(img, SMALL_GEOMETRY, anat / "sub-01_ses-2_part-mag_swi.nii.gz")
    ph = write_image(_linear_phase_field(COARSE), COARSE, anat / "sub-01_ses-2_part-phase_swi.nii.gz")
    plain = write_image(img, SMALL_GEOMETRY, tmp_path / "bids" / "sub-02" / "anat" / "sub-02_swi.nii.gz")
    inputs = discover_inputs(tmp_path / "bids")
    assert [(x.case_id, x.path, x.phase) for x in inputs] == [("sub-01_ses-2", mag, ph), ("sub-02", plain, None)]


def test_phase_option_reaches_the_worker_and_is_checked_up_front(tmp_path):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    opts = options_from_args(parser.parse_args(["a.nii.gz", "--out", "o", "--phase", "p.nii.gz"]))
    assert opts.phase == "p.nii.gz"
    cmd = worker_command(["a.nii.gz"], "o", "r.json", RunOptions(phase="p.nii.gz"))
    assert cmd[cmd.index("--phase") + 1] == "p.nii.gz"
    with pytest.raises(VolumeInputError, match=r"p\.nii\.gz: phase image not found \(--phase\)"):
        check_phase_option(str(tmp_path / "p.nii.gz"), [tmp_path / "a.nii.gz"])
    one = write_image(np.random.rand(3, 4, 5).astype(np.float32), SMALL_GEOMETRY, tmp_path / "ph" / "c1_ph.nii.gz")
    with pytest.raises(VolumeInputError, match=r"one phase file \(--phase\) for 2 inputs"):
        check_phase_option(str(one), [tmp_path / "a.nii.gz", tmp_path / "b.nii.gz"])
    assert phase_for_case(str(tmp_path / "ph"), "c1") == one
    with pytest.raises(VolumeInputError, match=r"no phase image named c9\*"):
        phase_for_case(str(tmp_path / "ph"), "c9")


def test_cmbquant_run_refuses_a_missing_phase_before_loading_the_model(tmp_path, capsys):
    img, _ = small_swi(4)
    swi = write_image(img, SMALL_GEOMETRY, tmp_path / "c4.nii.gz")
    code = cli_main(["run", str(swi), "--out", str(tmp_path / "out"), "--phase", str(tmp_path / "nope.nii.gz")])
    err = capsys.readouterr().err
    assert code == 2 and "nope.nii.gz: phase image not found (--phase)" in err
    assert "loading model" not in err and not (tmp_path / "out" / "c4").exists()
