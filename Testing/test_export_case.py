"""Per-case export read back: labels keep CMB ids, rejected CMBs are absent, tags and counts survive."""
from __future__ import annotations

import csv
import json

import numpy as np
from review_helpers import fresh_case, phantom

from CMBQuantLib.core.counts import AUTO_COLUMNS, COUNT_COLUMNS
from CMBQuantLib.core.scene import headless_context
from CMBQuantLib.core.segments import load_segmentation, read_records
from CMBQuantLib.export.case_export import export_case
from CMBQuantLib.review.session import ReviewSession
from CMBQuantLib.volumes.images import read_image


def test_exported_labels_keep_ids_drop_rejected_and_counts_read_back(tmp_path):
    case = fresh_case(tmp_path)
    s = ReviewSession.open(case, "alice", auto_advance=False)
    ids = s.queue
    s.decide("definite", cmb_id=ids[0])
    s.decide("possible", cmb_id=ids[1])
    s.decide("rejected", reason="calcification", cmb_id=ids[2])
    sizes = {i: s.record(i).n_voxels for i in ids}

    out = export_case(case, tmp_path / "export")
    labels, geom = read_image(out.labels)
    assert geom.same_as(phantom().geometry)
    present = set(np.unique(labels).astype(int)) - {0}
    assert present == {ids[0], ids[1]}  # pending and rejected are absent by default
    assert int((labels == ids[0]).sum()) == sizes[ids[0]]
    assert out.labels.name == "case01_cmb_labels.nii.gz"

    only_definite = export_case(case, tmp_path / "def", statuses=("definite",))
    assert set(np.unique(read_image(only_definite.labels)[0]).astype(int)) == {0, ids[0]}
    everything = export_case(case, tmp_path / "all", statuses=("definite", "possible", "rejected", "pending"))
    assert set(np.unique(read_image(everything.labels)[0]).astype(int)) - {0} == set(ids)

    seg = load_segmentation(headless_context(), out.seg)
    tags = {r.cmb_id: (r.status, r.reason) for r in read_records(seg)}
    assert tags[ids[2]] == ("rejected", "calcification") and len(tags) == len(ids)
    counts = json.loads(out.counts_json.read_text())["counts"]
    assert (counts["total_definite"], counts["total_possible"], counts["n_rejected"]) == (1, 1, 1)
    with open(out.counts_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1 and list(rows[0]) == ["case_id"] + COUNT_COLUMNS + AUTO_COLUMNS  # as the case's own
    assert rows[0]["case_id"] == "case01" and rows[0]["n_pending"] == str(len(ids) - 3)
    with open(out.cmbs_csv, newline="") as fh:
        assert {int(r["cmb_id"]): r["status"] for r in csv.DictReader(fh)}[ids[1]] == "possible"
