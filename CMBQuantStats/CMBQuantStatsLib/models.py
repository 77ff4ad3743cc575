"""The models: the seed study's OLS and MMSE models, count models beyond it, FDR, VIF and Table 1.

Every model is fitted with statsmodels on the complete cases of the variables its formula uses (n reported per
model, exclusions listed in the pooling report) and every coefficient becomes one row of a single tidy DataFrame,
so the report, the CSV, the Slicer table and the forest plot all read the same numbers.
"""
from __future__ import annotations

import copy
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as sps

from CMBQuantStatsLib.agreement import AGREEMENT_COLUMNS
from CMBQuantStatsLib.options import KINDS, AnalysisOptions, ModelSpec
from CMBQuantStatsLib.pooling import PooledData
from CMBQuantStatsLib.pooling_report import PoolingReport, complete_cases
from CMBQuantStatsLib.zinb import ZINB_INFLATE_START, fit_zinb  # noqa: F401 - the start is part of this API
#: Columns of the tidy results table, in order.
RESULT_COLUMNS = [
    "family", "model", "model_id", "outcome", "term", "focal", "estimate", "se", "ci_low", "ci_high", "p", "p_fdr",
    "measure", "ratio", "ratio_low", "ratio_high", "n", "r2", "adj_r2", "pseudo_r2", "aic", "bic", "llf",
    "converged", "cov_type", "formula",
]


@dataclass
class AnalysisResult:
    """Everything the report, the CLI and the Slicer module show."""

    results: pd.DataFrame
    summary: pd.DataFrame
    vif: pd.DataFrame
    table1: pd.DataFrame
    data: pd.DataFrame
    report: PoolingReport
    options: AnalysisOptions
    failures: list[str] = field(default_factory=list)
    agreement: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=AGREEMENT_COLUMNS))  # model vs reader


# ----------------------------------------------------------------------------------------- fitting
def formula_variables(formula: str, columns) -> list[str]:
    """Data columns a formula refers to (for complete-case selection before fitting)."""
    names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", formula))
    return [c for c in columns if c in names]


def _fit(kind: str, formula: str, data: pd.DataFrame, robust: bool, inflation: str = "1",
         nb_params: np.ndarray | None = None):
    """Fit with statsmodels exactly as a user would call it (the tests compare against these calls)."""
    import statsmodels.formula.api as smf  # optional (installed on first use in Slicer)

    if kind == "ols":
        mod = smf.ols(formula, data=data)
        return mod.fit(cov_type="HC3") if robust else mod.fit()
    kw = {"cov_type": "HC0"} if robust else {}
    if kind == "negbin":
        return _negbin(smf, formula, data, kw)
    if kind == "logit":
        return smf.logit(formula, data=data).fit(disp=0, maxiter=200, **kw)
    if kind == "ordinal":  # proportional odds (cumulative logit); thresholds replace the intercept
        from statsmodels.miscmodels.ordinal_model import OrderedModel

        return OrderedModel.from_formula(formula, data=data, distr="logit").fit(method="bfgs", maxiter=500,
                                                                                disp=0, **kw)
    if kind == "zinb":
        return fit_zinb(formula, data, inflation, kw, nb_params)
    raise ValueError(f"unknown model kind {kind!r}; use one of {sorted(KINDS)}")


def _ancillary(term: str) -> bool:
    return term in ("Intercept", "alpha") or term.startswith("inflate_")


def _negbin(smf, formula: str, data: pd.DataFrame, kw: dict):
    """NB2 as ``smf.negativebinomial``. When the counts show no overdispersion the dispersion's MLE sits at its
    boundary (alpha -> 0), its Hessian is singular and statsmodels (0.15) gives NaN standard errors for every
    term; the coefficients' errors are then those of the NB GLM at that alpha (the Poisson limit)."""
    import statsmodels.api as sm

    res = smf.negativebinomial(formula, data=data).fit(disp=0, maxiter=200, **kw)
    terms = [t for t in res.params.index if t != "alpha"]
    if not np.isnan(np.asarray(res.bse[terms], dtype=float)).any():
        return res
    alpha = max(float(res.params.get("alpha", 0.0)), 1e-8)
    return smf.glm(formula, data=data, family=sm.families.NegativeBinomial(alpha=alpha)).fit(**kw)


def tidy(res, spec: ModelSpec, alpha: float = 0.05) -> pd.DataFrame:
    """One row per coefficient of a fitted statsmodels result."""
    params = res.params
    ci = res.conf_int(alpha)
    thresholds = set(params.index[res.model.k_vars:]) if spec.kind == "ordinal" else set()
    outcome = spec.outcome or spec.formula.split("~")[0].strip()
    measure = KINDS[spec.kind]
    is_ols = spec.kind == "ols"
    rows = pd.DataFrame({
        "family": spec.family,
        "model": spec.kind,
        "model_id": spec.model_id,
        "outcome": outcome,
        "term": list(params.index),
        "estimate": params.to_numpy(dtype=float),
        "se": np.asarray(res.bse, dtype=float),
        "ci_low": ci.iloc[:, 0].to_numpy(dtype=float),
        "ci_high": ci.iloc[:, 1].to_numpy(dtype=float),
        "p": np.asarray(res.pvalues, dtype=float),
    })
    def is_focal(t: str) -> bool:
        if t in thresholds:
            return False
        return (t in spec.focal) if spec.focal is not None else not _ancillary(t)

    focal = rows["term"].map(is_focal)
    rows["focal"] = focal.astype(bool)
    rows["p_fdr"] = np.nan
    rows["measure"] = measure
    ratio_ok = (not is_ols) & ~rows["term"].map(lambda t: _ancillary(t) or t in thresholds)
    for src, dst in (("estimate", "ratio"), ("ci_low", "ratio_low"), ("ci_high", "ratio_high")):
        rows[dst] = np.where(ratio_ok, np.exp(rows[src]), np.nan)
    rows["n"] = int(res.nobs)
    rows["r2"] = float(res.rsquared) if is_ols else np.nan
    rows["adj_r2"] = float(res.rsquared_adj) if is_ols else np.nan
    # McFadden pseudo-R² needs the null model, which statsmodels refits by Nelder–Mead for NB (0.1 s) and ZINB
    # (~2 s at n = 10,000); count models report AIC/BIC only, which is what NB vs ZINB is compared on anyway.
    rows["pseudo_r2"] = float(res.prsquared) if spec.kind in ("logit", "ordinal") else np.nan
    rows["aic"], rows["bic"], rows["llf"] = float(res.aic), float(res.bic), float(res.llf)
    retvals = getattr(res, "mle_retvals", None) or {}  # a GLM result (the NB Poisson limit) has none
    conv = True if is_ols else bool(retvals.get("converged", getattr(res, "converged", True)))
    rows["converged"] = conv
    rows["cov_type"] = res.cov_type
    rows["formula"] = spec.formula
    return rows[RESULT_COLUMNS]


def fit_model(data: pd.DataFrame, spec: ModelSpec, robust: bool = False, alpha: float = 0.05,
              report: PoolingReport | None = None, nb_fits: dict | None = None) -> pd.DataFrame:
    """Fit one model on the complete cases of its variables and return its tidy rows.

    ``nb_fits`` (one dict per analysis) keeps each NB fit's estimates by formula and variables, so the ZINB of the
    same formula on the same cases starts from them instead of refitting the same NB.
    """
    cols = formula_variables(spec.formula + " " + (spec.inflation if spec.kind == "zinb" else ""), data.columns)
    ids = ["case_id"] if "case_id" in data.columns and "case_id" not in cols else []
    # Only the columns the formula names: the same design matrix, built twice as fast as from the whole table.
    d = complete_cases(data[cols + ids], cols, spec.model_id, report)[cols]
    key = (spec.formula, tuple(cols))
    nb_fits = {} if nb_fits is None else nb_fits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = _fit(spec.kind, spec.formula, d, robust, spec.inflation, nb_fits.get(key))
        if spec.kind == "negbin" and "alpha" in res.params.index:  # a ZINB start needs alpha too
            nb_fits[key] = res.params.to_numpy()
        return tidy(res, spec, alpha)  # inside: bse / conf_int are computed lazily and may warn


# ----------------------------------------------------------------------------------------- model sets
def seed_specs(regions, covariates, mmse_factors=None, mmse_adjust=("age", "sex"), has_mmse: bool = True,
               negbin: bool = True, zinb: bool = False, logistic: bool = True, zinb_inflation: str = "1",
               ordinal: bool = False) -> list[ModelSpec]:
    """The seed study's models (OLS of log(count+1) per region; MMSE on each factor + age + sex) and the NB / ZINB /
    logistic versions of the count models."""
    rhs = " + ".join(covariates)
    specs = []
    for r in regions:
        specs.append(ModelSpec(f"ols:log_{r}", "ols", f"log_{r} ~ {rhs}", "seed_counts", f"log({r}+1)"))
    if negbin:
        specs += [ModelSpec(f"negbin:{r}", "negbin", f"{r} ~ {rhs}", "negbin_counts", r) for r in regions]
    if zinb:
        specs += [ModelSpec(f"zinb:{r}", "zinb", f"{r} ~ {rhs}", "zinb_counts", r, inflation=zinb_inflation)
                  for r in regions]
    if logistic:
        specs += [ModelSpec(f"logit:any_{r}", "logit", f"any_{r} ~ {rhs}", "presence", f"any {r} CMB")
                  for r in regions]
    if ordinal:
        specs += [ModelSpec(f"ordinal:cat_{r}", "ordinal", f"cat_{r} ~ {rhs}", "burden_ordinal",
                            f"{r} burden 0/1/2-4/>=5") for r in regions]
    if has_mmse:
        adjust = list(mmse_adjust)
        if adjust:
            specs.append(ModelSpec("ols:mmse~" + "+".join(adjust), "ols", "mmse ~ " + " + ".join(adjust),
                                   "seed_mmse", "mmse", focal=adjust))
        for f in mmse_factors or []:
            if f in adjust:
                continue
            specs.append(ModelSpec(f"ols:mmse~{f}", "ols", "mmse ~ " + " + ".join([f] + adjust), "seed_mmse",
                                   "mmse", focal=[f]))
    return specs


def add_fdr(results: pd.DataFrame, method: str = "fdr_bh") -> pd.DataFrame:
    """Benjamini–Hochberg q-values within each family over its focal terms (regions × covariates is one family).

    Models that did not converge are left out of the family (their q stays empty): their P values are not usable.
    """
    out = results.copy()
    out["p_fdr"] = np.nan
    use = out["focal"].astype(bool) & out["p"].notna() & out["converged"].astype(bool)
    for idx in out[use].groupby("family").groups.values():
        out.loc[idx, "p_fdr"] = bh_fdr(out.loc[idx, "p"].to_numpy(), method)
    return out


def bh_fdr(p, method: str = "fdr_bh") -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (statsmodels' multipletests)."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p, dtype=float)
    return multipletests(p, method=method)[1] if len(p) else p


def model_summary(results: pd.DataFrame) -> pd.DataFrame:
    """One row per model (n, R², AIC/BIC, convergence): compare NB vs ZINB by AIC/BIC here."""
    cols = ["family", "model", "model_id", "outcome", "n", "r2", "adj_r2", "pseudo_r2", "aic", "bic", "llf",
            "converged", "cov_type", "formula"]
    if results.empty:
        return pd.DataFrame(columns=cols)
    return results.drop_duplicates("model_id")[cols].reset_index(drop=True)


def vif(data: pd.DataFrame, covariates) -> pd.DataFrame:
    """Variance inflation factors of the covariates (complete cases, with intercept); > 5 flags collinearity."""
    import statsmodels.api as sm
    from statsmodels.stats.outliers_influence import variance_inflation_factor

    covs = [c for c in covariates if c in data.columns]
    x = data[covs].dropna().astype(float)
    ex = sm.add_constant(x, has_constant="add").to_numpy()
    vals = [float(variance_inflation_factor(ex, i + 1)) for i in range(len(covs))]
    return pd.DataFrame({"term": covs, "vif": vals, "n": len(x)})


# ----------------------------------------------------------------------------------------- table 1
def _is_binary(s: pd.Series) -> bool:
    v = set(pd.unique(s.dropna()))
    return bool(v) and v <= {0, 1}


def _fmt_cont(s: pd.Series, nonnormal: bool) -> str:
    s = s.dropna().astype(float)
    if s.empty:
        return ""
    if nonnormal:
        q1, med, q3 = np.percentile(s, [25, 50, 75])
        return f"{med:.1f} [{q1:.1f}–{q3:.1f}]"
    return f"{s.mean():.1f} ± {s.std(ddof=1):.1f}"


def _fmt_n(k: int, n: int) -> str:
    return f"{k} ({100.0 * k / n:.1f}%)" if n else "0 (–)"


def table1(data: pd.DataFrame, variables=None, group: str | None = None, nonnormal=None) -> pd.DataFrame:
    """Descriptive Table 1, overall and by ``group``: mean ± SD, median [IQR] (``nonnormal``; default counts and
    WMH burden, which are skewed) or n (%) for binary/categorical variables, with a between-group test P
    (t / ANOVA, Mann–Whitney / Kruskal–Wallis, χ²)."""
    if variables is None:
        variables = [c for c in ("age", "sex", "hypertension", "diabetes", "hyperlipidemia", "bmi", "education",
                                 "mmse", "wmh_burden", "total", "lobar", "deep", "infratentorial", "cerebellar")
                     if c in data.columns]
    skew = set(nonnormal) if nonnormal is not None else {"wmh_burden", "wmh_volume", "total", "lobar", "deep",
                                                         "infratentorial", "cerebellar", "brainstem", "frontal",
                                                         "parietal", "temporal", "occipital", "insula"}
    groups: list[tuple[str, pd.DataFrame]] = [("Overall", data)]
    if group is not None:
        if group not in data.columns:
            raise KeyError(f"group column {group!r} not in the pooled table (columns: {list(data.columns)})")
        for g, sub in data.groupby(group, dropna=True, sort=True):
            label = f"{group}={g:g}" if isinstance(g, (int, float, np.floating)) else f"{group}={g}"
            groups.append((label, sub))
    rows = []
    rows.append({"variable": "n", "level": "", **{lab: str(len(df)) for lab, df in groups}, "p": np.nan,
                 "missing": 0})
    for v in variables:
        s = data[v]
        subs = [df[v] for _, df in groups[1:]]
        p = np.nan
        if s.dtype == object or (not _is_binary(s) and not pd.api.types.is_numeric_dtype(s)):
            levels = sorted(s.dropna().unique().tolist())
            if len(subs) > 1:
                ct = pd.crosstab(data[v], data[group])
                if ct.shape[0] > 1 and ct.shape[1] > 1:
                    p = float(sps.chi2_contingency(ct)[1])
            for j, lev in enumerate(levels):
                rows.append({"variable": v, "level": str(lev),
                             **{lab: _fmt_n(int((df[v] == lev).sum()), int(df[v].notna().sum())) for lab, df in groups},
                             "p": p if j == 0 else np.nan, "missing": int(s.isna().sum())})
            continue
        if _is_binary(s):
            if len(subs) > 1:
                ct = pd.crosstab(data[v], data[group])
                if ct.shape[0] > 1 and ct.shape[1] > 1:
                    p = float(sps.chi2_contingency(ct)[1])
            rows.append({"variable": v, "level": "n (%)",
                         **{lab: _fmt_n(int((df[v] == 1).sum()), int(df[v].notna().sum())) for lab, df in groups},
                         "p": p, "missing": int(s.isna().sum())})
            continue
        nn = v in skew
        clean = [x.dropna().astype(float) for x in subs]
        if len(clean) > 1 and all(len(x) > 1 for x in clean):
            if nn:
                p = float(sps.mannwhitneyu(*clean).pvalue if len(clean) == 2 else sps.kruskal(*clean).pvalue)
            else:
                p = float(sps.ttest_ind(*clean).pvalue if len(clean) == 2 else sps.f_oneway(*clean).pvalue)
        rows.append({"variable": v, "level": "median [IQR]" if nn else "mean ± SD",
                     **{lab: _fmt_cont(df[v], nn) for lab, df in groups}, "p": p, "missing": int(s.isna().sum())})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------- all at once
def default_mmse_factors(data: pd.DataFrame, regions) -> list[str]:
    """The seed's MMSE factors present in the data: risk factors, WMH burden, education and CMB counts."""
    cands = ["hypertension", "diabetes", "hyperlipidemia", "bmi", "education", "wmh_burden"] + list(regions)
    return [c for c in cands if c in data.columns]


def run_analysis(pooled: PooledData, options: AnalysisOptions | None = None) -> AnalysisResult:
    """Fit every requested model on the pooled data and return tidy results (+ FDR), a model summary, VIF, Table 1.

    A model that fails (e.g. no variance, no convergence possible) is listed in ``failures`` instead of aborting
    the run; the rest are still reported.
    """
    opt = options or AnalysisOptions()
    data = pooled.data
    report = copy.deepcopy(pooled.report)  # per-analysis n and exclusions; the pooled data stay reusable
    covs = [c for c in (opt.covariates or pooled.covariates) if c in data.columns]
    covs += [t for t in pooled.version_terms if t not in covs]  # --mixed-versions stratify: always adjusted for
    regions = [r for r in opt.regions if r in pooled.regions]
    missing_regions = [r for r in opt.regions if r not in pooled.regions]
    if missing_regions:
        report.notes.append(f"regions not in the cohort table, not modelled: {missing_regions}")
    factors = opt.mmse_factors if opt.mmse_factors is not None else default_mmse_factors(data, regions)
    specs = []
    if opt.seed_models:
        specs = seed_specs(regions, covs, factors, [a for a in opt.mmse_adjust if a in data.columns],
                           has_mmse="mmse" in data.columns, negbin=opt.negbin, zinb=opt.zinb,
                           logistic=opt.logistic, zinb_inflation=opt.zinb_inflation, ordinal=opt.ordinal)
    specs += list(opt.custom)
    parts, failures, nb_fits = [], [], {}
    for spec in specs:
        try:
            part = fit_model(data, spec, opt.robust, opt.alpha, report, nb_fits)
            if not part["converged"].all():
                report.notes.append(f"model {spec.model_id} did not converge; its P values are left out of the FDR")
            parts.append(part)
        except Exception as exc:  # noqa: BLE001 - keep going: one degenerate model must not hide the others
            failures.append(f"{spec.model_id} ({spec.formula}): {exc}")
            report.notes.append(f"model {spec.model_id} failed: {exc}")
    results = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=RESULT_COLUMNS)
    results = add_fdr(results) if not results.empty else results
    v = vif(data, covs) if covs else pd.DataFrame(columns=["term", "vif", "n"])
    t1 = table1(data, group=opt.table1_group)
    return AnalysisResult(results=results, summary=model_summary(results), vif=v, table1=t1, data=data,
                          report=report, options=opt, failures=failures, agreement=pooled.agreement)
