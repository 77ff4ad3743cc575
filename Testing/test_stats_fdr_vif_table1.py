"""FDR, VIF and Table 1 give the textbook values."""
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.outliers_influence import variance_inflation_factor

from CMBQuantStatsLib.models import add_fdr, bh_fdr, model_summary, run_analysis, table1, vif
from CMBQuantStatsLib.options import AnalysisOptions
from CMBQuantStatsLib.pooling import pool_tables
from CMBQuantStatsLib.simulate import simulate_cohort


@pytest.fixture(scope="module")
def analysis():
    s = simulate_cohort(400, seed=21)
    pooled = pool_tables(s.cohort, s.clinical, s.wmh)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_analysis(pooled, AnalysisOptions(table1_group="hypertension"))


def test_bh_matches_hand_computation():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # sorted: .005 .01 .03 .04 -> p*m/rank = .02 .02 .04 .04, monotone from the top
    np.testing.assert_allclose(bh_fdr(p), [0.02, 0.04, 0.04, 0.02])


def test_fdr_within_each_family_over_focal_terms(analysis):
    r = analysis.results
    for fam, g in r.groupby("family"):
        focal = g[g["focal"]]
        np.testing.assert_allclose(focal["p_fdr"].to_numpy(), multipletests(focal["p"], method="fdr_bh")[1],
                                   atol=1e-12)
        assert g.loc[~g["focal"], "p_fdr"].isna().all()
    seed = r[(r["family"] == "seed_counts") & r["focal"]]
    assert len(seed) == 5 * 7  # regions x covariates form one family
    mmse = r[(r["family"] == "seed_mmse") & r["focal"]]
    assert set(mmse["term"]) >= {"age", "sex", "hyperlipidemia", "wmh_burden", "total"}
    assert (r.loc[r["term"].isin(["Intercept", "alpha"]), "focal"] == False).all()


def test_non_converged_models_leave_the_fdr_family(analysis):
    r = analysis.results.copy()
    r.loc[r["model_id"] == "negbin:deep", "converged"] = False
    q = add_fdr(r)
    fam = q[(q["family"] == "negbin_counts") & q["focal"]]
    assert fam.loc[fam["model_id"] == "negbin:deep", "p_fdr"].isna().all()
    kept = fam[fam["model_id"] != "negbin:deep"]
    np.testing.assert_allclose(kept["p_fdr"], multipletests(kept["p"], method="fdr_bh")[1], atol=1e-12)


def test_add_fdr_is_pure(analysis):
    before = analysis.results.copy()
    add_fdr(before)
    pd.testing.assert_frame_equal(before, analysis.results)


def test_vif_equals_statsmodels(analysis):
    covs = ["age", "sex", "hypertension", "diabetes", "hyperlipidemia", "bmi", "wmh_burden"]
    x = sm.add_constant(analysis.data[covs].astype(float)).to_numpy()
    expect = [variance_inflation_factor(x, i) for i in range(1, len(covs) + 1)]
    np.testing.assert_allclose(analysis.vif["vif"].to_numpy(), expect, rtol=1e-12)
    np.testing.assert_allclose(vif(analysis.data, covs)["vif"], expect, rtol=1e-12)
    assert (analysis.vif["n"] == 400).all()


def test_table1_overall_and_by_group(analysis):
    d = analysis.data
    t = analysis.table1.set_index("variable")
    assert list(analysis.table1.columns) == ["variable", "level", "Overall", "hypertension=0", "hypertension=1",
                                             "p", "missing"]
    assert t.loc["n", "Overall"] == "400"
    assert t.loc["n", "hypertension=1"] == str(int(d["hypertension"].sum()))
    assert t.loc["age", "Overall"] == f"{d['age'].mean():.1f} ± {d['age'].std():.1f}"
    k = int(d["sex"].sum())
    assert t.loc["sex", "Overall"] == f"{k} ({100 * k / 400:.1f}%)"
    q1, med, q3 = np.percentile(d["wmh_burden"], [25, 50, 75])
    assert t.loc["wmh_burden", "Overall"] == f"{med:.1f} [{q1:.1f}–{q3:.1f}]"
    assert t.loc["wmh_burden", "level"] == "median [IQR]"
    g0, g1 = (d.loc[d["hypertension"] == v, "age"] for v in (0, 1))
    from scipy import stats

    assert t.loc["age", "p"] == pytest.approx(stats.ttest_ind(g0, g1).pvalue, rel=1e-12)


def test_table1_categorical_and_missing():
    df = pd.DataFrame({"site": ["A", "B", "A", None], "age": [60, 70, np.nan, 80.0], "grp": [0, 1, 0, 1]})
    t = table1(df, ["site", "age"], group="grp")
    site = t[t["variable"] == "site"]
    assert site["level"].tolist() == ["A", "B"] and site["Overall"].tolist() == ["2 (66.7%)", "1 (33.3%)"]
    assert int(t.loc[t["variable"] == "age", "missing"].iat[0]) == 1


def test_model_summary_one_row_per_model(analysis):
    s = model_summary(analysis.results)
    assert s["model_id"].is_unique and len(s) == analysis.results["model_id"].nunique()
    nb = s[s["model"] == "negbin"]
    assert nb["aic"].notna().all() and (nb["converged"] == True).all()
