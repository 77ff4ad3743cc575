"""``cmbquant export-dicom``: writes the SEG and SR, refuses a case or a source series it cannot cite (one line
naming the fix), writes the SR alone for a case without accepted CMBs, and old case folders still load."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

hd = pytest.importorskip("highdicom")

from dicom_series_fixture import dciodvfy_errors, reviewed_dicom_case, small_phantom, write_swi_series  # noqa: E402
from review_helpers import DarkThresholdSegmenter, write_small_cases  # noqa: E402

from CMBQuantLib.commands.cli import build_parser, main  # noqa: E402
from CMBQuantLib.core.case_folder import CASE_JSON, read_case_json  # noqa: E402
from CMBQuantLib.core.geometry import Geometry  # noqa: E402
from CMBQuantLib.pipeline.process_case import BatchInput, process_case  # noqa: E402
from CMBQuantLib.review.session import ReviewSession  # noqa: E402


def test_export_dicom_command_prints_the_seg_and_sr_it_wrote(tmp_path, capsys):
    _, case = reviewed_dicom_case()
    assert "export-dicom" in build_parser().format_help()
    assert main(["export-dicom", str(case), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / "case01_seg.dcm"), str(tmp_path / "case01_sr.dcm")]
    assert len(hd.seg.segread(printed[0]).get_segment_numbers()) == 5  # the definite CMBs


def test_a_case_not_made_from_dicom_asks_for_the_source_series(tmp_path, capsys):
    (src,) = write_small_cases(tmp_path / "in", ["nifti01.nii.gz"])
    case = process_case(BatchInput("nifti01", src), tmp_path / "cases", DarkThresholdSegmenter())
    assert read_case_json(case).dicom_source == {}
    assert main(["export-dicom", str(case), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "was not made from a DICOM series" in err and "--source" in err and len(err.splitlines()) == 1


def test_a_source_series_on_another_grid_is_refused(tmp_path, capsys):
    _, case = reviewed_dicom_case()
    p = small_phantom()
    shifted = p.geometry.ijk_to_ras.copy()
    shifted[:3, 3] += (0.0, 0.0, 2.0)  # half a slice: the SEG would land beside the CMBs
    write_swi_series(p.image, Geometry(shifted, p.geometry.shape), tmp_path / "other")
    copy = shutil.copytree(case, tmp_path / "case01")
    info = json.loads((copy / CASE_JSON).read_text())
    info["dicom_source"] = {}  # no recorded UIDs: matched by position, then the grid check must stop it
    (copy / CASE_JSON).write_text(json.dumps(info))
    assert main(["export-dicom", str(copy), "--out", str(tmp_path / "out"), "--source", str(tmp_path / "other")]) == 2
    assert "does not match the case grid" in capsys.readouterr().err
    assert main(["export-dicom", str(case), "--out", str(tmp_path / "out"), "--source", str(tmp_path / "other")]) == 2
    assert "does not hold the series this case was made from" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_case_without_accepted_cmbs_gets_an_sr_with_its_counts_only(tmp_path):
    _, case = reviewed_dicom_case()
    copy = shutil.copytree(case, tmp_path / "case01")
    session = ReviewSession.open(copy, "bob", auto_advance=False)
    for rec in session.records():
        if rec.status != "rejected":
            session.decide("rejected", reason="artefact", cmb_id=rec.cmb_id)
    from CMBQuantLib.export.dicom_export import export_dicom

    out = export_dicom(copy, tmp_path / "out")
    assert out.seg is None and out.n_segments == 0 and out.n_pending == 0
    sr = hd.sr.srread(out.sr)
    assert sr.content.get_volumetric_roi_measurement_groups() == []
    (counts,) = sr.content.get_image_measurement_groups()
    got = {m.name.value: m.value for m in counts.get_measurements()}
    assert got["total_definite"] == got["total_possible"] == 0 and got["n_rejected"] == 8
    assert sr.CompletionFlag == "COMPLETE"
    if shutil.which("dciodvfy"):
        assert dciodvfy_errors(out.sr)[0] == []


def test_an_old_case_json_without_dicom_source_still_loads(tmp_path):
    _, case = reviewed_dicom_case()
    data = json.loads((case / CASE_JSON).read_text())
    assert len(data["dicom_source"]["sop_instance_uids"]) == 20
    data.pop("dicom_source")
    (tmp_path / CASE_JSON).write_text(json.dumps(data))
    info = read_case_json(tmp_path)
    assert info.dicom_source == {} and info.case_id == "case01"
    assert np.allclose(info.geometry_obj().ijk_to_ras, small_phantom().geometry.ijk_to_ras)


def test_a_missing_highdicom_install_gets_a_one_line_fix(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "highdicom" else real(name, *a))
    _, case = reviewed_dicom_case()
    assert main(["export-dicom", str(case), "--out", str(tmp_path)]) == 2
    assert "pip install 'cmbquant[dicom]'" in capsys.readouterr().err
