"""Counts per case: cohort column names from docs/case-folder.md, status handling, sides, unassigned."""
import json
import re

import pytest
from conftest import ROOT

from CMBQuantLib.core.counts import count_case, count_columns, counts_document, write_counts
from CMBQuantLib.core.records import CMBRecord


def _rec(i, status, region, lobe="", side="L"):
    return CMBRecord(cmb_id=i, status=status, region=region, lobe=lobe, side=side, region_source="test")


def test_columns_are_the_cohort_contract():
    doc = (ROOT / "docs" / "case-folder.md").read_text()
    regions = re.search(r"counts for region in\n`([^\n]+)`", doc).group(1).replace("`", "").split(", ")
    statuses = ["definite", "possible"]
    expected = [f"{r}_{s}" for r in regions for s in statuses] + ["n_pending", "n_rejected"]
    assert count_columns() == expected


def test_counts_values():
    recs = [
        _rec(1, "definite", "lobar", "frontal"), _rec(2, "definite", "lobar", "frontal", "R"),
        _rec(3, "possible", "lobar", "insula"), _rec(4, "definite", "lobar", ""),
        _rec(5, "definite", "deep", "thalamus"), _rec(6, "possible", "deep", "internal_capsule"),
        _rec(7, "definite", "infratentorial", "cerebellum"), _rec(8, "definite", "infratentorial", "brainstem", "M"),
        _rec(9, "definite", "unassigned"), _rec(10, "pending", "lobar", "frontal"),
        _rec(11, "rejected", "deep", "basal_ganglia"), _rec(12, "rejected", "lobar", "temporal"),
        _rec(13, "possible", ""),  # never assigned: still counted, as unassigned
    ]
    c = count_case(recs)
    assert c["total_definite"] == 7 and c["total_possible"] == 3
    assert c["lobar_definite"] == 3 and c["frontal_definite"] == 2 and c["insula_possible"] == 1
    assert c["deep_definite"] == 1 and c["deep_possible"] == 1
    assert c["infratentorial_definite"] == 2 and c["cerebellar_definite"] == 1 and c["brainstem_definite"] == 1
    assert c["unassigned_definite"] == 1 and c["unassigned_possible"] == 1
    assert c["n_pending"] == 1 and c["n_rejected"] == 2
    assert c["temporal_definite"] == 0 and c["parietal_possible"] == 0
    # Sub-counts never exceed their region; region counts add up to the total.
    for s in ("definite", "possible"):
        assert sum(c[f"{r}_{s}"] for r in ("lobar", "deep", "infratentorial", "unassigned")) == c[f"total_{s}"]
    doc = counts_document(recs)
    assert doc["by_side"]["R"]["frontal_definite"] == 1 and doc["by_side"]["M"]["brainstem_definite"] == 1
    assert doc["by_side"]["L"]["frontal_definite"] == 1
    assert doc["lobar_unknown_lobe"] == {"definite": 1, "possible": 0}


def test_unknown_status_is_an_error():
    with pytest.raises(ValueError, match="unknown status"):
        count_case([_rec(1, "maybe", "deep")])


def test_counts_json(tmp_path):
    p, _ = write_counts(tmp_path, [_rec(1, "definite", "deep", "thalamus")], "c1")
    doc = json.loads(p.read_text())
    assert doc["counts"]["deep_definite"] == 1 and doc["region_source"] == "test" and doc["n_cmbs"] == 1
