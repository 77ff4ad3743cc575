"""Count tables from anywhere: count columns named by role (another tool's table, a manual rating sheet), the
``auto`` count mode, and errors that say which count column is missing and what to do."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from CMBQuantStatsLib.cli import main
from CMBQuantStatsLib.pooling import pool_tables
from CMBQuantStatsLib.problems import StatsInputError
from CMBQuantStatsLib.roles import ColumnRoles
from CMBQuantStatsLib.simulate import simulate_cohort
from CMBQuantStatsLib.study import StudyRequest, build_study, load_study, save_study


@pytest.fixture(scope="module")
def sim():
    return simulate_cohort(120, seed=5)


def _rating_sheet(sim) -> pd.DataFrame:
    """A manual rating sheet: its own ID and count column names, one count per region, no status split."""
    c = sim.cohort
    return pd.DataFrame({"Subject": c["case_id"], "Total_CMB": c["total_definite"] + c["total_possible"],
                         "Lobar": c["lobar_definite"] + c["lobar_possible"], "Rater": "JS"})


def test_count_column_roles_pool_a_rating_sheet(sim, tmp_path):
    sheet = _rating_sheet(sim)
    roles = ColumnRoles.from_dict({"cohort_id": "Subject", "total": "Total_CMB", "lobar": "Lobar"})
    assert roles.count_columns == {"total": "Total_CMB", "lobar": "Lobar"}
    pooled = pool_tables(sheet, sim.clinical, sim.wmh, roles)
    assert pooled.regions == ["total", "lobar"]
    np.testing.assert_array_equal(pooled.data["total"], sheet["Total_CMB"])
    np.testing.assert_allclose(pooled.data["log_lobar"], np.log1p(sheet["Lobar"]))
    assert any("total count from column 'Total_CMB'" in n for n in pooled.report.notes)
    sheet.to_csv(tmp_path / "ratings.csv", index=False)
    sim.clinical.to_csv(tmp_path / "clinical.csv", index=False)
    sim.wmh.to_csv(tmp_path / "wmh.csv", index=False)
    rc = main(["--cohort", str(tmp_path / "ratings.csv"), "--clinical", str(tmp_path / "clinical.csv"),
               "--wmh", str(tmp_path / "wmh.csv"), "--out", str(tmp_path / "out"), "--no-plots",
               "--role", "cohort_id=Subject", "--role", "total=Total_CMB", "--role", "lobar=Lobar"])
    assert rc == 0
    res = pd.read_csv(tmp_path / "out" / "results.csv")
    assert {"ols:log_total", "ols:log_lobar", "negbin:total"} <= set(res["model_id"])
    assert (res.loc[res["model_id"] == "ols:log_total", "n"] == 120).all()


def test_count_roles_round_trip_through_a_study_file(tmp_path):
    study = build_study(StudyRequest(cohort="r.csv", clinical="c.csv", roles=["total=Total_CMB", "deep=Deep"]))
    assert study.roles.count_columns == {"total": "Total_CMB", "deep": "Deep"}
    assert load_study(save_study(study, tmp_path / "study.json")).roles == study.roles


def test_a_missing_role_column_or_an_unknown_region_is_named(sim):
    with pytest.raises(StatsInputError) as ei:
        pool_tables(_rating_sheet(sim), sim.clinical, sim.wmh, ColumnRoles(cohort_id="Subject",
                                                                           count_columns={"total": "Totl"}))
    p = ei.value.first
    assert p.column == "Totl" and "column for the total count role not found" in p.problem
    assert "--role total=COLUMN" in p.fix
    with pytest.raises(StatsInputError, match=r"unknown role\(s\) \['totl'\]"):
        ColumnRoles.from_dict({"count_columns": {"totl": "X"}})


def test_definite_without_possible_says_so_and_not_that_definite_is_missing(sim):
    only_definite = sim.cohort[["case_id"] + [c for c in sim.cohort.columns if c.endswith("_definite")]]
    with pytest.raises(StatsInputError) as ei:
        pool_tables(only_definite, sim.clinical, sim.wmh)  # default count mode definite+possible
    msg = str(ei.value)
    assert len(ei.value.problems) == 1 and ei.value.first.column == "total_possible"
    assert "missing for count mode 'definite+possible'" in msg and "choose count mode 'definite'" in msg
    assert "no '<region>_definite'" not in msg
    pooled = pool_tables(only_definite, sim.clinical, sim.wmh, ColumnRoles(count_mode="definite"))
    np.testing.assert_array_equal(pooled.data["total"], sim.cohort["total_definite"])


def test_auto_mode_reads_the_automated_columns_and_says_when_there_are_none(sim):
    cohort = sim.cohort.copy()
    cohort["total_auto"] = cohort["total_definite"] + cohort["total_possible"] + 1
    pooled = pool_tables(cohort, sim.clinical, sim.wmh, ColumnRoles(count_mode="auto"))
    assert pooled.regions == ["total"] and pooled.report.count_mode == "auto"
    np.testing.assert_array_equal(pooled.data["total"], cohort["total_auto"])
    with pytest.raises(StatsInputError, match=r"no automated count columns .*choose count mode 'definite'"):
        pool_tables(sim.cohort, sim.clinical, sim.wmh, ColumnRoles(count_mode="auto"))
    auto_only = cohort[["case_id", "total_auto"]]
    with pytest.raises(StatsInputError, match=r"no reviewed count columns.*total_auto.*choose count mode 'auto'"):
        pool_tables(auto_only, sim.clinical, sim.wmh)
    with pytest.raises(StatsInputError, match=r"no '<region>_definite' count columns .*--role total=COLUMN"):
        pool_tables(cohort[["case_id"]], sim.clinical, sim.wmh)
