"""The region step in the case folder: QC into case.json, the overlay PNG, parcellations found in BIDS derivatives."""
from dataclasses import replace

import numpy as np
from review_helpers import SMALL_GEOMETRY, DarkThresholdSegmenter, small_swi

from CMBQuantLib.core.case_folder import read_case_json, read_cmbs_csv
from CMBQuantLib.pipeline.batch import discover_inputs, find_parcellation, run_batch
from CMBQuantLib.regions.assign import RegionOutcome, region_assigner, with_parcellation
from CMBQuantLib.regions.overlay import OVERLAY_FILE
from CMBQuantLib.volumes.images import write_image


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_find_parcellation_matches_subject_and_session_and_prefers_swi_then_aparc(tmp_path):
    swi = _touch(tmp_path / "sub-01" / "ses-2" / "anat" / "sub-01_ses-2_swi.nii.gz")
    d = tmp_path / "derivatives"
    _touch(d / "synthseg" / "sub-01" / "ses-1" / "anat" / "sub-01_ses-1_dseg.nii.gz")  # other session
    _touch(d / "synthseg" / "sub-02" / "ses-2" / "anat" / "sub-02_ses-2_dseg.nii.gz")  # other subject
    assert find_parcellation(tmp_path, swi) is None
    plain = _touch(d / "fastsurfer" / "sub-01" / "ses-2" / "anat" / "sub-01_ses-2_desc-aseg_dseg.nii.gz")
    assert find_parcellation(tmp_path, swi) == plain
    aparc = _touch(d / "freesurfer" / "sub-01" / "ses-2" / "anat" / "sub-01_ses-2_aparc+aseg.nii.gz")
    assert find_parcellation(tmp_path, swi) == aparc
    on_swi = _touch(d / "synthseg" / "sub-01" / "ses-2" / "anat" / "sub-01_ses-2_acq-swi_dseg.nii.gz")
    assert find_parcellation(tmp_path, swi) == on_swi
    other = _touch(tmp_path / "sub-03" / "anat" / "sub-03_swi.nii.gz")
    sessionless = _touch(d / "synthseg" / "sub-03" / "anat" / "sub-03_dseg.nii.gz")
    assert find_parcellation(tmp_path, other) == sessionless
    assert find_parcellation(tmp_path, _touch(tmp_path / "x" / "scan_swi.nii.gz")) is None  # no BIDS entities


def test_with_parcellation_swaps_the_template_for_the_subject_map_only_when_it_can():
    assigner = region_assigner(atlas="syn", on_failure="unassigned")
    assert with_parcellation(assigner, None) is assigner
    swapped = with_parcellation(assigner, "sub-01_dseg.nii.gz")
    assert swapped.parcellation_path == "sub-01_dseg.nii.gz" and swapped.on_failure == "unassigned"
    own = replace(assigner, parcellation_path="mine.nii.gz")
    assert with_parcellation(own, "sub-01_dseg.nii.gz") is own  # an explicit --parcellation wins

    def plugin(records, image, geometry):
        return records

    assert with_parcellation(plugin, "sub-01_dseg.nii.gz") is plugin


def test_batch_uses_a_bids_derivative_parcellation_and_records_each_region_step_in_case_json(tmp_path):
    bids = tmp_path / "bids"
    (bids).mkdir()
    (bids / "dataset_description.json").write_text('{"Name": "t", "BIDSVersion": "1.8.0"}')
    for sub in ("01", "02"):
        img, _ = small_swi(int(sub), n_blobs=2)
        write_image(img, SMALL_GEOMETRY, bids / f"sub-{sub}" / "anat" / f"sub-{sub}_swi.nii.gz")
    labels = np.zeros(SMALL_GEOMETRY.shape, np.int16)
    labels[:, 2:38, 2:38] = 1028  # left superior frontal cortex under every blob
    dseg = write_image(labels, SMALL_GEOMETRY, bids / "derivatives" / "synthseg" / "sub-01" / "anat" /
                       "sub-01_dseg.nii.gz")
    inputs = discover_inputs(bids)
    assert [(x.case_id, x.parcellation) for x in inputs] == [("sub-01", dseg), ("sub-02", None)]
    report = run_batch(bids, tmp_path / "out", DarkThresholdSegmenter(),
                       regions=region_assigner(atlas="syn", on_failure="unassigned"))
    assert report.done == ["sub-01", "sub-02"] and not report.failed
    own = read_cmbs_csv(tmp_path / "out" / "sub-01")
    assert own and {(r.region, r.lobe, r.side) for r in own} == {("lobar", "frontal", "L")}
    assert {r.region_source for r in own} == {"parcellation:sub-01_dseg.nii.gz"}
    assert read_case_json(tmp_path / "out" / "sub-01").region_qc == {"method": "parcellation"}
    tmpl = read_cmbs_csv(tmp_path / "out" / "sub-02")  # a 4 cm 'head': the template path refuses, never guesses
    assert tmpl and {r.region for r in tmpl} == {"unassigned"}
    assert all("no brain found" in r.region_source for r in tmpl)
    qc = read_case_json(tmp_path / "out" / "sub-02").region_qc
    assert qc["method"] == "syn" and qc["passed"] is False and "no brain found" in qc["reason"]
    assert not (tmp_path / "out" / "sub-02" / OVERLAY_FILE).exists()


class _QCAssigner:
    """A region step that reports QC and an overlay, as the deformable template path does."""

    def assign_case(self, records, image, geometry):
        out = [replace(r, region="deep", lobe="thalamus", side="L", region_source="template:syn") for r in records]
        return RegionOutcome(out, {"method": "syn", "brain_dice": 0.96, "passed": True}, b"\x89PNG\r\n\x1a\nfake")

    def __call__(self, records, image, geometry):
        return self.assign_case(records, image, geometry).records


def test_process_case_writes_region_qc_into_case_json_and_the_overlay_into_the_case_folder(tmp_path):
    img, _ = small_swi(3, n_blobs=2)
    write_image(img, SMALL_GEOMETRY, tmp_path / "in" / "c1.nii.gz")
    run_batch(tmp_path / "in", tmp_path / "out", DarkThresholdSegmenter(), regions=_QCAssigner())
    case = tmp_path / "out" / "c1"
    info = read_case_json(case)
    assert info.region_source == "template:syn"
    assert info.region_qc == {"method": "syn", "brain_dice": 0.96, "passed": True}
    assert (case / OVERLAY_FILE).read_bytes() == b"\x89PNG\r\n\x1a\nfake"
