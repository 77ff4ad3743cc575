"""CMBQuantStats' pure logic: tables -> models -> report.

Modules (imported on demand so that loading the Slicer module stays fast; no Qt anywhere):

* tables, by role: ``problems`` (StatsInputError), ``roles`` (ColumnRoles), ``reading`` (read_table),
  ``values``, ``case_ids``, ``cohort_counts`` (counts by count mode or count column role), ``table_parsers``,
  ``pooling_report`` (PoolingReport), ``pooling`` (pool_tables), ``agreement`` (model vs reader per region)
* ``options``  AnalysisOptions, ModelSpec, KINDS (configuring needs no statsmodels)
* ``models``   run_analysis, fit_model, table1, vif, add_fdr; ``zinb`` the ZINB fit (vectorised likelihood)
* ``report``   build_report, write_outputs, ReportSection (extra sections such as detector validation)
* ``nodes``    dataframe_to_table_node, forest_plot_chart, scatter_chart (MRML scene as an argument)
* ``study``    StudyRequest -> build_study -> StudyConfig (CLI and Slicer widget), load_study / save_study
* ``pipeline`` run_study; ``parameters`` the Slicer module's parameter node; ``cli`` ``cmbquant-stats``
* ``simulate`` simulate_cohort, write_demo (known effects; tests, benchmark, demo)

See docs/stats.md.
"""

__version__ = "0.1.0"
