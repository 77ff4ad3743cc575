"""Benchmark: pooling + all models on a simulated 10,000-case cohort vs plain statsmodels fits on the same data.

Run:  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/bench_stats.py [--n 10000] [--no-zinb] [--report]
(one BLAS thread: these small problems gain nothing from threads and lose a lot on a busy machine)
Target: pooling + models <= 5 s. The ratio shows our overhead (validation, complete cases, tidying, FDR, VIF,
Table 1) over calling statsmodels directly for the same models. The ZINB line times the five ZINB fits alone (each
with its NB start) against the same fits in plain statsmodels: the same numbers, from a vectorised likelihood
(CMBQuantStatsLib/zinb.py).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "CMBQuantStats"))

import numpy as np
import patsy
import statsmodels.formula.api as smf
from statsmodels.discrete.count_model import ZeroInflatedNegativeBinomialP

from CMBQuantStatsLib.models import ZINB_INFLATE_START, default_mmse_factors, run_analysis
from CMBQuantStatsLib.options import SEED_COVARIATES, SEED_REGIONS, AnalysisOptions
from CMBQuantStatsLib.pooling import pool_tables
from CMBQuantStatsLib.report import write_outputs
from CMBQuantStatsLib.simulate import simulate_cohort, write_simulated
from CMBQuantStatsLib.zinb import fit_zinb


def plain_zinb(d, r: str):
    """One ZINB as a statsmodels user fits it: NB start, then BFGS (touching SEs and P values)."""
    f = f"{r} ~ {' + '.join(SEED_COVARIATES)}"
    nb = smf.negativebinomial(f, d).fit(disp=0, maxiter=200)
    infl = patsy.dmatrix("1", d, return_type="dataframe")
    return ZeroInflatedNegativeBinomialP.from_formula(f, d, exog_infl=infl).fit(
        start_params=np.r_[ZINB_INFLATE_START, nb.params.to_numpy()], method="bfgs", maxiter=1000, disp=0)


def zinb_times(d) -> tuple[float, float]:
    """Seconds for the five seed-region ZINB fits: ours (``fit_zinb``), plain statsmodels."""
    d = d.dropna(subset=list(SEED_COVARIATES))
    t0 = time.perf_counter()
    for r in SEED_REGIONS:
        res = fit_zinb(f"{r} ~ {' + '.join(SEED_COVARIATES)}", d)
        res.bse, res.pvalues
    t1 = time.perf_counter()
    for r in SEED_REGIONS:
        res = plain_zinb(d, r)
        res.bse, res.pvalues
    return t1 - t0, time.perf_counter() - t1


def plain_statsmodels(d, zinb: bool) -> int:
    """The same models fitted by hand on the same (complete) data; touch bse/CI/p like the tidy step does."""
    rhs = " + ".join(SEED_COVARIATES)
    fits = []
    for r in SEED_REGIONS:
        fits.append(smf.ols(f"log_{r} ~ {rhs}", d).fit())
        fits.append(smf.negativebinomial(f"{r} ~ {rhs}", d).fit(disp=0, maxiter=200))
        if zinb:
            fits.append(plain_zinb(d, r))
        fits.append(smf.logit(f"any_{r} ~ {rhs}", d).fit(disp=0, maxiter=200))
    fits.append(smf.ols("mmse ~ age + sex", d).fit())
    for f in default_mmse_factors(d, SEED_REGIONS):
        fits.append(smf.ols(f"mmse ~ {f} + age + sex", d).fit())
    for res in fits:
        res.bse, res.conf_int(), res.pvalues
    return len(fits)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-zinb", action="store_true", help="leave out the ZINB models")
    ap.add_argument("--report", action="store_true", help="also time writing CSV + HTML report with plots")
    args = ap.parse_args()
    zinb = not args.no_zinb
    warnings.simplefilter("ignore")

    sim = simulate_cohort(args.n, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_simulated(sim, tmp, "csv")
        c0 = time.process_time()
        t0 = time.perf_counter()
        pooled = pool_tables(paths["cohort"], paths["clinical"], paths["wmh"])
        t1 = time.perf_counter()
        analysis = run_analysis(pooled, AnalysisOptions(zinb=zinb))
        t2 = time.perf_counter()
        c2 = time.process_time()
        if args.report:
            write_outputs(analysis, Path(tmp) / "out")
        t3 = time.perf_counter()
    d = pooled.data
    c4, t4 = time.process_time(), time.perf_counter()
    n_plain = plain_statsmodels(d, zinb)
    t5, c5 = time.perf_counter(), time.process_time()

    ours, plain = t2 - t0, t5 - t4
    n_models = analysis.summary.shape[0]
    print(f"cases: {args.n}  models: {n_models} (plain: {n_plain})  zinb: {zinb}  failures: {len(analysis.failures)}")
    print(f"pooling (read 3 CSV + validate + join): {t1 - t0:6.2f} s")
    print(f"models (fit + tidy + FDR + VIF + Table 1): {t2 - t1:6.2f} s")
    print(f"pooling + models:                       {ours:6.2f} s   (target <= 5 s: {'OK' if ours <= 5 else 'MISSED'})")
    if args.report:
        print(f"CSV + HTML report with plots:           {t3 - t2:6.2f} s")
    print(f"plain statsmodels, same models:         {plain:6.2f} s")
    print(f"ratio (pooling+models) / plain:         {ours / plain:6.2f}x;  models only / plain: {(t2 - t1) / plain:.2f}x")
    # CPU time of this process: less sensitive than wall time to other jobs on a shared machine
    print(f"CPU time: pooling+models {c2 - c0:.2f} s, plain statsmodels {c5 - c4:.2f} s, "
          f"ratio {(c2 - c0) / (c5 - c4):.2f}x")
    if zinb:
        z_ours, z_plain = zinb_times(d)
        print(f"ZINB fits alone (5 regions, NB start each): {z_ours:.2f} s, plain statsmodels {z_plain:.2f} s, "
              f"ratio {z_ours / z_plain:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
