"""Simulated cohorts with known effects.

Tests, the benchmark and the demo need data whose true coefficients are known, laid out exactly like the three
real inputs (cohort CMB table, WMH table, clinical table), so the whole pipeline can be checked end to end.
Everything is drawn from one ``numpy.random.Generator`` seeded by the caller: same seed, same cohort.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

#: Regions written to the simulated cohort table, following docs/case-folder.md.
COHORT_REGIONS = (
    "total", "lobar", "frontal", "parietal", "temporal", "occipital", "insula",
    "deep", "infratentorial", "cerebellar", "brainstem", "unassigned",
)
_LOBES = ("frontal", "parietal", "temporal", "occipital", "insula")
_LOBE_P = (0.30, 0.25, 0.20, 0.20, 0.05)


@dataclass(frozen=True)
class SimEffects:
    """True effects used to draw the cohort.

    Counts: negative binomial (NB2) per base region with log-mean
    ``intercept[region] + Σ count_log_irr[x]·x`` (same slopes in every region, so the IRRs also hold for
    the total and, because a binomial split of an NB count is NB with the same slopes, for definite-only counts).
    MMSE: linear in the listed terms plus N(0, mmse_sd) noise, rounded and clipped to 0–30.
    Covariates are centred where noted (age − 70, BMI − 25, education − 10) only inside the linear predictors.
    """

    count_intercepts: dict[str, float] = field(
        default_factory=lambda: {"lobar": -0.6, "deep": -1.2, "cerebellar": -2.2, "brainstem": -2.6}
    )
    count_log_irr: dict[str, float] = field(
        default_factory=lambda: {
            "age": 0.03, "sex": 0.10, "hypertension": 0.40, "diabetes": 0.10,
            "hyperlipidemia": 0.0, "bmi": 0.0, "wmh_burden": 0.15,
        }
    )
    nb_alpha: float = 0.8
    mmse_intercept: float = 24.0
    mmse_beta: dict[str, float] = field(
        default_factory=lambda: {
            "hyperlipidemia": 1.88, "wmh_burden": -0.17, "total": -0.01,
            "age": -0.05, "sex": 0.30, "education": 0.20,
        }
    )
    mmse_sd: float = 2.0
    p_definite: float = 0.8


@dataclass
class SimulatedCohort:
    """The three tables plus the truth they were drawn from."""

    cohort: pd.DataFrame
    wmh: pd.DataFrame
    clinical: pd.DataFrame
    effects: SimEffects
    seed: int


def _centre(name: str, x: np.ndarray) -> np.ndarray:
    offsets = {"age": 70.0, "bmi": 25.0, "education": 10.0}
    return x - offsets.get(name, 0.0)


def _nb(rng: np.random.Generator, mu: np.ndarray, alpha: float) -> np.ndarray:
    """NB2 draw (variance mu + alpha·mu²) as a gamma–Poisson mixture."""
    lam = rng.gamma(shape=1.0 / alpha, scale=alpha * mu)
    return rng.poisson(lam)


def simulate_cohort(n: int = 500, seed: int = 0, effects: SimEffects | None = None) -> SimulatedCohort:
    """Draw ``n`` cases: cohort table (``<region>_definite/_possible``), WMH table (volume + ICV) and clinical table.

    Sex is coded ``"M"``/``"F"`` and binary factors ``"yes"``/``"no"`` to exercise the column-role codings.
    """
    eff = effects or SimEffects()
    rng = np.random.default_rng(seed)
    ids = np.array([f"sub-{i:05d}" for i in range(n)])

    age = np.clip(rng.normal(70, 8, n), 40, 100).round(0)
    male = rng.binomial(1, 0.45, n)
    htn = rng.binomial(1, 1 / (1 + np.exp(-(-0.2 + 0.04 * (age - 70)))), n)
    dm = rng.binomial(1, 0.25, n)
    hl = rng.binomial(1, 0.40, n)
    bmi = np.clip(rng.normal(24.5, 3.5, n), 15, 45).round(1)
    education = np.clip(rng.normal(10, 4, n), 0, 22).round(0)
    icv = rng.normal(1450, 120, n).round(1)  # mL
    burden = np.clip(rng.lognormal(np.log(1.0) + 0.02 * (age - 70), 0.7, n), 0.01, 25)
    wmh_vol = (burden * icv / 100).round(3)
    burden = 100 * wmh_vol / icv  # what the pipeline will recompute

    cov = {"age": age, "sex": male, "hypertension": htn, "diabetes": dm, "hyperlipidemia": hl,
           "bmi": bmi, "wmh_burden": burden, "education": education}
    lin = sum(b * _centre(k, cov[k]) for k, b in eff.count_log_irr.items())
    base = {r: _nb(rng, np.exp(b0 + lin), eff.nb_alpha) for r, b0 in eff.count_intercepts.items()}

    counts: dict[str, np.ndarray] = {}
    lobes = np.array([rng.multinomial(c, _LOBE_P) for c in base["lobar"]]).reshape(n, len(_LOBES))
    for j, lobe in enumerate(_LOBES):
        counts[lobe] = lobes[:, j]
    counts["lobar"] = base["lobar"]
    counts["deep"] = base["deep"]
    counts["cerebellar"] = base["cerebellar"]
    counts["brainstem"] = base["brainstem"]
    counts["infratentorial"] = base["cerebellar"] + base["brainstem"]
    counts["unassigned"] = np.zeros(n, dtype=int)

    cohort = pd.DataFrame({"case_id": ids})
    definite: dict[str, np.ndarray] = {}
    for r in ("frontal", "parietal", "temporal", "occipital", "insula", "deep", "cerebellar", "brainstem", "unassigned"):
        definite[r] = rng.binomial(counts[r], eff.p_definite)
    definite["lobar"] = sum(definite[r] for r in _LOBES)
    definite["infratentorial"] = definite["cerebellar"] + definite["brainstem"]
    counts["total"] = counts["lobar"] + counts["deep"] + counts["infratentorial"] + counts["unassigned"]
    definite["total"] = definite["lobar"] + definite["deep"] + definite["infratentorial"] + definite["unassigned"]
    for r in COHORT_REGIONS:
        cohort[f"{r}_definite"] = definite[r]
        cohort[f"{r}_possible"] = counts[r] - definite[r]
    cohort["n_pending"] = 0
    cohort["n_rejected"] = rng.poisson(2, n)
    cohort["review_complete"] = 1
    cohort["model"] = "sim"
    cohort["reviewers"] = "sim"

    cov["total"] = counts["total"]
    mm = eff.mmse_intercept + sum(b * _centre(k, cov[k]) for k, b in eff.mmse_beta.items())
    mmse = np.clip(np.round(mm + rng.normal(0, eff.mmse_sd, n)), 0, 30)

    clinical = pd.DataFrame({
        "case_id": ids,
        "age": age,
        "sex": np.where(male == 1, "M", "F"),
        "hypertension": np.where(htn == 1, "yes", "no"),
        "diabetes": np.where(dm == 1, "yes", "no"),
        "hyperlipidemia": np.where(hl == 1, "yes", "no"),
        "bmi": bmi,
        "mmse": mmse,
        "education": education,
    })
    wmh = pd.DataFrame({"case_id": ids, "wmh_volume": wmh_vol, "icv": icv})
    return SimulatedCohort(cohort=cohort, wmh=wmh, clinical=clinical, effects=eff, seed=seed)


def write_simulated(sim: SimulatedCohort, folder, fmt: str = "csv") -> dict[str, str]:
    """Write the three tables as ``cohort.<fmt>``, ``wmh.<fmt>``, ``clinical.<fmt>`` (csv, tsv or xlsx)."""

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, df in (("cohort", sim.cohort), ("wmh", sim.wmh), ("clinical", sim.clinical)):
        path = folder / f"{name}.{fmt}"
        if fmt == "csv":
            df.to_csv(path, index=False)
        elif fmt == "tsv":
            df.to_csv(path, index=False, sep="\t")
        elif fmt == "xlsx":
            df.to_excel(path, index=False)
        else:
            raise ValueError(f"unknown format {fmt!r}; use csv, tsv or xlsx")
        out[name] = str(path)
    return out


def write_demo(folder, n: int = 448, seed: int = 2025, fmt: str = "csv") -> dict[str, str]:
    """A demo study folder: the three tables plus ``study.json`` (a ``cmbquant-stats --config`` file).

    n = 448 like the seed study's reviewed cases; use it for the module's "load demo data" and for tutorials.
    """

    paths = write_simulated(simulate_cohort(n, seed), folder, fmt)
    cfg = {
        "cohort": Path(paths["cohort"]).name, "clinical": Path(paths["clinical"]).name,
        "wmh": Path(paths["wmh"]).name, "title": f"Simulated CMB cohort (n = {n}, seed {seed})",
        "roles": {"sex_coding": {"M": 1, "F": 0}, "count_mode": "definite+possible"},
        "analysis": {"robust": False, "zinb": False, "table1_group": "hypertension"},
        "custom_models": [{"id": "mmse_full", "kind": "ols",
                           "formula": "mmse ~ hyperlipidemia + wmh_burden + total + age + sex + education"}],
    }
    cfg_path = Path(folder) / "study.json"
    cfg_path.write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    paths["config"] = str(cfg_path)
    return paths


def main(argv: list[str] | None = None) -> int:
    """``python -m CMBQuantStatsLib.simulate DIR [--n N] [--seed S] [--format csv|tsv|xlsx]``: write a demo study."""

    ap = argparse.ArgumentParser(prog="python -m CMBQuantStatsLib.simulate", description=main.__doc__)
    ap.add_argument("folder")
    ap.add_argument("--n", type=int, default=448)
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--format", choices=("csv", "tsv", "xlsx"), default="csv")
    args = ap.parse_args(argv)
    paths = write_demo(args.folder, args.n, args.seed, args.format)
    print(f"demo study written; run: cmbquant-stats --config {paths['config']} --out {args.folder}/results")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
