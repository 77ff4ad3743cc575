"""Every number in the tidy results is statsmodels' own number for the same model on the same complete cases."""
import warnings

import numpy as np
import patsy
import pytest
import statsmodels.formula.api as smf
from statsmodels.discrete.count_model import ZeroInflatedNegativeBinomialP
from statsmodels.miscmodels.ordinal_model import OrderedModel

from CMBQuantStatsLib.models import ZINB_INFLATE_START, fit_model, run_analysis, seed_specs
from CMBQuantStatsLib.options import AnalysisOptions, ModelSpec
from CMBQuantStatsLib.pooling import pool_tables
from CMBQuantStatsLib.simulate import simulate_cohort

TOL = 1e-8
COVS = "age + sex + hypertension + diabetes + hyperlipidemia + bmi + wmh_burden"


@pytest.fixture(scope="module")
def pooled():
    sim = simulate_cohort(600, seed=11)
    clinical = sim.clinical.astype(object)
    clinical.loc[[3, 17, 40], "bmi"] = ""  # missing values: complete-case per model
    clinical.loc[[5, 41], "mmse"] = ""
    return pool_tables(sim.cohort, clinical, sim.wmh)


@pytest.fixture(scope="module")
def analysis(pooled):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_analysis(pooled, AnalysisOptions(zinb=True))


def _rows(results, model_id):
    return results[results["model_id"] == model_id].set_index("term")


def _check(rows, res, r2=None):
    ci = res.conf_int(0.05)
    terms = list(res.params.index)
    assert list(rows.index) == terms
    np.testing.assert_allclose(rows["estimate"].to_numpy(), res.params.to_numpy(), rtol=0, atol=TOL)
    np.testing.assert_allclose(rows["se"].to_numpy(), np.asarray(res.bse), rtol=0, atol=TOL)
    np.testing.assert_allclose(rows["ci_low"].to_numpy(), ci.iloc[:, 0].to_numpy(), rtol=0, atol=TOL)
    np.testing.assert_allclose(rows["ci_high"].to_numpy(), ci.iloc[:, 1].to_numpy(), rtol=0, atol=TOL)
    np.testing.assert_allclose(rows["p"].to_numpy(), np.asarray(res.pvalues), rtol=1e-8, atol=1e-300)
    assert (rows["n"] == int(res.nobs)).all()
    if r2 is not None:
        np.testing.assert_allclose(rows["r2"].to_numpy(), r2, atol=TOL)


@pytest.mark.parametrize("region", ["total", "lobar", "deep", "infratentorial", "cerebellar"])
def test_seed_ols_log_counts_equal_statsmodels(pooled, analysis, region):
    d = pooled.data.dropna(subset=["bmi"])
    res = smf.ols(f"log_{region} ~ {COVS}", data=d).fit()
    rows = _rows(analysis.results, f"ols:log_{region}")
    _check(rows, res, res.rsquared)
    assert rows["n"].iat[0] == len(pooled.data) - 3
    np.testing.assert_allclose(d[f"log_{region}"], np.log1p(d[region]))


def test_hc3_robust_equals_statsmodels(pooled):
    spec = ModelSpec("ols:log_total", "ols", f"log_total ~ {COVS}", "seed_counts")
    rows = fit_model(pooled.data, spec, robust=True).set_index("term")
    res = smf.ols(f"log_total ~ {COVS}", data=pooled.data.dropna(subset=["bmi"])).fit(cov_type="HC3")
    _check(rows, res, res.rsquared)
    assert rows["cov_type"].iat[0] == "HC3"


@pytest.mark.parametrize("factor", ["hyperlipidemia", "wmh_burden", "total", "bmi"])
def test_seed_mmse_models_equal_statsmodels(pooled, analysis, factor):
    cols = [factor, "age", "sex", "mmse"]
    res = smf.ols(f"mmse ~ {factor} + age + sex", data=pooled.data.dropna(subset=cols)).fit()
    rows = _rows(analysis.results, f"ols:mmse~{factor}")
    _check(rows, res, res.rsquared)
    assert rows["focal"].to_dict() == {"Intercept": False, factor: True, "age": False, "sex": False}


@pytest.mark.parametrize("region", ["total", "deep"])
def test_negative_binomial_irr_equals_statsmodels(pooled, analysis, region):
    res = smf.negativebinomial(f"{region} ~ {COVS}", data=pooled.data.dropna(subset=["bmi"])).fit(disp=0, maxiter=200)
    rows = _rows(analysis.results, f"negbin:{region}")
    _check(rows, res)
    np.testing.assert_allclose(rows.loc["age", "ratio"], np.exp(res.params["age"]), atol=TOL)
    np.testing.assert_allclose(rows.loc["age", "ratio_low"], np.exp(res.conf_int().loc["age", 0]), atol=TOL)
    assert np.isnan(rows.loc["alpha", "ratio"]) and rows.loc["age", "measure"] == "IRR"
    np.testing.assert_allclose(rows["aic"].iat[0], res.aic, atol=1e-6)


def test_logistic_presence_or_equals_statsmodels(pooled, analysis):
    res = smf.logit(f"any_total ~ {COVS}", data=pooled.data.dropna(subset=["bmi"])).fit(disp=0, maxiter=200)
    rows = _rows(analysis.results, "logit:any_total")
    _check(rows, res)
    np.testing.assert_allclose(rows.loc["hypertension", "ratio_high"],
                               np.exp(res.conf_int().loc["hypertension", 1]), atol=TOL)
    np.testing.assert_allclose(rows["pseudo_r2"].iat[0], res.prsquared, atol=TOL)


def test_zinb_equals_statsmodels_started_from_nb(pooled, analysis):
    d = pooled.data.dropna(subset=["bmi"])
    f = f"lobar ~ {COVS}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nb = smf.negativebinomial(f, data=d).fit(disp=0, maxiter=200)
        infl = patsy.dmatrix("1", d, return_type="dataframe")
        res = ZeroInflatedNegativeBinomialP.from_formula(f, data=d, exog_infl=infl).fit(
            start_params=np.r_[ZINB_INFLATE_START, nb.params.to_numpy()], method="bfgs", maxiter=1000, disp=0)
        _check(_rows(analysis.results, "zinb:lobar"), res)


def test_custom_formula_any_kind_equals_statsmodels(pooled):
    f = "mmse ~ total + np.log(wmh_burden) + hyperlipidemia + age + sex + education + I(age ** 2)"
    rows = fit_model(pooled.data, ModelSpec("full", "ols", f)).set_index("term")
    res = smf.ols(f, data=pooled.data.dropna(subset=["mmse"])).fit()
    _check(rows, res, res.rsquared)
    g = "deep ~ hypertension + age + C(sex)"
    rows = fit_model(pooled.data, ModelSpec("nbc", "negbin", g), robust=True).set_index("term")
    res = smf.negativebinomial(g, data=pooled.data).fit(disp=0, maxiter=200, cov_type="HC0")
    _check(rows, res)


def test_complete_cases_reported_per_model(pooled, analysis):
    rep = analysis.report
    assert pooled.report.model_n == {} and pooled.report.model_dropped == []  # pooled data stay reusable
    assert rep.model_n["ols:log_total"] == 597
    assert rep.model_n["ols:mmse~age+sex"] == 598
    dropped = {(d.table, d.case_id) for d in rep.model_dropped}
    for i in (3, 17, 40):
        assert ("ols:log_total", f"sub-{i:05d}") in dropped
    assert any(d.table == "ols:mmse~age+sex" and d.reason == "missing mmse" for d in rep.model_dropped)
    assert analysis.failures == []


def test_proportional_odds_burden_equals_statsmodels(pooled):
    d = pooled.data
    np.testing.assert_array_equal(d["cat_total"], np.select([d["total"] == 0, d["total"] == 1, d["total"] <= 4],
                                                            [0, 1, 2], 3))
    spec = next(s for s in seed_specs(["total"], ["age", "sex", "hypertension", "wmh_burden", "bmi"], ordinal=True,
                                      negbin=False, logistic=False, has_mmse=False) if s.kind == "ordinal")
    rows = fit_model(d, spec).set_index("term")
    f = "cat_total ~ age + sex + hypertension + wmh_burden + bmi"
    res = OrderedModel.from_formula(f, data=d.dropna(subset=["bmi"]), distr="logit").fit(method="bfgs", maxiter=500,
                                                                                         disp=0)
    _check(rows, res)
    assert rows.loc["hypertension", "measure"] == "OR" and rows.loc["hypertension", "focal"]
    np.testing.assert_allclose(rows.loc["hypertension", "ratio"], np.exp(res.params["hypertension"]), atol=TOL)
    thresholds = list(res.params.index[5:])
    assert not rows.loc[thresholds, "focal"].any() and rows.loc[thresholds, "ratio"].isna().all()
