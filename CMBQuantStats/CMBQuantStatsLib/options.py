"""What to fit: model kinds, one model's spec, and the analysis options (no statsmodels needed to build them).

Kept apart from the fitting so a study can be configured (CLI, config file, Slicer widget) before the optional
statistics packages are installed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: Regions the seed study modelled.
SEED_REGIONS = ("total", "lobar", "deep", "infratentorial", "cerebellar")
#: Covariates of the seed study's count models (lipids = hyperlipidemia).
SEED_COVARIATES = ("age", "sex", "hypertension", "diabetes", "hyperlipidemia", "bmi", "wmh_burden")
#: Model kinds and the effect measure reported next to the coefficient.
KINDS = {"ols": "beta", "negbin": "IRR", "zinb": "IRR", "logit": "OR", "ordinal": "OR"}


@dataclass
class ModelSpec:
    """One model to fit. ``focal`` terms enter the FDR family (None = every term except intercept/ancillary)."""

    model_id: str
    kind: str
    formula: str
    family: str = "custom"
    outcome: str | None = None
    focal: list[str] | None = None
    inflation: str = "1"


@dataclass
class AnalysisOptions:
    """What to fit. Defaults reproduce the seed study plus NB and logistic models; ZINB is opt-in (slower)."""

    regions: list[str] = field(default_factory=lambda: list(SEED_REGIONS))
    covariates: list[str] | None = None
    mmse_factors: list[str] | None = None
    mmse_adjust: list[str] = field(default_factory=lambda: ["age", "sex"])
    robust: bool = False
    seed_models: bool = True
    negbin: bool = True
    zinb: bool = False
    zinb_inflation: str = "1"
    logistic: bool = True
    ordinal: bool = False
    custom: list[ModelSpec] = field(default_factory=list)
    alpha: float = 0.05
    table1_group: str | None = None
