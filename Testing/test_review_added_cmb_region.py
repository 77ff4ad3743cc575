"""A CMB added in review gets its region at once, by the path the case used (here: the subject's parcellation),
so the regional counts include it; a case made without regions adds it without one, as before."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from review_helpers import OracleGroundTruthSegmenter, phantom

from CMBQuantLib.commands.cli import main
from CMBQuantLib.core.case_folder import read_case_json, write_case_json
from CMBQuantLib.core.counts import count_keys
from CMBQuantLib.phantoms.anatomy import builtin_head
from CMBQuantLib.pipeline.process_case import BatchInput, process_case
from CMBQuantLib.regions.assign import region_assigner
from CMBQuantLib.review.controller import ReviewController
from CMBQuantLib.review.replay import effective_records
from CMBQuantLib.volumes.images import write_image

pytestmark = pytest.mark.slow  # builds a phantom case with a parcellation region map (~1 min on 2 cores)

EXPECTED = {"lobar": "lobar", "juxtacortical": "lobar", "deep": "deep", "infratentorial": "infratentorial"}


def _build(root, with_regions: bool):
    """A phantom case whose detector missed one deep and one lobar CMB; regions from the phantom's own anatomy."""
    ph = phantom()
    missed = {p: next(c for c in ph.cmbs if EXPECTED[c.placement] == p) for p in ("deep", "lobar")}
    src = write_image(ph.image, ph.geometry, root / "in" / "case01.nii.gz")
    labels, geom = builtin_head(0)
    anat = write_image(labels, geom, root / "in" / "case01_aseg.nii.gz")
    regions = region_assigner(on_failure="unassigned") if with_regions else None
    drop = tuple(c.cmb_id for c in missed.values())
    folder = process_case(BatchInput("case01", src, parcellation=anat), root / "cases",
                          OracleGroundTruthSegmenter(ph.cmb_labels, drop=drop), regions=regions)
    return folder, missed


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("added-region"), with_regions=True)


def _case_missing(tmp_path, placement: str, built):
    folder, missed = built
    dest = tmp_path / "case01"
    shutil.copytree(folder, dest)
    return dest, missed[placement]


def _counts(folder):
    return json.loads((folder / "counts.json").read_text())["counts"]


def test_cmb_added_through_the_controller_takes_the_parcellation_region_and_is_counted(tmp_path, built):
    folder, missed = _case_missing(tmp_path, "deep", built)
    info = read_case_json(folder)
    assert info.region_source == "parcellation:case01_aseg.nii.gz" and info.parcellation_file.endswith("aseg.nii.gz")
    before = _counts(folder)
    controller = ReviewController(folder, "ana")
    controller.open_case("case01")
    outcome = controller.add_at(np.array([missed.r, missed.a, missed.s]))
    assert outcome.handled, outcome.message
    added = controller.current()
    assert added.flags == ["added_by_reader"] and added.status == "definite"
    assert added.region == EXPECTED[missed.placement] == "deep"
    assert added.region_source == "parcellation:case01_aseg.nii.gz" and added.side == ("L" if missed.r < 0 else "R")
    on_disk = {r.cmb_id: r for r in effective_records(folder)}[added.cmb_id]
    assert on_disk.region == "deep"
    after = _counts(folder)
    for key in count_keys(added):  # total and deep each grew by this one definite CMB
        assert after[f"{key}_definite"] == before.get(f"{key}_definite", 0) + 1, key


def test_lobar_cmb_added_gets_its_lobe_and_the_lobar_count(tmp_path, built):
    folder, missed = _case_missing(tmp_path, "lobar", built)
    controller = ReviewController(folder, "bo")
    controller.open_case("case01")
    assert controller.add_at(np.array([missed.r, missed.a, missed.s]))
    added = controller.current()
    assert added.region == "lobar" and added.lobe
    keys = count_keys(added)
    assert len(keys) == 3 and _counts(folder)[f"{keys[2]}_definite"] >= 1


def test_cmb_added_without_regions_has_none_until_regions_are_assigned_then_follows_their_path(tmp_path):
    folder, missed_all = _build(tmp_path, with_regions=False)
    missed = missed_all["deep"]
    controller = ReviewController(folder, "cy")
    controller.open_case("case01")
    assert controller.add_at(np.array([missed.r, missed.a, missed.s]))
    first = controller.current()
    assert first.region == "" and first.region_source == ""
    controller.close_case()
    # regions assigned afterwards with the subject's parcellation: the case now names that path, later adds follow it
    anat = folder.parent.parent / "in" / "case01_aseg.nii.gz"
    assert main(["regions", str(folder / "image.nii.gz"), str(folder / "cmbs.csv"), "--parcellation", str(anat)]) == 0
    assert read_case_json(folder).parcellation_file == str(anat.resolve())
    lobar = missed_all["lobar"]
    again = ReviewController(folder, "cy")
    again.open_case("case01")
    assert again.add_at(np.array([lobar.r, lobar.a, lobar.s]))
    assert again.current().region == "lobar"
    assert {r.cmb_id: r.region for r in effective_records(folder)}[first.cmb_id] == "deep"


def test_a_region_path_that_cannot_be_followed_leaves_the_added_cmb_unassigned_with_the_reason(tmp_path, built):
    folder, missed = _case_missing(tmp_path, "deep", built)
    info = read_case_json(folder)
    info.parcellation_file = str(tmp_path / "gone" / "case01_aseg.nii.gz")  # the label map is no longer there
    write_case_json(folder, info)
    controller = ReviewController(folder, "dee")
    controller.open_case("case01")
    assert controller.add_at(np.array([missed.r, missed.a, missed.s]))
    added = controller.current()
    assert added.region == "unassigned" and "case01_aseg.nii.gz is not at hand" in added.region_source
    assert "cmbquant regions" in added.region_source  # the fix, in the record the reader sees
    assert _counts(folder)["unassigned_definite"] == 1  # counted, never silently dropped
    failed = "template registration failed: only 89% of the warped template brain lies on the SWI's head"
    info.region_source, info.parcellation_file = failed, ""  # a case whose own registration failed QC
    write_case_json(folder, info)
    again = ReviewController(folder, "dee")
    again.open_case("case01")
    lobar = built[1]["lobar"]
    assert again.add_at(np.array([lobar.r, lobar.a, lobar.s]))
    assert again.current().region == "unassigned" and failed in again.current().region_source
