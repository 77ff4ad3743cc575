"""Provenance: a real process_case run writes the model version and the CMB filter version into case.json (the
store's version name when the model has a version record, else name@checkpoint-sha256 prefix; the filter as
name@model.txt sha256 prefix), the cohort table carries both, and an older case.json without them still reads."""
from __future__ import annotations

import csv
import json

import pytest
from review_helpers import SMALL_GEOMETRY, small_swi

from CMBQuantLib.core.case_folder import CASE_JSON, read_case_json
from CMBQuantLib.detection.nnunet.model_versions import record_version
from CMBQuantLib.export.cohort import COHORT_COLUMNS, write_cohort
from CMBQuantLib.pipeline.process_case import BatchInput, process_case
from CMBQuantLib.volumes.images import write_image


class _Segmenter:
    """An empty probability map from a named model (and, when given, a CMB filter: the two-stage path)."""

    def __init__(self, model_info: dict, cmb_filter=None):
        self.model_info, self.cmb_filter = model_info, cmb_filter

    def segment(self, image, geometry):
        return (image < 0.3).astype("float32")


def _input(tmp_path, name="c1"):
    img, _ = small_swi(1)
    return BatchInput(name, write_image(img, SMALL_GEOMETRY, tmp_path / "in" / f"{name}.nii.gz"))


def test_a_run_records_model_name_with_checkpoint_sha_and_the_filter_version(tmp_path, shipped_filter):
    seg = _Segmenter({"name": "dark-threshold-test", "sha256": "ab" * 32}, shipped_filter)
    folder = process_case(_input(tmp_path), tmp_path / "out", seg)
    info = read_case_json(folder)
    assert info.model_version == "dark-threshold-test@abababababab"
    assert info.filter_version == f"CMBQuantDemoFilter@{shipped_filter.spec.model_sha256[:12]}"
    assert len(shipped_filter.spec.model_sha256) == 64
    assert info.detection["two_stage"] is True


def test_a_model_with_a_store_version_record_is_named_by_that_version(tmp_path):
    entry = tmp_path / "home" / "models" / "SiteV2"
    trainer = entry / "Dataset501_CMBQuantDemo" / "nnUNetTrainer__nnUNetPlans__3d_fullres"
    trainer.mkdir(parents=True)
    record_version(entry, "SiteV2", "CMBQuantDemo", ["c9"], {}, kind="nnunet")
    seg = _Segmenter({"name": "SiteV2", "folder": str(trainer), "sha256": "cd" * 32})
    folder = process_case(_input(tmp_path, "c2"), tmp_path / "out", seg)
    info = read_case_json(folder)
    assert (info.model_version, info.filter_version) == ("SiteV2", "")


def test_the_cohort_table_carries_both_versions_and_old_case_json_reads(tmp_path, shipped_filter):
    a = process_case(_input(tmp_path, "c1"), tmp_path / "out",
                     _Segmenter({"name": "m", "sha256": "11" * 32}, shipped_filter))
    b = process_case(_input(tmp_path, "c2"), tmp_path / "out", _Segmenter({"name": "m", "sha256": "22" * 32}))
    cohort = write_cohort([a, b], tmp_path / "cohort.csv")
    with open(cohort, newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    assert reader.fieldnames == COHORT_COLUMNS and COHORT_COLUMNS[-2:] == ["model_version", "filter_version"]
    sha = shipped_filter.spec.model_sha256[:12]
    assert [(r["case_id"], r["model_version"], r["filter_version"]) for r in rows] == [
        ("c1", "m@111111111111", f"CMBQuantDemoFilter@{sha}"), ("c2", "m@222222222222", "")]
    raw = json.loads((b / CASE_JSON).read_text())
    del raw["model_version"], raw["filter_version"]  # a case folder written before provenance existed
    (b / CASE_JSON).write_text(json.dumps(raw))
    assert (read_case_json(b).model_version, read_case_json(b).filter_version) == ("", "")
