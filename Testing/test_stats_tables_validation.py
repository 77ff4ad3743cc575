"""Bad input gives one clear error naming file, row and column; every row not pooled is reported with its reason."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from CMBQuantStatsLib.pooling import pool_tables
from CMBQuantStatsLib.pooling_report import complete_cases
from CMBQuantStatsLib.problems import StatsInputError
from CMBQuantStatsLib.reading import read_table
from CMBQuantStatsLib.roles import ColumnRoles
from CMBQuantStatsLib.simulate import simulate_cohort, write_simulated


@pytest.fixture()
def sim():
    s = simulate_cohort(20, seed=3)
    s.clinical = s.clinical.astype(object)
    s.cohort = s.cohort.astype(object)
    s.wmh = s.wmh.astype(object)
    return s


def _write(df, path):
    if str(path).endswith(".xlsx"):
        df.to_excel(path, index=False)
    else:
        df.to_csv(path, index=False, sep="\t" if str(path).endswith(".tsv") else ",")
    return path


def _error(tmp_path, sim, table, idx, col, value, name=None):
    frames = {"cohort": sim.cohort, "clinical": sim.clinical, "wmh": sim.wmh}
    frames[table].loc[idx, col] = value
    paths = {t: _write(df, tmp_path / f"{t}.csv") for t, df in frames.items()}
    with pytest.raises(StatsInputError) as ei:
        pool_tables(paths["cohort"], paths["clinical"], paths["wmh"])
    return ei.value


@pytest.mark.parametrize("table,col,value,words", [
    ("clinical", "age", "seventy", "not a number"),
    ("clinical", "age", "150", "outside the possible range 0–120"),
    ("clinical", "mmse", "34", "outside the possible range 0–30"),
    ("clinical", "mmse", "-1", "outside the possible range 0–30"),
    ("clinical", "bmi", "5", "outside the possible range 10–80"),
    ("clinical", "bmi", "81", "outside the possible range 10–80"),
    ("clinical", "sex", "X", "not one of the codes for sex"),
    ("clinical", "hypertension", "maybe", "not one of the codes for hypertension"),
    ("cohort", "lobar_definite", "-2", "outside the possible range"),
    ("cohort", "deep_possible", "1.5", "not a whole number"),
    ("cohort", "total_definite", "abc", "not a number"),
    ("wmh", "icv", "0", "outside the possible range"),
    ("wmh", "wmh_volume", "99999", "exceeds ICV"),
])
def test_bad_value_names_file_row_column_and_fix(tmp_path, sim, table, col, value, words):
    err = _error(tmp_path, sim, table, 4, col, value)
    p = err.first
    assert p.file == f"{table}.csv"
    assert p.row == 6  # data index 4 -> spreadsheet row 6 (header is row 1)
    assert p.column == col
    msg = str(err)
    assert f"{table}.csv, row 6, column '{col}'" in msg
    assert words in msg and "Fix:" in msg


def test_all_bad_cells_are_listed(tmp_path, sim):
    sim.clinical.loc[2, "mmse"] = "31"
    err = _error(tmp_path, sim, "clinical", 7, "age", "-3")
    assert {(p.row, p.column) for p in err.problems} == {(4, "mmse"), (9, "age")}


def test_missing_role_column_is_named(tmp_path, sim):
    paths = write_simulated(sim, tmp_path)
    with pytest.raises(StatsInputError) as ei:
        pool_tables(paths["cohort"], paths["clinical"], paths["wmh"], ColumnRoles(mmse="MMSE_score"))
    p = ei.value.first
    assert p.file == "clinical.csv" and p.row is None and p.column == "MMSE_score"
    assert "set the mmse role" in str(ei.value)


def test_missing_id_column_is_named(tmp_path, sim):
    paths = write_simulated(sim, tmp_path)
    with pytest.raises(StatsInputError, match=r"wmh.csv, column 'subject': ID column not found"):
        pool_tables(paths["cohort"], paths["clinical"], paths["wmh"], ColumnRoles(wmh_id="subject"))


def test_unreadable_inputs(tmp_path, sim):
    paths = write_simulated(sim, tmp_path)
    with pytest.raises(StatsInputError, match="file not found"):
        pool_tables(tmp_path / "nope.csv", paths["clinical"])
    (tmp_path / "x.sav").write_text("x")
    with pytest.raises(StatsInputError, match=r"x.sav: unsupported file type '.sav'. Fix: save the table as"):
        pool_tables(tmp_path / "x.sav", paths["clinical"])
    with pytest.raises(StatsInputError, match="unknown count mode"):
        pool_tables(paths["cohort"], paths["clinical"], paths["wmh"], ColumnRoles(count_mode="all"))
    with pytest.raises(StatsInputError, match="unknown role"):
        ColumnRoles.from_dict({"sexx": "gender"})


@pytest.mark.parametrize("fmt", ["csv", "tsv", "xlsx"])
def test_reads_csv_tsv_xlsx_identically(tmp_path, fmt):
    s = simulate_cohort(30, seed=8)
    paths = write_simulated(s, tmp_path, fmt)
    pooled = pool_tables(paths["cohort"], paths["clinical"], paths["wmh"])
    ref = pool_tables(s.cohort, s.clinical, s.wmh)
    pd.testing.assert_frame_equal(pooled.data, ref.data)
    assert pooled.report.files["clinical"] == f"clinical.{fmt}"


def test_ids_with_leading_zeros_and_custom_roles(tmp_path):
    s = simulate_cohort(10, seed=1)
    clin = s.clinical.rename(columns={"case_id": "Subject", "sex": "Gender", "mmse": "MMSE", "age": "Age"})
    clin["Subject"] = [f"{i:03d}" for i in range(10)]
    clin["Gender"] = clin["Gender"].map({"M": "male", "F": "female"})
    clin["LDL"] = np.linspace(90, 180, 10)
    coh = s.cohort.copy()
    coh["case_id"] = [f"{i:03d}" for i in range(10)]
    wmh = pd.DataFrame({"ID": coh["case_id"], "WMH%": np.linspace(0.1, 3, 10)})
    _write(clin, tmp_path / "c.xlsx"), _write(coh, tmp_path / "k.csv"), _write(wmh, tmp_path / "w.tsv")
    roles = ColumnRoles(clinical_id="Subject", wmh_id="ID", sex="Gender", sex_coding={"male": 1, "female": 0},
                        mmse="MMSE", age="Age", lipids=["LDL"], wmh_burden="WMH%")
    pooled = pool_tables(tmp_path / "k.csv", tmp_path / "c.xlsx", tmp_path / "w.tsv", roles)
    assert pooled.data["case_id"].tolist() == [f"{i:03d}" for i in range(10)]
    assert pooled.data["sex"].tolist() == (s.clinical["sex"] == "M").astype(float).tolist()
    np.testing.assert_allclose(pooled.data["ldl"], np.linspace(90, 180, 10))
    np.testing.assert_allclose(pooled.data["wmh_burden"], np.linspace(0.1, 3, 10))


def test_wmh_burden_from_volume_and_icv(sim):
    pooled = pool_tables(sim.cohort, sim.clinical, sim.wmh)
    vol = sim.wmh["wmh_volume"].astype(float).to_numpy()
    icv = sim.wmh["icv"].astype(float).to_numpy()
    np.testing.assert_allclose(pooled.data["wmh_burden"].to_numpy(), 100 * vol / icv)


def test_count_modes(sim):
    both = pool_tables(sim.cohort, sim.clinical, sim.wmh).data
    defi = pool_tables(sim.cohort, sim.clinical, sim.wmh, ColumnRoles(count_mode="definite")).data
    c = sim.cohort.astype({"deep_definite": int, "deep_possible": int})
    np.testing.assert_array_equal(defi["deep"], c["deep_definite"])
    np.testing.assert_array_equal(both["deep"], c["deep_definite"] + c["deep_possible"])
    np.testing.assert_allclose(both["log_deep"], np.log1p(both["deep"]))
    np.testing.assert_array_equal(both["any_deep"], (both["deep"] > 0).astype(float))


def test_no_row_dropped_without_report(tmp_path, sim):
    """Missing IDs, duplicates (exact and conflicting), empty IDs, incomplete review: each row accounted for."""
    coh, clin, wmh = sim.cohort.copy(), sim.clinical.copy(), sim.wmh.copy()
    clin = clin[clin["case_id"] != "sub-00003"]                      # cohort+wmh row for 3 lose their partner
    wmh = wmh[wmh["case_id"] != "sub-00005"]
    clin = pd.concat([clin, clin[clin["case_id"] == "sub-00007"]])     # exact duplicate: keep first
    w8 = wmh[wmh["case_id"] == "sub-00008"].copy()
    w8["icv"] = 1300.0
    wmh = pd.concat([wmh, w8])                                         # conflicting duplicate: drop both
    extra = clin.iloc[[0]].copy()
    extra["case_id"] = "sub-99999"                                     # only in clinical
    clin = pd.concat([clin, extra])
    blank = clin.iloc[[1]].copy()
    blank["case_id"] = ""
    clin = pd.concat([clin, blank])                                    # empty ID
    coh.loc[coh["case_id"] == "sub-00010", "review_complete"] = 0
    for name, df in (("cohort", coh), ("clinical", clin), ("wmh", wmh)):
        _write(df, tmp_path / f"{name}.csv")
    roles = ColumnRoles(require_review_complete=True)
    pooled = pool_tables(tmp_path / "cohort.csv", tmp_path / "clinical.csv", tmp_path / "wmh.csv", roles)
    rep = pooled.report
    pooled_ids = set(pooled.data["case_id"])
    assert pooled_ids == {f"sub-{i:05d}" for i in range(20)} - {"sub-00003", "sub-00005", "sub-00008", "sub-00010"}
    assert rep.n_pooled == 16
    for table in ("cohort", "clinical", "wmh"):
        dropped = [d for d in rep.dropped if d.table == table]
        assert rep.n_rows[table] == rep.n_pooled + len(dropped), table
    reasons = {(d.table, d.row, d.case_id): d.reason for d in rep.dropped}
    assert reasons[("cohort", 5, "sub-00003")] == "ID not in the clinical table(s)"
    assert reasons[("clinical", 21, "sub-00007")] == "exact duplicate of row 8"
    assert "rows 9, 21 with different values" in reasons[("wmh", 21, "sub-00008")]
    assert "rows 9, 21 with different values" in reasons[("wmh", 9, "sub-00008")]
    assert reasons[("clinical", 9, "sub-00008")] == "ID's row dropped from the wmh table(s) (see those rows)"
    assert reasons[("cohort", 12, "sub-00010")] == "review not complete (review_complete != 1)"
    assert reasons[("clinical", 23, "")] == "empty case ID"
    assert "ID not in the cohort and wmh table(s)" == reasons[("clinical", 22, "sub-99999")]
    assert rep.missing_ids["clinical"] == ["sub-00003"]
    assert rep.duplicate_ids == {"cohort": [], "clinical": ["sub-00007"], "wmh": ["sub-00008"]}
    text = rep.to_text()
    assert "IDs missing from clinical (1): sub-00003" in text and "clinical row 23 []: empty case ID" in text
    assert '"duplicate_ids"' in rep.to_json()


def test_missing_values_are_kept_and_complete_case_reported(sim):
    sim.clinical.loc[2, "bmi"] = "NA"
    sim.clinical.loc[4, "mmse"] = ""
    pooled = pool_tables(sim.cohort, sim.clinical, sim.wmh)
    assert pooled.report.n_pooled == 20 and pooled.data["bmi"].isna().sum() == 1
    d = complete_cases(pooled.data, ["bmi", "mmse", "age"], "m1", pooled.report)
    assert len(d) == 18 and pooled.report.model_n["m1"] == 18
    assert [(x.case_id, x.reason) for x in pooled.report.model_dropped] == [
        ("sub-00002", "missing bmi"), ("sub-00004", "missing mmse")]


def test_optional_roles_absent_are_noted(sim):
    clin = sim.clinical.drop(columns=["diabetes", "education"])
    pooled = pool_tables(sim.cohort, clin, sim.wmh)
    assert "diabetes" not in pooled.covariates and "education" not in pooled.data.columns
    assert any("no diabetes column" in n for n in pooled.report.notes)


def test_read_table_keeps_text(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("case_id;age\n007;70\n")
    df, label = read_table(p)
    assert label == "t.csv" and df["case_id"].tolist() == ["007"]


def test_blank_lines_keep_row_numbers_and_are_reported(tmp_path):
    s = simulate_cohort(5, seed=2)
    paths = write_simulated(s, tmp_path)
    clinical = Path(paths["clinical"])
    lines = clinical.read_text().splitlines()
    bad = lines[4].split(",")
    bad[1] = "200"  # age of the 4th case, file line 5
    lines[4] = ",".join(bad)
    lines.insert(2, "")  # blank line 3 pushes that case to line 6
    clinical.write_text("\n".join(lines) + "\n")
    with pytest.raises(StatsInputError) as ei:
        pool_tables(paths["cohort"], paths["clinical"], paths["wmh"])
    assert (ei.value.first.row, ei.value.first.column) == (6, "age")
    bad[1] = "70"
    lines[5] = ",".join(bad)
    clinical.write_text("\n".join(lines) + "\n")
    rep = pool_tables(paths["cohort"], paths["clinical"], paths["wmh"]).report
    assert rep.n_pooled == 5 and [(d.row, d.reason) for d in rep.dropped] == [(3, "empty case ID")]
