"""The case folder: case.json round trip, clear errors for missing/corrupt/newer files, opening into a scene."""
from __future__ import annotations

import json

import numpy as np
import pytest
from review_helpers import SMALL_GEOMETRY, fresh_case, phantom

from CMBQuantLib.core.atomic import sha256_file
from CMBQuantLib.core.case_folder import (
    SCHEMA_VERSION,
    CaseFolderError,
    new_case_info,
    read_case_json,
    read_cmbs_csv,
    write_case_json,
)
from CMBQuantLib.volumes.case_open import open_case


def test_case_json_round_trips_geometry_model_and_input_hash(tmp_path):
    src = tmp_path / "swi.nii.gz"
    src.write_bytes(b"not really an image, only hashed")
    info = new_case_info("sub-01", src, SMALL_GEOMETRY, model={"name": "m", "device": "cpu", "step_size": 0.5})
    write_case_json(tmp_path / "case", info)
    back = read_case_json(tmp_path / "case")
    assert back.schema_version == SCHEMA_VERSION and back.case_id == "sub-01"
    assert back.input_sha256 == sha256_file(src) and len(back.input_sha256) == 64
    assert back.model["step_size"] == 0.5
    assert back.geometry_obj().same_as(SMALL_GEOMETRY)
    assert not list((tmp_path / "case").glob(".*tmp"))  # atomic write left no temp file


@pytest.mark.parametrize("content, message", [
    (None, r"case\.json: not found\. This folder is not a CMBQuant case"),
    ("{ half", r"case\.json: corrupt .*Restore it from a backup, or re-run the case"),
    (json.dumps({"schema_version": 99, "case_id": "x"}), r"newer CMBQuant \(case schema 99.*Update CMBQuant"),
    (json.dumps({"case_id": "x"}), r"no integer schema_version"),
])
def test_bad_case_json_is_a_clear_error_naming_the_file_and_fix(tmp_path, content, message):
    if content is not None:
        (tmp_path / "case.json").write_text(content)
    with pytest.raises(CaseFolderError, match=message) as err:
        read_case_json(tmp_path)
    assert str(tmp_path / "case.json") in str(err.value)


def test_missing_table_and_segmentation_name_the_file(tmp_path):
    case = fresh_case(tmp_path)
    (case / "cmbs.csv").unlink()
    with pytest.raises(CaseFolderError, match=r"cmbs\.csv: not found"):
        read_cmbs_csv(case)
    (case / "cmbs.seg.nrrd").unlink()
    with pytest.raises(CaseFolderError, match=r"cmbs\.seg\.nrrd: not found\. Re-run the case"):
        open_case(case)


def test_open_case_loads_the_swi_and_one_segment_per_cmb(tmp_path):
    case = fresh_case(tmp_path)
    opened = open_case(case)
    assert opened.geometry.same_as(phantom().geometry)
    assert np.allclose(opened.image, phantom().image, atol=1e-6)
    assert opened.seg_node.GetSegmentation().GetNumberOfSegments() == len(phantom().cmbs)
    assert opened.info.status == "complete" and opened.info.model["name"] == "oracle-ground-truth"
    # without its image a case still opens for exports (blank stand-in), but not for review growing
    (case / "image.nii.gz").unlink()
    info = read_case_json(case)
    info.input_file = str(tmp_path / "gone.nii.gz")
    write_case_json(case, info)
    with pytest.raises(CaseFolderError, match=r"image\.nii\.gz: not found.*Copy the SWI into the case folder"):
        open_case(case)
    blank = open_case(case, require_image=False)
    assert blank.image is None and blank.geometry.same_as(phantom().geometry)
