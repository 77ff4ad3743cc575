"""On a large simulated cohort the models recover the effects the cohort was drawn with."""
import warnings

import numpy as np
import pytest

from CMBQuantStatsLib.models import fit_model, run_analysis
from CMBQuantStatsLib.options import AnalysisOptions, ModelSpec
from CMBQuantStatsLib.pooling import pool_tables
from CMBQuantStatsLib.roles import ColumnRoles
from CMBQuantStatsLib.simulate import SimEffects, simulate_cohort

N = 3000


@pytest.fixture(scope="module")
def sim():
    return simulate_cohort(N, seed=2025)


@pytest.fixture(scope="module")
def analysis(sim):
    pooled = pool_tables(sim.cohort, sim.clinical, sim.wmh)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_analysis(pooled, AnalysisOptions(zinb=False))


def _coef(results, model_id, term, col="estimate"):
    r = results[(results["model_id"] == model_id) & (results["term"] == term)]
    assert len(r) == 1, (model_id, term)
    return float(r[col].iat[0])


def test_simulation_is_deterministic_by_seed():
    a, b, c = simulate_cohort(50, seed=4), simulate_cohort(50, seed=4), simulate_cohort(50, seed=5)
    assert a.cohort.equals(b.cohort) and a.clinical.equals(b.clinical) and a.wmh.equals(b.wmh)
    assert not a.cohort.equals(c.cohort)


@pytest.mark.parametrize("region", ["total", "lobar", "deep", "infratentorial"])
@pytest.mark.parametrize("term", ["age", "hypertension", "wmh_burden", "hyperlipidemia"])
def test_negative_binomial_recovers_log_irr(analysis, sim, region, term):
    truth = sim.effects.count_log_irr[term]
    est = _coef(analysis.results, f"negbin:{region}", term)
    se = _coef(analysis.results, f"negbin:{region}", term, "se")
    assert abs(est - truth) < max(4 * se, 0.02), (est, truth, se)
    lo = _coef(analysis.results, f"negbin:{region}", term, "ratio_low")
    hi = _coef(analysis.results, f"negbin:{region}", term, "ratio_high")
    assert lo < np.exp(truth) < hi or abs(est - truth) < 3.5 * se


def test_seed_ols_finds_the_seed_associations(analysis):
    """Age, hypertension and WMH burden are associated with counts in every region (as in the seed study)."""
    for region in ("total", "lobar", "deep", "infratentorial", "cerebellar"):
        for term in ("age", "hypertension", "wmh_burden"):
            assert _coef(analysis.results, f"ols:log_{region}", term) > 0
            assert _coef(analysis.results, f"ols:log_{region}", term, "p_fdr") < 0.05


def test_mmse_full_model_recovers_betas(sim, analysis):
    f = "mmse ~ hyperlipidemia + wmh_burden + total + age + sex + education"
    rows = fit_model(analysis.data, ModelSpec("full", "ols", f)).set_index("term")
    for term, truth in sim.effects.mmse_beta.items():
        est, se = rows.loc[term, "estimate"], rows.loc[term, "se"]
        assert abs(est - truth) < 4 * se, (term, est, truth, se)
    assert abs(rows.loc["hyperlipidemia", "estimate"] - 1.88) < 0.25


def test_seed_mmse_hyperlipidemia_beta(analysis):
    est = _coef(analysis.results, "ols:mmse~hyperlipidemia", "hyperlipidemia")
    assert abs(est - 1.88) < 0.3
    assert _coef(analysis.results, "ols:mmse~wmh_burden", "wmh_burden") < 0


def test_definite_only_counts_keep_the_same_irr(sim):
    pooled = pool_tables(sim.cohort, sim.clinical, sim.wmh, ColumnRoles(count_mode="definite"))
    assert pooled.data["total"].sum() == sim.cohort["total_definite"].sum()
    spec = ModelSpec("nb", "negbin", "lobar ~ age + sex + hypertension + diabetes + hyperlipidemia + bmi + wmh_burden")
    rows = fit_model(pooled.data, spec).set_index("term")
    for term in ("hypertension", "wmh_burden"):
        assert abs(rows.loc[term, "estimate"] - sim.effects.count_log_irr[term]) < 4 * rows.loc[term, "se"]


def test_null_effect_is_not_significant_after_fdr(analysis):
    """BMI has no true effect: it should not survive FDR in most regions."""
    q = [_coef(analysis.results, f"negbin:{r}", "bmi", "p_fdr") for r in ("total", "lobar", "deep", "cerebellar")]
    assert sum(x < 0.05 for x in q) <= 1


def test_custom_effects_are_used():
    eff = SimEffects(count_log_irr={"age": 0.0, "sex": 0.0, "hypertension": 1.0, "diabetes": 0.0,
                                    "hyperlipidemia": 0.0, "bmi": 0.0, "wmh_burden": 0.0})
    s = simulate_cohort(2000, seed=1, effects=eff)
    pooled = pool_tables(s.cohort, s.clinical, s.wmh)
    rows = fit_model(pooled.data, ModelSpec("nb", "negbin", "total ~ hypertension + age")).set_index("term")
    assert abs(rows.loc["hypertension", "estimate"] - 1.0) < 4 * rows.loc["hypertension", "se"]
