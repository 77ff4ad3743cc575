"""nnU-Net v2 raw dataset from reviewed cases, checked by nnU-Net's own dataset verification."""
from __future__ import annotations

import json

import numpy as np
import pytest
from review_helpers import fresh_case, phantom

from CMBQuantLib.export.nnunet_dataset import export_nnunet
from CMBQuantLib.review.session import ReviewSession
from CMBQuantLib.volumes.images import read_image


def reviewed_case(tmp_path):
    case = fresh_case(tmp_path)
    s = ReviewSession.open(case, "alice", auto_advance=False)
    q = s.queue
    for n, cmb_id in enumerate(q):
        if n == 0:
            s.decide("rejected", reason="vessel", cmb_id=cmb_id)
        elif n == 1:
            s.decide("possible", cmb_id=cmb_id)
        else:
            s.decide("definite", cmb_id=cmb_id)
    return case, q[0], q[1], {i: s.record(i).n_voxels for i in q}


def test_nnunet_dataset_has_binary_labels_and_a_valid_dataset_json(tmp_path):
    case, rejected, possible, sizes = reviewed_case(tmp_path / "a")
    res = export_nnunet([case], tmp_path / "raw", dataset_id=512, name="CMBtest")
    ds = tmp_path / "raw" / "Dataset512_CMBtest"
    assert res.folder == ds and res.cases == ["case01"] and res.skipped == []
    meta = json.loads((ds / "dataset.json").read_text())
    assert meta["channel_names"] == {"0": "SWI"} and meta["labels"] == {"background": 0, "cmb": 1}
    assert meta["numTraining"] == 1 and meta["file_ending"] == ".nii.gz"
    image, g_img = read_image(ds / "imagesTr" / "case01_0000.nii.gz")
    label, g_lab = read_image(ds / "labelsTr" / "case01.nii.gz")
    assert g_img.same_as(g_lab) and g_img.same_as(phantom().geometry)
    assert np.allclose(image, phantom().image, atol=1e-5)
    assert set(np.unique(label).astype(int)) == {0, 1}
    assert int(label.sum()) == sum(sizes.values()) - sizes[rejected]  # rejected = background

    only_definite = export_nnunet([case], tmp_path / "raw2", dataset_id=513, name="CMBdef", statuses=("definite",))
    lab2, _ = read_image(only_definite.folder / "labelsTr" / "case01.nii.gz")
    assert int(lab2.sum()) == sum(sizes.values()) - sizes[rejected] - sizes[possible]

    verify = pytest.importorskip("nnunetv2.experiment_planning.verify_dataset_integrity")
    from nnunetv2.utilities.dataset_name_id_conversion import convert_dataset_name_to_id

    assert convert_dataset_name_to_id(ds.name) == 512
    verify.verify_dataset_integrity(str(ds), 1)  # raises on any problem


def test_unfinished_reviews_are_skipped_unless_asked(tmp_path):
    case = fresh_case(tmp_path)
    res = export_nnunet([case], tmp_path / "raw", dataset_id=514)
    assert res.cases == [] and "pending" in res.skipped[0]
    assert json.loads((res.folder / "dataset.json").read_text())["numTraining"] == 0
    res = export_nnunet([case], tmp_path / "raw", dataset_id=514, require_complete=False)
    assert res.cases == ["case01"]
    import SimpleITK as sitk

    label = sitk.GetArrayFromImage(sitk.ReadImage(str(res.folder / "labelsTr" / "case01.nii.gz")))
    assert label.shape == phantom().geometry.shape and label.sum() == 0  # all pending: nothing is foreground
    with pytest.raises(ValueError, match="rejected/pending are background"):
        export_nnunet([case], tmp_path / "raw", statuses=("definite", "rejected"))
