"""The two-stage detector inside ``process_case``: every producer writes p_cmb, source and the filter's decisions
into the case folder; a plain model without a filter runs exactly the one-stage path."""
from __future__ import annotations

import functools
import json

import numpy as np
import pytest

lightgbm = pytest.importorskip("lightgbm")

from review_helpers import OracleGroundTruthSegmenter, phantom  # noqa: E402

from CMBQuantLib.core.counts import case_counts
from CMBQuantLib.core.records import read_records_csv
from CMBQuantLib.detection.cmb_filter import FilterSpec, load_filter, save_filter  # noqa: E402
from CMBQuantLib.detection.features import feature_matrix  # noqa: E402
from CMBQuantLib.detection.two_stage import screen  # noqa: E402
from CMBQuantLib.pipeline.process_case import BatchInput, process_case
from CMBQuantLib.review.session import ReviewSession
from CMBQuantLib.volumes.images import write_image


class NoModelSegmenter:
    """TEST STAND-IN for nnU-Net that finds nothing: every candidate then comes from the dark-spot screen."""

    model_info = {"name": "empty-model"}

    def __init__(self, cmb_filter=None):
        self.cmb_filter = cmb_filter

    def segment(self, image, geometry):
        return np.zeros(image.shape, np.float32)


@functools.lru_cache(maxsize=1)
def _phantom_filter_dir():
    """A filter fitted to this phantom's own screened candidates (an oracle for the plumbing, not a model)."""
    import tempfile
    from pathlib import Path

    ph = phantom()
    scr = screen(ph.image, ph.geometry)
    X = feature_matrix(scr.blobs, scr.context)
    y = np.array([bool((ph.cmb_labels[tuple(b.voxels.T)] > 0).any()) for b in scr.blobs], int)
    booster = lightgbm.train({"objective": "binary", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 2,
                              "scale_pos_weight": 20.0}, lightgbm.Dataset(X, y), num_boost_round=12)
    return save_filter(booster, FilterSpec(name="phantom-oracle", threshold=0.5),
                       Path(tempfile.mkdtemp()) / "cmb_filter")


@pytest.fixture(scope="module")
def two_stage_case(tmp_path_factory):
    ph = phantom()
    root = tmp_path_factory.mktemp("two_stage")
    swi = write_image(ph.image, ph.geometry, root / "in" / "case01.nii.gz")
    seg = NoModelSegmenter(load_filter(_phantom_filter_dir()))
    return ph, process_case(BatchInput("case01", swi), root / "out", seg)


def test_case_folder_records_p_cmb_source_and_filter_decisions(two_stage_case):
    ph, folder = two_stage_case
    records = read_records_csv(folder / "cmbs.csv")
    assert records and all(r.p_cmb is not None and r.source == "dark_spot" for r in records)
    kept = [r for r in records if r.status == "pending"]
    rejected = [r for r in records if r.status == "rejected"]
    assert all(r.p_cmb >= 0.5 for r in kept) and all(r.p_cmb < 0.5 for r in rejected)
    assert all(r.reason == "filter" and r.decided_by == "cmbquant" for r in rejected)
    assert [r.cmb_id for r in records] == sorted(r.cmb_id for r in records)
    assert records[0].p_cmb == max(r.p_cmb for r in records)  # CMB 001 is the most likely
    truth = {c.cmb_id for c in ph.cmbs}
    hit = set()
    for r in kept:
        kji = np.rint([r.k, r.j, r.i]).astype(int)
        hit.add(int(ph.cmb_labels[tuple(kji)]))
    assert len(hit & truth) >= len(truth) - 1  # the oracle filter keeps (almost) every true CMB


def test_case_json_records_the_filter_and_the_screen(two_stage_case):
    _, folder = two_stage_case
    info = json.loads((folder / "case.json").read_text(encoding="utf-8"))
    det = info["detection"]
    assert det["two_stage"] is True and det["filter"]["name"] == "phantom-oracle"
    assert det["filter"]["threshold"] == 0.5 and len(det["filter"]["sha256"]) == 64
    assert det["n_candidates"] == det["n_kept"] + det["n_filter_rejected"]
    assert det["n_blobs"] >= det["n_candidates"]


def test_filter_rejected_candidate_is_hidden_restorable_and_counted(two_stage_case, tmp_path):
    import shutil

    _, src = two_stage_case
    folder = tmp_path / "case01"
    shutil.copytree(src, folder)
    session = ReviewSession.open(folder, reviewer="dr_a")
    rejected = [r for r in session.records() if r.reason == "filter"]
    assert rejected and all(r.cmb_id not in session.queue for r in rejected)
    before = case_counts(session.records())["total_definite"]
    rec = session.decide("definite", cmb_id=rejected[0].cmb_id)
    assert rec.status == "definite" and rec.decided_by == ""
    after = json.loads((folder / "counts.json").read_text(encoding="utf-8"))
    assert after["counts"]["total_definite"] == before + 1


def test_model_without_filter_runs_the_one_stage_path(tmp_path):
    ph = phantom()
    swi = write_image(ph.image, ph.geometry, tmp_path / "in" / "case01.nii.gz")
    folder = process_case(BatchInput("case01", swi), tmp_path / "out", OracleGroundTruthSegmenter(ph.cmb_labels))
    records = read_records_csv(folder / "cmbs.csv")
    assert len(records) == len(ph.cmbs)
    assert all(r.p_cmb is None and r.status == "pending" for r in records)
    info = json.loads((folder / "case.json").read_text(encoding="utf-8"))
    assert info["detection"]["two_stage"] is False


def test_review_list_hides_filter_rejections_unless_asked(two_stage_case, capsys):
    from CMBQuantLib.commands.cli import main

    _, folder = two_stage_case
    assert main(["review", str(folder), "--list", "--json"]) == 0
    default = json.loads(capsys.readouterr().out)
    assert main(["review", str(folder), "--list", "--json", "--show-filtered"]) == 0
    everything = json.loads(capsys.readouterr().out)
    records = read_records_csv(folder / "cmbs.csv")
    assert len(default) == sum(r.reason != "filter" for r in records)
    assert len(everything) == len(records) > len(default)
    assert all(row["p_cmb"] is not None for row in everything)
