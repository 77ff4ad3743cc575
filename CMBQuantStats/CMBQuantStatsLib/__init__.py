"""CMBQuantStats' pure logic: tables -> models -> report (and validation of CMB detectors).

Modules (imported on demand so that loading the Slicer module stays fast; no Qt anywhere):

* ``tables``   ColumnRoles, pool_tables, StatsInputError, PoolingReport
* ``models``   AnalysisOptions, ModelSpec, run_analysis, fit_model, table1, vif, add_fdr
* ``report``   build_report, write_outputs, ReportSection (extra sections such as detector validation)
* ``nodes``    dataframe_to_table_node, forest_plot_chart, scatter_chart (MRML scene as an argument)
* ``cli``      ``cmbquant-stats`` (main), load_study / save_study config files
* ``simulate`` simulate_cohort, write_demo (known effects; tests, benchmark, demo)

See docs/stats.md.
"""

__version__ = "0.1.0"
