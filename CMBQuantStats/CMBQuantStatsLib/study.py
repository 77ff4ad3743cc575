"""A study: inputs, column roles and analysis options, built from a config file plus choices that override it.

The CLI (from its options) and the Slicer widget (from its widgets) both describe a run as a :class:`StudyRequest`
and turn it into a :class:`StudyConfig` with :func:`build_study`, so the two can never disagree on what a choice means.
Config files round-trip (:func:`save_study` / :func:`load_study`) so a run can be repeated exactly.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from CMBQuantStatsLib.options import KINDS, AnalysisOptions, ModelSpec
from CMBQuantStatsLib.roles import ColumnRoles

DEFAULT_TITLE = "CMBQuant statistics report"
_LIST_ROLES = {"lipids", "extra_numeric", "extra_categorical"}
_CODING_ROLES = {"sex_coding", "binary_coding"}
_BOOL_ROLES = {"require_review_complete"}
ANALYSIS_KEYS = {"regions", "covariates", "mmse_factors", "mmse_adjust", "robust", "seed_models", "negbin", "zinb",
                 "zinb_inflation", "logistic", "ordinal", "alpha", "table1_group"}
_CONFIG_KEYS = {"cohort", "clinical", "wmh", "roles", "analysis", "custom_models", "title"}


class CliError(ValueError):
    """A usage problem reported as one line."""


@dataclass
class StudyRequest:
    """What the user chose (command line or widgets); set fields override the config file's."""

    config: str | None = None
    cohort: str | None = None
    clinical: str | None = None
    wmh: str | None = None
    id_column: str | None = None
    roles: list[str] = field(default_factory=list)  # KEY=VALUE, e.g. "sex=gender", "sex_coding=m:1,f:0"
    count_mode: str | None = None
    require_review_complete: bool = False
    mixed_versions: str | None = None  # refuse / stratify / allow (None: the config's, else refuse)
    regions: str | None = None  # comma-separated
    covariates: str | None = None  # comma-separated
    robust: bool = False
    zinb: bool = False
    ordinal: bool = False
    no_negbin: bool = False
    no_logistic: bool = False
    group: str | None = None
    models: list[str] = field(default_factory=list)  # [ID=][KIND:]FORMULA
    title: str = DEFAULT_TITLE


@dataclass
class StudyConfig:
    """Everything one run needs; what a config file holds once paths are resolved."""

    cohort: str | None
    clinical: str | None
    wmh: str | None
    roles: ColumnRoles
    options: AnalysisOptions
    title: str = DEFAULT_TITLE


def split_list(v) -> list[str]:
    if isinstance(v, list):
        return [str(x).strip() for x in v]
    return [x.strip() for x in str(v).split(",") if x.strip()]


def _coding(v) -> dict[str, int]:
    if isinstance(v, dict):
        return {str(k): int(x) for k, x in v.items()}
    out = {}
    for item in split_list(v):
        if ":" not in item:
            raise CliError(f"coding '{v}' must look like m:1,f:0")
        k, x = item.rsplit(":", 1)
        try:
            out[k.strip()] = int(x)
        except ValueError:
            raise CliError(f"coding value '{x}' in '{v}' must be 0 or 1") from None
    return out


def _roles(cfg_roles: dict, req: StudyRequest) -> ColumnRoles:
    d = dict(cfg_roles)
    for item in req.roles:
        if "=" not in item:
            raise CliError(f"--role '{item}' must look like KEY=VALUE, e.g. sex=gender")
        k, v = item.split("=", 1)
        d[k.strip()] = v.strip()
    if req.id_column:
        d.update(cohort_id=req.id_column, wmh_id=req.id_column, clinical_id=req.id_column)
    if req.count_mode:
        d["count_mode"] = req.count_mode
    if req.require_review_complete:
        d["require_review_complete"] = True
    if req.mixed_versions:
        d["mixed_versions"] = req.mixed_versions
    for k in list(d):
        if k in _LIST_ROLES:
            d[k] = split_list(d[k])
        elif k in _CODING_ROLES:
            d[k] = _coding(d[k])
        elif k in _BOOL_ROLES and isinstance(d[k], str):
            d[k] = d[k].lower() in ("1", "true", "yes")
    return ColumnRoles.from_dict(d)


def parse_model(text: str, index: int) -> ModelSpec:
    """``[ID=][KIND:]FORMULA`` → ModelSpec (kind defaults to ols, id to custom<index>)."""
    mid = f"custom{index}"
    head, _, rest = text.partition("~")
    if not rest:
        raise CliError(f"model '{text}' has no '~' (write it like 'mmse ~ total + age + sex')")
    if "=" in head:
        mid, head = (x.strip() for x in head.split("=", 1))
    kind = "ols"
    if ":" in head:
        kind, head = (x.strip() for x in head.split(":", 1))
    if kind not in KINDS:
        raise CliError(f"model kind '{kind}' unknown; use one of {sorted(KINDS)}")
    return ModelSpec(model_id=mid, kind=kind, formula=f"{head.strip()} ~ {rest.strip()}", family="custom")


def _load_config(path: str | None) -> tuple[dict, Path]:
    if not path:
        return {}, Path.cwd()
    p = Path(path)
    if not p.exists():
        raise CliError(f"config file {p} not found")
    try:
        cfg = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CliError(f"config file {p}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(cfg, dict):
        raise CliError(f"config file {p} must hold a JSON object")
    unknown = sorted(set(cfg) - _CONFIG_KEYS)
    if unknown:
        raise CliError(f"config file {p}: unknown key(s) {unknown}")
    return cfg, p.parent


def _input(arg: str | None, cfg: dict, key: str, base: Path) -> str | None:
    if arg:
        return arg
    v = cfg.get(key)
    if v is None:
        return None
    vp = Path(v)
    return str(vp if vp.is_absolute() else base / vp)


def _custom_models(cfg: dict) -> list[ModelSpec]:
    custom = []
    for i, m in enumerate(cfg.get("custom_models", []), 1):
        if not isinstance(m, dict) or "formula" not in m:
            raise CliError("config 'custom_models' entries need at least a 'formula'")
        kind = m.get("kind", "ols")
        if kind not in KINDS:
            raise CliError(f"custom model kind '{kind}' unknown; use one of {sorted(KINDS)}")
        custom.append(ModelSpec(model_id=m.get("id", f"config{i}"), kind=kind, formula=m["formula"],
                                family="custom", inflation=m.get("inflation", "1")))
    return custom


def _options(req: StudyRequest, cfg: dict) -> AnalysisOptions:
    a = dict(cfg.get("analysis", {}))
    unknown = sorted(set(a) - ANALYSIS_KEYS)
    if unknown:
        raise CliError(f"config 'analysis': unknown key(s) {unknown}; allowed {sorted(ANALYSIS_KEYS)}")
    for k in ("regions", "covariates", "mmse_factors", "mmse_adjust"):
        if a.get(k) is not None:  # null = default
            a[k] = split_list(a[k])
    if req.regions:
        a["regions"] = split_list(req.regions)
    if req.covariates:
        a["covariates"] = split_list(req.covariates)
    for flag in ("robust", "zinb", "ordinal"):
        if getattr(req, flag):
            a[flag] = True
    if req.no_negbin:
        a["negbin"] = False
    if req.no_logistic:
        a["logistic"] = False
    if req.group:
        a["table1_group"] = req.group
    custom = _custom_models(cfg) + [parse_model(t, i) for i, t in enumerate(req.models, 1)]
    return AnalysisOptions(custom=custom, **a)


def build_study(req: StudyRequest) -> StudyConfig:
    """Merge the config file (if any) and the request's choices (which win)."""
    cfg, base = _load_config(req.config)
    return StudyConfig(
        cohort=_input(req.cohort, cfg, "cohort", base),
        clinical=_input(req.clinical, cfg, "clinical", base),
        wmh=_input(req.wmh, cfg, "wmh", base),
        roles=_roles(cfg.get("roles", {}), req),
        options=_options(req, cfg),
        title=cfg.get("title", req.title),
    )


def load_study(path) -> StudyConfig:
    """Read a JSON config file (e.g. for the Slicer module's "Load study" button); raises CliError / ValueError."""
    return build_study(StudyRequest(config=str(path)))


def save_study(study: StudyConfig, path) -> Path:
    """Write ``study`` as a config file that ``load_study`` and ``cmbquant-stats --config`` read back."""
    opt = study.options
    analysis = {k: getattr(opt, k) for k in sorted(ANALYSIS_KEYS)}
    cfg = {
        "cohort": study.cohort, "clinical": study.clinical, "wmh": study.wmh, "title": study.title,
        "roles": study.roles.to_dict(), "analysis": analysis,
        "custom_models": [{"id": m.model_id, "kind": m.kind, "formula": m.formula, "inflation": m.inflation}
                          for m in opt.custom],
    }
    path = Path(path)
    path.write_text(json.dumps({k: v for k, v in cfg.items() if v is not None}, indent=2), encoding="utf-8")
    return path
