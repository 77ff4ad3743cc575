"""Counting for the cohort table: MARS regions x definite/possible, pending and rejected apart, empty regions
counted as unassigned."""
from __future__ import annotations

from CMBQuantLib.core.counts import COUNT_COLUMNS, case_counts, counts_document
from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.export.cohort import COHORT_COLUMNS


def rec(i, status, region="", lobe="", reason=""):
    return CMBRecord(cmb_id=i, status=status, region=region, lobe=lobe, reason=reason)


def test_counts_by_region_and_status_follow_the_cohort_columns():
    records = [
        rec(1, "definite", "lobar", "frontal"), rec(2, "definite", "lobar", "occipital"),
        rec(3, "possible", "lobar", "insula"), rec(4, "definite", "deep", "thalamus"),
        rec(5, "definite", "infratentorial", "cerebellum"), rec(6, "possible", "infratentorial", "brainstem"),
        rec(7, "definite", "", ""), rec(8, "possible", "unassigned", ""),
        rec(9, "rejected", "lobar", "frontal", "vessel"), rec(10, "pending", "deep", "basal_ganglia"),
    ]
    c = case_counts(records)
    assert list(c) == COUNT_COLUMNS
    assert (c["total_definite"], c["total_possible"]) == (5, 3)
    assert (c["lobar_definite"], c["lobar_possible"]) == (2, 1)
    assert (c["frontal_definite"], c["occipital_definite"], c["insula_possible"]) == (1, 1, 1)
    assert (c["deep_definite"], c["deep_possible"]) == (1, 0)
    assert (c["infratentorial_definite"], c["infratentorial_possible"]) == (1, 1)
    assert (c["cerebellar_definite"], c["brainstem_possible"]) == (1, 1)
    assert (c["unassigned_definite"], c["unassigned_possible"]) == (1, 1)
    assert (c["n_pending"], c["n_rejected"], c["review_complete"]) == (1, 1, 0)
    assert c["frontal_possible"] == 0  # the rejected frontal one is not counted


def test_complete_when_nothing_is_pending_and_columns_match_the_contract():
    assert case_counts([rec(1, "rejected", reason="iron")])["review_complete"] == 1
    assert case_counts([])["review_complete"] == 1
    regions = ["total", "lobar", "frontal", "parietal", "temporal", "occipital", "insula", "deep", "infratentorial",
               "cerebellar", "brainstem", "unassigned"]
    assert COHORT_COLUMNS == (["case_id"] + [f"{r}_{s}" for r in regions for s in ("definite", "possible")]
                              + ["n_pending", "n_rejected", "review_complete", "model", "reviewers"]
                              + [f"{r}_auto" for r in regions]  # issue 16: the automated counts, appended
                              + ["model_version", "filter_version"])  # issue 12: provenance, appended
    doc = counts_document([rec(1, "rejected", "deep", reason="calcification"), rec(2, "pending")])
    assert doc["by_region_status"]["deep"] == {"rejected": 1}
    assert doc["by_region_status"]["unassigned"] == {"pending": 1}
