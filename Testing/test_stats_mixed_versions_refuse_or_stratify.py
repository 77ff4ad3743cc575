"""A cohort processed by two model versions: ``cmbquant-stats`` refuses it by default (naming both versions and
their cases), stratifies it on request (a model-version term in the coefficient table, recovering a planted
version effect) and allows it with a note; a one-version cohort and a table without provenance columns pass."""
from __future__ import annotations

import warnings

import pandas as pd
import pytest

from CMBQuantStatsLib.cli import main
from CMBQuantStatsLib.models import run_analysis
from CMBQuantStatsLib.options import AnalysisOptions
from CMBQuantStatsLib.pooling import pool_tables
from CMBQuantStatsLib.problems import StatsInputError
from CMBQuantStatsLib.roles import ColumnRoles
from CMBQuantStatsLib.simulate import simulate_cohort

OLD, NEW = "CMBQuantDemo@0123456789ab", "SiteV2"
FILTER_OLD, FILTER_NEW = "CMBQuantDemoFilter@aaaaaaaaaaaa", "SiteV2@bbbbbbbbbbbb"


@pytest.fixture(scope="module")
def mixed():
    s = simulate_cohort(240, seed=3)
    cohort = s.cohort.copy()
    new = cohort.index % 2 == 1
    cohort["model_version"] = [NEW if n else OLD for n in new]
    cohort["filter_version"] = [FILTER_NEW if n else FILTER_OLD for n in new]
    cohort.loc[new, "total_definite"] += 3  # the new version counts three more CMBs per case
    return cohort, s.clinical, s.wmh


def _write(tmp_path, cohort, clinical, wmh):
    paths = {}
    for name, df in (("cohort", cohort), ("clinical", clinical), ("wmh", wmh)):
        paths[name] = tmp_path / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    return ["--cohort", str(paths["cohort"]), "--clinical", str(paths["clinical"]), "--wmh", str(paths["wmh"])]


def test_the_cli_refuses_a_mixed_cohort_by_default_naming_both_versions(tmp_path, mixed, capsys):
    args = _write(tmp_path, *mixed)
    assert main(args + ["--out", str(tmp_path / "o"), "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert f"{OLD} | {FILTER_OLD}: 120 case(s) (sub-00000, sub-00002" in err
    assert f"{NEW} | {FILTER_NEW}: 120 case(s) (sub-00001, sub-00003" in err
    assert "--mixed-versions stratify" in err
    assert not (tmp_path / "o" / "results.csv").exists()


def test_stratify_adds_the_version_term_and_recovers_the_planted_effect(tmp_path, mixed):
    args = _write(tmp_path, *mixed)
    assert main(args + ["--out", str(tmp_path / "o"), "--no-plots", "--mixed-versions", "stratify",
                        "--count-mode", "definite"]) == 0
    res = pd.read_csv(tmp_path / "o" / "results.csv")
    term = res[(res["model_id"] == "negbin:total") & (res["term"] == "model_version_2")]
    assert len(term) == 1 and term["estimate"].iat[0] > 0.5 and term["p"].iat[0] < 1e-6
    for model in ("ols:log_total", "logit:any_total", "negbin:lobar"):
        assert "model_version_2" in set(res.loc[res["model_id"] == model, "term"])
    pooling = (tmp_path / "o" / "pooling_report.txt").read_text()
    assert f"reference {OLD} | {FILTER_OLD}; model_version_2 = {NEW} | {FILTER_NEW}" in pooling


def test_stratify_keeps_the_version_term_with_explicit_covariates_and_allow_only_notes(mixed):
    cohort, clinical, wmh = mixed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pooled = pool_tables(cohort, clinical, wmh, ColumnRoles(mixed_versions="stratify", count_mode="definite"))
        res = run_analysis(pooled, AnalysisOptions(covariates=["age"], negbin=False, logistic=False)).results
    assert pooled.version_terms == ["model_version_2"]
    assert set(res.loc[res["model_id"] == "ols:log_total", "term"]) == {"Intercept", "age", "model_version_2"}
    assert pooled.data["model_version_2"].sum() == 120
    allowed = pool_tables(cohort, clinical, wmh, ColumnRoles(mixed_versions="allow"))
    assert allowed.version_terms == [] and "model_version_2" not in allowed.data.columns
    assert any("mixed model versions allowed" in n and NEW in n for n in allowed.report.notes)


def test_one_version_or_no_provenance_columns_pass_under_refuse(mixed):
    cohort, clinical, wmh = mixed
    one = cohort.assign(model_version=OLD, filter_version=FILTER_OLD)
    pooled = pool_tables(one, clinical, wmh)
    assert pooled.version_terms == [] and any(f"processed by model version {OLD} | {FILTER_OLD}" in n
                                              for n in pooled.report.notes)
    legacy = cohort.drop(columns=["model_version", "filter_version"])
    assert pool_tables(legacy, clinical, wmh).report.n_pooled == 240
    with pytest.raises(StatsInputError, match="mixes 2 model versions"):
        pool_tables(cohort, clinical, wmh)
