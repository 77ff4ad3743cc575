"""``cmbquant-stats``: pool the tables, fit the models, write CSV / pooling report / HTML report.

Inputs and column roles come from options or from a JSON config file (options override the file), so a run can be
repeated exactly from the config kept next to the results. Any input problem prints one clear message and exits
with status 2, never a traceback: the users are clinicians, not Python programmers.
"""
from __future__ import annotations

import argparse
import sys

from CMBQuantStatsLib.options import KINDS
from CMBQuantStatsLib.pipeline import run_study
from CMBQuantStatsLib.problems import StatsInputError
from CMBQuantStatsLib.roles import COUNT_MODES
from CMBQuantStatsLib.study import DEFAULT_TITLE, CliError, StudyConfig, StudyRequest, build_study
from CMBQuantStatsLib.versions import MIXED_VERSION_MODES

EPILOG = """\
examples:
  cmbquant-stats --cohort cohort.csv --clinical clinical.xlsx --wmh wmh.csv --out results/
  cmbquant-stats --config study.json --out results/ --robust --zinb
  cmbquant-stats ... --role clinical_id=subject --role sex=gender --role sex_coding=m:1,f:0
  cmbquant-stats --cohort ratings.xlsx ... --role total=Total_CMB --role lobar=Lobar   (count columns by role)
  cmbquant-stats --cohort cohort.csv ... --count-mode auto     (automated counts; no review needed)
  cmbquant-stats ... --model "mmse_full=ols:mmse ~ total + wmh_burden + age + sex + education"

config file (JSON; relative paths are relative to the file):
  {"cohort": "cohort.csv", "clinical": "clinical.csv", "wmh": "wmh.csv",
   "roles": {"clinical_id": "subject", "sex": "gender", "sex_coding": {"m": 1, "f": 0},
             "count_mode": "definite"},
   "analysis": {"robust": true, "zinb": true, "table1_group": "hypertension"},
   "custom_models": [{"id": "mmse_full", "kind": "ols", "formula": "mmse ~ total + age + sex"}]}
See docs/stats.md for every role and output column.
"""


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
                   help="column role, e.g. age=Age, sex=gender, sex_coding=m:1,f:0, lipids=ldl,hdl, or a region's "
                   "count column: total=Total_CMB (repeatable)")
    p.add_argument("--count-mode", choices=COUNT_MODES, help="the reader's definite CMBs, definite + possible, or "
                   "auto: the pipeline's counts before review (<region>_auto; an unreviewed batch)")
    p.add_argument("--mixed-versions", choices=MIXED_VERSION_MODES, help="cases processed by different model/"
                   "filter versions (cohort.csv model_version, filter_version): refuse (default), stratify (a "
                   "version covariate in every model, cases per version reported) or allow")
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
    p.add_argument("--title", default=DEFAULT_TITLE, help="report title")
    p.add_argument("--no-plots", action="store_true", help="report without plots (faster)")
    return p


def request_from_args(args: argparse.Namespace) -> StudyRequest:
    """The parsed options as the request :func:`build_study` takes (the Slicer widget builds the same)."""
    return StudyRequest(
        config=args.config, cohort=args.cohort, clinical=args.clinical, wmh=args.wmh, id_column=args.id_column,
        roles=list(args.role), count_mode=args.count_mode, require_review_complete=args.require_review_complete,
        mixed_versions=args.mixed_versions,
        regions=args.regions, covariates=args.covariates, robust=args.robust, zinb=args.zinb, ordinal=args.ordinal,
        no_negbin=args.no_negbin, no_logistic=args.no_logistic, group=args.group, models=list(args.model),
        title=args.title)


def study_from_args(args: argparse.Namespace) -> StudyConfig:
    """Merge the config file (if any) and the command-line options (which win)."""
    return build_study(request_from_args(args))


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
