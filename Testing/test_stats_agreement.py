"""Model-vs-reader agreement per region: Bland–Altman, ICC and differing cases, checked against values worked out by
hand, on the reviewed cases only, in agreement.csv and the report."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from CMBQuantStatsLib.agreement import bland_altman, icc
from CMBQuantStatsLib.models import run_analysis
from CMBQuantStatsLib.options import AnalysisOptions
from CMBQuantStatsLib.pooling import pool_tables
from CMBQuantStatsLib.report import build_report, write_outputs
from CMBQuantStatsLib.roles import ColumnRoles
from CMBQuantStatsLib.simulate import simulate_cohort

# five reviewed cases, then two the reader has not finished (their reader counts mean "not read yet")
AUTO = [2, 0, 3, 1, 5, 4, 2]
READER_DEF = [1, 1, 2, 1, 3, 0, 0]
READER_POS = [1, 0, 0, 0, 0, 0, 0]
REVIEWED = [1, 1, 1, 1, 1, 0, 0]
# By hand, reviewed cases: auto (2, 0, 3, 1, 5), reader definite + possible (2, 1, 2, 1, 3)
#   differences auto - reader (0, -1, 1, 0, 2): bias 0.4, SD sqrt(5.2 / 4) = sqrt(1.3)
#   two-way ANOVA: grand mean 2; SS rows 15, SS raters 0.4, SS error 18 - 15 - 0.4 = 2.6
#   MSR 3.75, MSC 0.4, MSE 0.65 -> ICC(3,1) = 3.1 / 4.4, ICC(2,1) = 3.1 / (4.4 + 2 (0.4 - 0.65) / 5) = 3.1 / 4.3
SD = math.sqrt(1.3)


def _tables():
    sim = simulate_cohort(len(AUTO), seed=4)
    ids = sim.clinical["case_id"]
    cohort = pd.DataFrame({"case_id": ids, "total_definite": READER_DEF, "total_possible": READER_POS,
                           "total_auto": AUTO, "deep_definite": READER_DEF, "deep_possible": READER_POS,
                           "deep_auto": READER_DEF, "review_complete": REVIEWED})
    return cohort, sim.clinical, sim.wmh


def test_bland_altman_and_icc_equal_the_hand_computed_values():
    auto, reader = [2, 0, 3, 1, 5], [2, 1, 2, 1, 3]
    bias, sd, lo, hi = bland_altman(auto, reader)
    assert bias == pytest.approx(0.4) and sd == pytest.approx(SD)
    assert (lo, hi) == (pytest.approx(0.4 - 1.96 * SD), pytest.approx(0.4 + 1.96 * SD))
    pairs = list(zip(auto, reader))
    assert icc(np.array(pairs), "consistency") == pytest.approx(3.1 / 4.4)
    assert icc(np.array(pairs), "absolute") == pytest.approx(3.1 / 4.3)
    assert math.isnan(icc(np.array([[1, 1], [1, 1]])))  # no variance at all
    with pytest.raises(ValueError, match="unknown ICC kind"):
        icc(np.array(pairs), "2,1")


def test_pooling_compares_on_the_reviewed_cases_only():
    pooled = pool_tables(*_tables(), ColumnRoles(count_mode="auto"))
    a = pooled.agreement.set_index("region")
    assert list(a.index) == ["total", "deep"]
    t = a.loc["total"]
    assert (t["n_cases"], t["n_not_reviewed"], t["reader_count"]) == (5, 2, "definite+possible")
    assert t["bias"] == pytest.approx(0.4) and t["sd_difference"] == pytest.approx(SD)
    assert t["loa_low"] == pytest.approx(0.4 - 1.96 * SD) and t["loa_high"] == pytest.approx(0.4 + 1.96 * SD)
    assert t["icc_absolute"] == pytest.approx(3.1 / 4.3) and t["icc_consistency"] == pytest.approx(3.1 / 4.4)
    assert (t["n_differ"], t["n_auto_higher"], t["n_auto_lower"]) == (3, 2, 1)
    assert (t["mean_auto"], t["mean_reader"]) == (pytest.approx(2.2), pytest.approx(1.8))
    d = a.loc["deep"]  # deep_auto equals the reader's definite count: case 1's possible CMB is the one difference
    assert (d["n_differ"], d["n_auto_lower"], d["bias"]) == (1, 1, pytest.approx(-0.2))
    assert any("agreement on 5 reviewed case(s)" in n and "2 not reviewed" in n for n in pooled.report.notes)
    assert pooled.data["total"].tolist() == AUTO  # the auto mode models the automated counts of every case


def test_definite_mode_compares_with_definite_counts_and_the_report_shows_it(tmp_path):
    pooled = pool_tables(*_tables(), ColumnRoles(count_mode="definite"))
    t = pooled.agreement.set_index("region").loc["total"]
    assert t["reader_count"] == "definite" and t["bias"] == pytest.approx((1 - 1 + 1 + 0 + 2) / 5)
    analysis = run_analysis(pooled, AnalysisOptions(seed_models=False, regions=["total"]))
    html = build_report(analysis, plots=False).to_html()
    assert "Model vs reader agreement" in html and "unreviewed cases left out: 2" in html
    paths = write_outputs(analysis, tmp_path / "out", plots=False)
    written = pd.read_csv(paths["agreement"])
    assert written["n_cases"].tolist() == [5, 5] and written["region"].tolist() == ["total", "deep"]


def test_no_agreement_without_automated_counts_or_without_any_review():
    cohort, clinical, wmh = _tables()
    assert pool_tables(cohort.drop(columns=["total_auto", "deep_auto"]), clinical, wmh).agreement.empty
    cohort["review_complete"] = 0
    assert pool_tables(cohort, clinical, wmh).agreement.empty
