"""``cmbquant batch`` on a BIDS dataset: a ``part-phase`` file beside its ``part-mag`` magnitude reaches the case
folder as ``phase.nii.gz`` on the SWI grid, in this process (``--workers 0``) and on Dask workers alike."""
from __future__ import annotations

import argparse

import numpy as np
import pytest
from dask_batch_helpers import PHANTOM_GEOMETRY, phantom_swi

from CMBQuantLib.commands.subcommands import SUBCOMMANDS
from CMBQuantLib.core.case_folder import PHASE_FILE, case_phase_path, read_case_json
from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.volumes.images import read_image, write_image

# a coarser phase grid over the same field of view (the magnitude spans -24..23, -24..23, -16..15 mm)
PHASE_GEOMETRY = Geometry(np.array([[2.0, 0, 0, -25], [0, 2.0, 0, -25], [0, 0, 2.0, -17], [0, 0, 0, 1]]), (18, 26, 26))


def _phase(geometry: Geometry) -> np.ndarray:
    k, j, i = np.meshgrid(*(np.arange(n) for n in geometry.shape), indexing="ij")
    ras = geometry.ijk_to_ras_points(np.stack([i.ravel(), j.ravel(), k.ravel()], 1))
    return (1000 + 4 * ras[:, 0] - 2 * ras[:, 1] + ras[:, 2]).reshape(geometry.shape).astype(np.float32)


def _bids(root):
    anat = root / "sub-01" / "anat"
    write_image(phantom_swi(1)[0], PHANTOM_GEOMETRY, anat / "sub-01_part-mag_swi.nii.gz")
    write_image(_phase(PHASE_GEOMETRY), PHASE_GEOMETRY, anat / "sub-01_part-phase_swi.nii.gz")
    write_image(phantom_swi(2)[0], PHANTOM_GEOMETRY, root / "sub-02" / "anat" / "sub-02_swi.nii.gz")
    (root / "dataset_description.json").write_text('{"Name": "t", "BIDSVersion": "1.8.0"}')


def _batch(argv, capsys):
    add, run, _ = SUBCOMMANDS["batch"]
    parser = argparse.ArgumentParser()
    add(parser)
    rc = run(parser.parse_args(argv))
    return rc, capsys.readouterr()


def _check(out):
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["sub-01", "sub-02"]  # phase is no case of its own
    arr, geo = read_image(out / "sub-01" / PHASE_FILE)
    assert geo.same_as(PHANTOM_GEOMETRY)
    x, y, z = PHANTOM_GEOMETRY.ijk_to_ras_points([30, 17, 9])[0]
    assert arr[9, 17, 30] == pytest.approx(1000 + 4 * x - 2 * y + z, abs=1e-2)
    assert read_case_json(out / "sub-01").phase["input_file"].endswith("sub-01_part-phase_swi.nii.gz")
    assert case_phase_path(out / "sub-02") is None and read_case_json(out / "sub-02").phase == {}


@pytest.mark.parametrize("workers", [pytest.param("0", id="in-process"),
                                     pytest.param("1", id="dask", marks=pytest.mark.slow)])
def test_bids_part_phase_reaches_the_case_folder(tmp_path, capsys, workers):
    if workers != "0":
        pytest.importorskip("distributed")
    _bids(tmp_path / "bids")
    rc, out = _batch([str(tmp_path / "bids"), "--out", str(tmp_path / "out"), "--workers", workers,
                      "--segmenter", "dask_batch_helpers:create_oracle", "--model", str(tmp_path),
                      "--regions", "none", "--no-copy-image", "--dashboard", "none"], capsys)
    assert rc == 0, out.err
    _check(tmp_path / "out")
