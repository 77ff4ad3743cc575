"""The vectorised ZINB likelihood is statsmodels' own, bit for bit, so the faster fit gives statsmodels' numbers:
estimates, numerical-Hessian SEs, sandwich SEs and P values, with a constant or a covariate zero-inflation part."""
from __future__ import annotations

import warnings

import numpy as np
import patsy
import pytest
import statsmodels.formula.api as smf
from statsmodels.discrete.count_model import ZeroInflatedNegativeBinomialP

from CMBQuantStatsLib.pooling import pool_tables
from CMBQuantStatsLib.simulate import simulate_cohort
from CMBQuantStatsLib.zinb import ZINB_INFLATE_START, ZinbLikelihood, fit_zinb

COVS = "age + sex + hypertension + diabetes + hyperlipidemia + bmi + wmh_burden"


@pytest.fixture(scope="module")
def data():
    sim = simulate_cohort(800, seed=13)
    return pool_tables(sim.cohort, sim.clinical, sim.wmh).data


def _model(data, region, inflation):
    infl = patsy.dmatrix(inflation, data, return_type="dataframe")
    return ZeroInflatedNegativeBinomialP.from_formula(f"{region} ~ {COVS}", data=data, exog_infl=infl)


@pytest.mark.parametrize("inflation", ["1", "1 + age + hypertension"])
def test_loglike_and_score_are_statsmodels_bit_for_bit(data, inflation):
    ref = _model(data, "lobar", inflation)
    ours = ZinbLikelihood(ref.endog, ref.exog, ref.exog_infl)
    rng = np.random.default_rng(1)
    k_infl = ref.exog_infl.shape[1]
    for _ in range(15):
        x = np.r_[rng.normal(-2, 0.5, k_infl) / np.r_[1, np.full(k_infl - 1, 50.0)], rng.normal(-1, 0.3),
                  rng.normal(0, 0.02, ref.exog.shape[1] - 1), rng.uniform(0.2, 2.0)]
        assert ours.loglike(x) == ref.loglike(x)
        np.testing.assert_array_equal(ours.loglikeobs(x), ref.loglikeobs(x))
        np.testing.assert_array_equal(ours.score_obs(x), ref.score_obs(x))
        np.testing.assert_array_equal(ours.score(x), ref.score(x))  # cached parts: asked second, still the same


@pytest.mark.parametrize("region,inflation,cov", [
    ("lobar", "1", {}), ("deep", "1", {"cov_type": "HC0"}), ("total", "1 + hypertension", {}),
])
def test_fit_equals_plain_statsmodels(data, region, inflation, cov):
    f = f"{region} ~ {COVS}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nb = smf.negativebinomial(f, data=data).fit(disp=0, maxiter=200)
        infl = patsy.dmatrix(inflation, data, return_type="dataframe")
        start = np.r_[ZINB_INFLATE_START, np.zeros(infl.shape[1] - 1), nb.params.to_numpy()]
        ref = _model(data, region, inflation).fit(start_params=start, method="bfgs", maxiter=1000, disp=0, **cov)
        res = fit_zinb(f, data, inflation, cov)
        again = fit_zinb(f, data, inflation, cov, nb_params=nb.params.to_numpy())  # NB start handed in
    assert list(res.params.index) == list(ref.params.index)
    for r in (res, again):
        np.testing.assert_allclose(r.params, ref.params, rtol=0, atol=1e-10)
        np.testing.assert_allclose(r.bse, ref.bse, rtol=1e-10)
        np.testing.assert_allclose(r.pvalues, ref.pvalues, rtol=1e-8, atol=1e-300)
        assert r.llf == pytest.approx(ref.llf, abs=1e-9) and r.cov_type == ref.cov_type
        assert r.mle_retvals["converged"] == ref.mle_retvals["converged"]
