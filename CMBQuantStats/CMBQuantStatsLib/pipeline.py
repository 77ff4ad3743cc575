"""One run of a study: pool, fit, write every output; the one path shared by the CLI and the Slicer module."""
from __future__ import annotations

from pathlib import Path

from CMBQuantStatsLib.models import AnalysisResult, run_analysis
from CMBQuantStatsLib.pooling import PooledData, pool_tables
from CMBQuantStatsLib.report import write_outputs
from CMBQuantStatsLib.study import CliError, StudyConfig


def run_study(study: StudyConfig, out_dir,
              plots: bool = True) -> tuple[PooledData, AnalysisResult, dict[str, Path]]:
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
