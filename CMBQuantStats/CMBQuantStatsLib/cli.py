"""``cmbquant-stats``: pool the tables, fit the models, write CSV / pooling report / HTML report.

Inputs and column roles come from options or from a JSON config file (options override the file), so a run can be
repeated exactly from the config kept next to the results. Any input problem prints one clear message and exits
with status 2, never a traceback: the users are clinicians, not Python programmers.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from CMBQuantStatsLib.models import KINDS, AnalysisOptions, ModelSpec, run_analysis
from CMBQuantStatsLib.report import write_outputs
from CMBQuantStatsLib.tables import COUNT_MODES, ColumnRoles, StatsInputError, pool_tables

_LIST_ROLES = {"lipids", "extra_numeric", "extra_categorical"}
_CODING_ROLES = {"sex_coding", "binary_coding"}
_BOOL_ROLES = {"require_review_complete"}
_ANALYSIS_KEYS = {"regions", "covariates", "mmse_factors", "mmse_adjust", "robust", "seed_models", "negbin", "zinb",
                  "zinb_inflation", "logistic", "ordinal", "alpha", "table1_group"}

EPILOG = """\
examples:
  cmbquant-stats --cohort cohort.csv --clinical clinical.xlsx --wmh wmh.csv --out results/
  cmbquant-stats --config study.json --out results/ --robust --zinb
  cmbquant-stats ... --role clinical_id=subject --role sex=gender --role sex_coding=m:1,f:0
  cmbquant-stats ... --model "mmse_full=ols:mmse ~ total + wmh_burden + age + sex + education"

config file (JSON; relative paths are relative to the file):
  {"cohort": "cohort.csv", "clinical": "clinical.csv", "wmh": "wmh.csv",
   "roles": {"clinical_id": "subject", "sex": "gender", "sex_coding": {"m": 1, "f": 0},
             "count_mode": "definite"},
   "analysis": {"robust": true, "zinb": true, "table1_group": "hypertension"},
   "custom_models": [{"id": "mmse_full", "kind": "ols", "formula": "mmse ~ total + age + sex"}]}
See docs/stats.md for every role and output column.
"""


class CliError(ValueError):
    """A usage problem reported as one line."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cmbquant-stats", description="Pool CMB counts with WMH and clinical tables and fit the CMB models "
        "(seed OLS / MMSE models, negative binomial, ZINB, logistic; FDR, VIF, Table 1).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="JSON config file with inputs, roles, analysis options, custom models")
    p.add_argument("--cohort", help="cohort CMB table (cohort.csv from CMBQuant; .csv, .tsv or .xlsx)")
    p.add_argument("--clinical", help="clinical table (age, sex, hypertension, ... MMSE)")
    p.add_argument("--wmh", help="WMH table (burden in %%, or WMH volume + ICV); optional if in the clinical table")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--id-column", help="name of the case-ID column in all three tables")
    p.add_argument("--role", action="append", default=[], metavar="KEY=VALUE",
                   help="column role, e.g. age=Age, sex=gender, sex_coding=m:1,f:0, lipids=ldl,hdl (repeatable)")
    p.add_argument("--count-mode", choices=COUNT_MODES, help="count definite CMBs only or definite + possible")
    p.add_argument("--require-review-complete", action="store_true", help="drop cases whose review is not complete")
    p.add_argument("--regions", help="comma-separated regions to model (default total,lobar,deep,infratentorial,"
                   "cerebellar)")
    p.add_argument("--covariates", help="comma-separated covariates of the count models (default: the seed's)")
    p.add_argument("--robust", action="store_true", help="HC3 robust SEs (OLS; HC0 sandwich for count/logistic)")
    p.add_argument("--zinb", action="store_true", help="also fit zero-inflated negative binomial models")
    p.add_argument("--ordinal", action="store_true",
                   help="also fit proportional-odds models of burden categories 0 / 1 / 2-4 / >=5")
    p.add_argument("--no-negbin", action="store_true", help="skip the negative binomial models")
    p.add_argument("--no-logistic", action="store_true", help="skip the logistic models for CMB presence")
    p.add_argument("--group", help="Table 1 by this pooled column (e.g. hypertension, sex)")
    p.add_argument("--model", action="append", default=[], metavar="[ID=][KIND:]FORMULA",
                   help=f"extra model, KIND one of {sorted(KINDS)} (default ols), e.g. 'negbin:deep ~ age + sex'")
    p.add_argument("--title", default="CMBQuant statistics report", help="report title")
    p.add_argument("--no-plots", action="store_true", help="report without plots (faster)")
    return p


def _split_list(v) -> list[str]:
    if isinstance(v, list):
        return [str(x).strip() for x in v]
    return [x.strip() for x in str(v).split(",") if x.strip()]


def _coding(v) -> dict[str, int]:
    if isinstance(v, dict):
        return {str(k): int(x) for k, x in v.items()}
    out = {}
    for item in _split_list(v):
        if ":" not in item:
            raise CliError(f"coding '{v}' must look like m:1,f:0")
        k, x = item.rsplit(":", 1)
        try:
            out[k.strip()] = int(x)
        except ValueError:
            raise CliError(f"coding value '{x}' in '{v}' must be 0 or 1") from None
    return out


def _roles(cfg_roles: dict, role_args: list[str], id_column: str | None, count_mode: str | None,
           require_complete: bool) -> ColumnRoles:
    d = dict(cfg_roles)
    for item in role_args:
        if "=" not in item:
            raise CliError(f"--role '{item}' must look like KEY=VALUE, e.g. sex=gender")
        k, v = item.split("=", 1)
        d[k.strip()] = v.strip()
    if id_column:
        d.update(cohort_id=id_column, wmh_id=id_column, clinical_id=id_column)
    if count_mode:
        d["count_mode"] = count_mode
    if require_complete:
        d["require_review_complete"] = True
    for k in list(d):
        if k in _LIST_ROLES:
            d[k] = _split_list(d[k])
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
    unknown = sorted(set(cfg) - {"cohort", "clinical", "wmh", "roles", "analysis", "custom_models", "title"})
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


def _options(args, cfg: dict) -> AnalysisOptions:
    a = dict(cfg.get("analysis", {}))
    unknown = sorted(set(a) - _ANALYSIS_KEYS)
    if unknown:
        raise CliError(f"config 'analysis': unknown key(s) {unknown}; allowed {sorted(_ANALYSIS_KEYS)}")
    for k in ("regions", "covariates", "mmse_factors", "mmse_adjust"):
        if a.get(k) is not None:  # null = default
            a[k] = _split_list(a[k])
    if args.regions:
        a["regions"] = _split_list(args.regions)
    if args.covariates:
        a["covariates"] = _split_list(args.covariates)
    if args.robust:
        a["robust"] = True
    if args.zinb:
        a["zinb"] = True
    if args.ordinal:
        a["ordinal"] = True
    if args.no_negbin:
        a["negbin"] = False
    if args.no_logistic:
        a["logistic"] = False
    if args.group:
        a["table1_group"] = args.group
    custom = []
    for i, m in enumerate(cfg.get("custom_models", []), 1):
        if not isinstance(m, dict) or "formula" not in m:
            raise CliError("config 'custom_models' entries need at least a 'formula'")
        kind = m.get("kind", "ols")
        if kind not in KINDS:
            raise CliError(f"custom model kind '{kind}' unknown; use one of {sorted(KINDS)}")
        custom.append(ModelSpec(model_id=m.get("id", f"config{i}"), kind=kind, formula=m["formula"],
                                family="custom", inflation=m.get("inflation", "1")))
    custom += [parse_model(t, i) for i, t in enumerate(args.model, 1)]
    return AnalysisOptions(custom=custom, **a)


@dataclass
class StudyConfig:
    """Everything one run needs; what a config file holds once paths are resolved."""

    cohort: str | None
    clinical: str | None
    wmh: str | None
    roles: ColumnRoles
    options: AnalysisOptions
    title: str = "CMBQuant statistics report"


def study_from_args(args: argparse.Namespace) -> StudyConfig:
    """Merge the config file (if any) and the command-line options (which win)."""
    cfg, base = _load_config(args.config)
    return StudyConfig(
        cohort=_input(args.cohort, cfg, "cohort", base),
        clinical=_input(args.clinical, cfg, "clinical", base),
        wmh=_input(args.wmh, cfg, "wmh", base),
        roles=_roles(cfg.get("roles", {}), args.role, args.id_column, args.count_mode, args.require_review_complete),
        options=_options(args, cfg),
        title=cfg.get("title", args.title),
    )


def load_study(path) -> StudyConfig:
    """Read a JSON config file (e.g. for the Slicer module's "Load study" button); raises CliError / ValueError."""
    return study_from_args(build_parser().parse_args(["--config", str(path), "--out", "."]))


def save_study(study: StudyConfig, path) -> Path:
    """Write ``study`` as a config file that ``load_study`` and ``cmbquant-stats --config`` read back."""
    opt = study.options
    analysis = {k: getattr(opt, k) for k in sorted(_ANALYSIS_KEYS)}
    cfg = {
        "cohort": study.cohort, "clinical": study.clinical, "wmh": study.wmh, "title": study.title,
        "roles": study.roles.to_dict(), "analysis": analysis,
        "custom_models": [{"id": m.model_id, "kind": m.kind, "formula": m.formula, "inflation": m.inflation}
                          for m in opt.custom],
    }
    path = Path(path)
    path.write_text(json.dumps({k: v for k, v in cfg.items() if v is not None}, indent=2), encoding="utf-8")
    return path


def run_study(study: StudyConfig, out_dir, plots: bool = True):
    """Pool, fit and write every output: the one path shared by the CLI and the Slicer module."""
    if not study.cohort or not study.clinical:
        raise CliError("give --cohort and --clinical (or 'cohort' and 'clinical' in the --config file)")
    options = study.options
    pooled = pool_tables(study.cohort, study.clinical, study.wmh, study.roles)
    if options.table1_group and options.table1_group not in pooled.data.columns:
        raise CliError(f"--group '{options.table1_group}' is not a pooled column; use one of "
                       f"{[c for c in pooled.data.columns if not c.startswith(('log_', 'any_'))]}")
    analysis = run_analysis(pooled, options)
    paths = write_outputs(analysis, out_dir, title=study.title, plots=plots)
    return pooled, analysis, paths


def run(args: argparse.Namespace) -> int:
    pooled, analysis, paths = run_study(study_from_args(args), args.out, plots=not args.no_plots)
    n_models = analysis.summary.shape[0]
    print(f"pooled {pooled.report.n_pooled} cases ({len(pooled.report.dropped)} rows dropped, see "
          f"{paths['pooling_txt'].name}); fitted {n_models} models"
          + (f"; {len(analysis.failures)} failed (see report)" if analysis.failures else ""))
    for k in ("results", "pooling_json", "pooling_txt", "html"):
        print(f"  {k}: {paths[k]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit status (0 ok, 2 input or usage error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or argparse usage error (2): already printed
        return int(exc.code or 0)
    try:
        return run(args)
    except StatsInputError as exc:
        print(f"cmbquant-stats: error: {exc}", file=sys.stderr)
        return 2
    except (CliError, KeyError, ValueError, OSError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"cmbquant-stats: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
