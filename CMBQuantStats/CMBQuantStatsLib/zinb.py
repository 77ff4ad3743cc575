"""Zero-inflated negative binomial fits: statsmodels' own model and optimiser, with a vectorised likelihood.

statsmodels' ``ZeroInflatedNegativeBinomialP`` evaluates its score through three separate passes over the data
(count-part score, count-part log-likelihood, full log-likelihood) and its Hessian by finite differences of that
log-likelihood: at n = 10,000 one ZINB took ~1 s, most of it there. ``ZinbLikelihood`` computes the same formulas
(NB2 count part, logit inflation) in one pass, shares it between the log-likelihood and the score the optimiser asks
for at the same point, and takes the log-gamma / digamma of the few distinct counts only. It is bound to the
statsmodels model, so BFGS, the numerical Hessian, the sandwich covariance and every result attribute are
statsmodels' own; and the likelihood and score are statsmodels' bit for bit (same operations, order and memory
layout), so the optimiser takes the same path: estimates, SEs and P values equal a plain
``ZeroInflatedNegativeBinomialP.fit`` from the same start (Testing/test_stats_zinb_likelihood.py,
Testing/test_stats_models_match_statsmodels.py). Round-off-level differences would not do: the finite-difference
Hessian amplifies them to ~1e-7 in the SEs.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln

#: Starting logit of the zero-inflation probability (see :func:`fit_zinb`).
ZINB_INFLATE_START = -3.0
_EPS = np.finfo(float).eps


class ZinbLikelihood:
    """Log-likelihood and score of a ZINB-P (p = 2, logit inflation) model, one evaluation per parameter vector.

    ``params`` are ordered like statsmodels': inflation coefficients, count coefficients, then ``alpha`` (not
    log-transformed). Each formula is the one in ``statsmodels.discrete.count_model`` / ``NegativeBinomialP``.
    """

    def __init__(self, endog: np.ndarray, exog: np.ndarray, exog_infl: np.ndarray) -> None:
        self.y = np.asarray(endog, dtype=float)
        self.exog = np.asarray(exog, dtype=float)
        self.exog_infl = np.asarray(exog_infl, dtype=float)
        self.k_infl = self.exog_infl.shape[1]
        self.zero = np.nonzero(self.y == 0)[0]
        self.y_values, self.y_index = np.unique(self.y, return_inverse=True)
        self.gammaln_y1 = gammaln(self.y + 1)
        self._at: bytes | None = None  # the parameter vector the cached parts below belong to
        self._parts: dict = {}

    def _loglike_parts(self, params: np.ndarray) -> dict:
        """Per-observation log-likelihood and what the score reuses; cached for the last parameter vector."""
        params = np.asarray(params, dtype=float)
        key = params.tobytes()
        if key == self._at:
            return self._parts
        y, zero = self.y, self.zero
        w = 1 / (1 + np.exp(-np.dot(self.exog_infl, params[:self.k_infl])))
        w = np.clip(w, _EPS, 1 - _EPS)
        main = params[self.k_infl:]
        alpha = main[-1]
        mu = np.exp(np.dot(self.exog, main[:-1]))
        a1 = 1.0 / alpha
        a2 = mu + a1
        with np.errstate(all="ignore"):  # a trial alpha <= 0 gives NaN, exactly as statsmodels does
            llf_main = (gammaln(self.y_values + a1)[self.y_index] - self.gammaln_y1 - gammaln(a1)
                        + a1 * np.log(a1) + y * np.log(mu) - (y + a1) * np.log(a2))
            llf = np.log(1 - w) + llf_main
            llf[zero] = np.log(w[zero] + (1 - w[zero]) * np.exp(llf_main[zero]))
        self._at = key
        self._parts = {"w": w, "mu": mu, "alpha": alpha, "a1": a1, "a2": a2, "llf_main": llf_main, "llf": llf}
        return self._parts

    def _score_obs(self, params: np.ndarray) -> np.ndarray:
        e = self._loglike_parts(params)
        if "score_obs" in e:
            return e["score_obs"]
        y, w, mu, alpha, a1, a2 = self.y, e["w"], e["mu"], e["alpha"], e["a1"], e["a2"]
        zero = np.zeros(len(y), dtype=bool)
        zero[self.zero] = True
        with np.errstate(all="ignore"):
            p_main, p = np.exp(e["llf_main"]), np.exp(e["llf"])
            a3 = y + a1
            dgterm = digamma(self.y_values + a1)[self.y_index] - digamma(a1) + np.log(a1 / a2) + 1 - a3 / a2
            factor = np.where(zero, 1 - w / p, 1.0)[:, None]
            # Same operations in the same order and layout as statsmodels: bit for bit its score (and its sums).
            main_obs = np.concatenate((self.exog * mu[:, None] * (0 * a1 / mu * dgterm - a3 / a2 + y / mu)[:, None],
                                       (-a1 / alpha * dgterm)[:, None]), axis=1) * factor
            infl_zero = self.exog_infl * w[:, None] * (1 - w)[:, None] * (1 - p_main)[:, None] / p[:, None]
            infl_obs = np.where(zero[:, None], infl_zero, -(self.exog_infl * w[:, None]))
        e["score_obs"] = np.ascontiguousarray(np.hstack((infl_obs, main_obs)))
        return e["score_obs"]

    def loglikeobs(self, params: np.ndarray) -> np.ndarray:
        return self._loglike_parts(params)["llf"]

    def loglike(self, params: np.ndarray) -> float:
        return float(np.sum(self._loglike_parts(params)["llf"]))

    def score(self, params: np.ndarray) -> np.ndarray:
        return self._score_obs(params).sum(0)

    def score_obs(self, params: np.ndarray) -> np.ndarray:
        return self._score_obs(params)

    def bind(self, model) -> None:
        """Make ``model`` (a statsmodels ZeroInflatedNegativeBinomialP on the same arrays) evaluate through this."""
        model.loglike, model.loglikeobs = self.loglike, self.loglikeobs
        model.score, model.score_obs = self.score, self.score_obs


def fit_zinb(formula: str, data: pd.DataFrame, inflation: str = "1", cov_kw: dict | None = None,
             nb_params: np.ndarray | None = None):
    """``ZeroInflatedNegativeBinomialP.from_formula(...).fit(method="bfgs", maxiter=1000)`` from the NB estimates
    with a small zero inflation (logit ``ZINB_INFLATE_START``): statsmodels' default start often diverges when there
    is little excess of zeros. Same call, same numbers, faster (see the module docstring). ``nb_params``: the NB fit
    of the same formula on the same rows when already made (``smf.negativebinomial(formula, data).fit()``)."""
    import patsy  # optional, with statsmodels
    from statsmodels.discrete.count_model import ZeroInflatedNegativeBinomialP
    from statsmodels.discrete.discrete_model import NegativeBinomial

    exog_infl = patsy.dmatrix(inflation, data, return_type="dataframe")
    mod = ZeroInflatedNegativeBinomialP.from_formula(formula, data=data, exog_infl=exog_infl)
    if nb_params is None:  # the same NB as smf.negativebinomial(formula, data), without parsing the formula again
        nb_params = NegativeBinomial(mod.endog, mod.exog).fit(disp=0, maxiter=200).params
    ZinbLikelihood(mod.endog, mod.exog, mod.exog_infl).bind(mod)
    start = np.r_[ZINB_INFLATE_START, np.zeros(exog_infl.shape[1] - 1), nb_params]
    return mod.fit(start_params=start, method="bfgs", maxiter=1000, disp=0, **(cov_kw or {}))
