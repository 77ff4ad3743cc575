"""The ``cmbquant regions`` hooks: arguments, outputs written beside cmbs.csv, clear errors."""
import argparse
import json

import numpy as np

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.core.records import CMBRecord, read_records_csv, write_records_csv
from CMBQuantLib.pipeline.region_update import add_arguments, run
from CMBQuantLib.volumes.images import write_image


def _parser():
    p = argparse.ArgumentParser(prog="cmbquant regions")
    add_arguments(p)
    return p


def _case(tmp_path):
    geom = Geometry(np.diag([1.0, 1.0, 1.0, 1.0]), (60, 60, 60))
    lab = np.zeros(geom.shape, np.int16)
    lab[15:45, 15:45, 15:30] = 1028
    lab[15:45, 15:45, 30:45] = 2029
    swi = np.random.default_rng(0).random(geom.shape).astype(np.float32)
    write_image(swi, geom, tmp_path / "swi.nii.gz")
    write_image(lab, geom, tmp_path / "seg.nii.gz")
    recs = [CMBRecord(cmb_id=1, status="definite", r=20, a=30, s=30), CMBRecord(cmb_id=2, status="possible", r=40, a=30, s=30),
            CMBRecord(cmb_id=3, status="definite", r=5, a=5, s=5), CMBRecord(cmb_id=4, status="rejected", r=20, a=30, s=30)]
    write_records_csv(recs, tmp_path / "cmbs.csv")
    return tmp_path


def test_run_with_parcellation(tmp_path, capsys):
    case = _case(tmp_path)
    args = _parser().parse_args([str(case / "swi.nii.gz"), str(case / "cmbs.csv"), "--parcellation",
                                 str(case / "seg.nii.gz")])
    assert args.atlas_source == "auto" and args.juxtacortical_mm == 3.0 and args.snap_mm == 3.0
    assert run(args) == 0
    out = read_records_csv(case / "cmbs.csv")
    assert [(r.region, r.lobe, r.side) for r in out] == [("lobar", "frontal", "L"), ("lobar", "parietal", "R"),
                                                        ("unassigned", "", ""), ("lobar", "frontal", "L")]
    counts = json.loads((case / "counts.json").read_text())["counts"]
    assert counts["frontal_definite"] == 1 and counts["parietal_possible"] == 1
    assert counts["unassigned_definite"] == 1 and counts["n_rejected"] == 1 and counts["total_definite"] == 2
    assert "4 CMBs assigned (1 unassigned)" in capsys.readouterr().out


def test_run_without_atlas_explains_how_to_get_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CMBQUANT_HOME", str(tmp_path / "empty"))
    case = _case(tmp_path)
    before = (case / "cmbs.csv").read_text()
    assert run(_parser().parse_args([str(case / "swi.nii.gz"), str(case / "cmbs.csv"), "--atlas-source", "mars"])) == 1
    err = capsys.readouterr().err
    assert "--download-atlas" in err and "--atlas PATH" in err
    assert (case / "cmbs.csv").read_text() == before and not (case / "counts.json").exists()
