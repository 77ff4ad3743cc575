"""Zero-inflated negative binomial fits: statsmodels' own model and optimiser, with a vectorised likelihood.

statsmodels' ``ZeroInflatedNegativeBinomialP`` evaluates its score through three separate passes over the data
(count-part score, count-part log-likelihood, full log-likelihood) and its Hessian by finite differences of that
log-likelihood: at n = 10,000 one ZINB took ~1 s, most of it there. ``ZinbLikelihood`` computes the same formulas
(NB2 count part, logit inflation) in one pass, shares it between the log-likelihood and the score the optimiser asks
for at the same point, and takes the log-gamma / digamma of the few distinct counts only. It is bound to the
statsmodels model, so BFGS, the numerical Hessian, the sandwich covariance and every result attribute are
statsmodels' own: the estimates equal a plain ``ZeroInflatedNegativeBinomialP.fit`` from the same start to round-off
(Testing/test_stats_models_match_statsmodels.py checks 1e-8).
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
        self.zero = self.y == 0
        self.y_values, self.y_index = np.unique(self.y, return_inverse=True)
        self.gammaln_y1 = gammaln(self.y + 1)
        self._key: bytes | None = None
        self._parts: dict[str, np.ndarray] = {}

    def _evaluate(self, params: np.ndarray) -> dict[str, np.ndarray]:
        params = np.asarray(params, dtype=float)
        key = params.tobytes()
        if key == self._key:
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
            p_main = np.exp(llf_main)
            llf = np.where(zero, np.log(w + (1 - w) * p_main), np.log(1 - w) + llf_main)
            p = np.exp(llf)
            a3 = y + a1
            dgterm = (digamma(self.y_values + a1)[self.y_index] - digamma(a1) + np.log(a1 / a2) + 1 - a3 / a2)
            factor = np.where(zero, 1 - w / p, 1.0)
            parts = {
                "llf": llf,
                "mu_score": mu * (y / mu - a3 / a2) * factor,
                "alpha_score": -a1 / alpha * dgterm * factor,
                "infl_score": np.where(zero, w * (1 - w) * (1 - p_main) / p, -w),
            }
        self._key, self._parts = key, parts
        return parts

    def loglikeobs(self, params: np.ndarray) -> np.ndarray:
        return self._evaluate(params)["llf"]

    def loglike(self, params: np.ndarray) -> float:
        return float(np.sum(self._evaluate(params)["llf"]))

    def score(self, params: np.ndarray) -> np.ndarray:
        e = self._evaluate(params)
        return np.concatenate((e["infl_score"] @ self.exog_infl, e["mu_score"] @ self.exog,
                               [np.sum(e["alpha_score"])]))

    def score_obs(self, params: np.ndarray) -> np.ndarray:
        e = self._evaluate(params)
        return np.hstack((self.exog_infl * e["infl_score"][:, None], self.exog * e["mu_score"][:, None],
                          e["alpha_score"][:, None]))

    def bind(self, model) -> None:
        """Make ``model`` (a statsmodels ZeroInflatedNegativeBinomialP on the same arrays) evaluate through this."""
        model.loglike, model.loglikeobs = self.loglike, self.loglikeobs
        model.score, model.score_obs = self.score, self.score_obs


def fit_zinb(formula: str, data: pd.DataFrame, inflation: str = "1", cov_kw: dict | None = None):
    """``ZeroInflatedNegativeBinomialP.from_formula(...).fit(method="bfgs", maxiter=1000)`` from the NB estimates
    with a small zero inflation (logit ``ZINB_INFLATE_START``): statsmodels' default start often diverges when there
    is little excess of zeros. Same call, same numbers, faster (see the module docstring)."""
    import patsy  # optional, with statsmodels
    from statsmodels.discrete.count_model import ZeroInflatedNegativeBinomialP
    from statsmodels.discrete.discrete_model import NegativeBinomial

    exog_infl = patsy.dmatrix(inflation, data, return_type="dataframe")
    mod = ZeroInflatedNegativeBinomialP.from_formula(formula, data=data, exog_infl=exog_infl)
    nb = NegativeBinomial(mod.endog, mod.exog).fit(disp=0, maxiter=200)  # = smf.negativebinomial(formula, data)
    ZinbLikelihood(mod.endog, mod.exog, mod.exog_infl).bind(mod)
    start = np.r_[ZINB_INFLATE_START, np.zeros(exog_infl.shape[1] - 1), nb.params]
    return mod.fit(start_params=start, method="bfgs", maxiter=1000, disp=0, **(cov_kw or {}))
