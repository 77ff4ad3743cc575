"""CMBQuantStats Slicer module: builds the panels on CMBQuantStats.ui; the statistics live in CMBQuantStatsLib."""
from __future__ import annotations

from pathlib import Path

import slicer
from CMBQuantStatsWidgets.inputs_panel import StatsInputsPanel
from CMBQuantStatsWidgets.results_panel import StatsResultsPanel
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)

from CMBQuantLib.core.dependencies import Requirement, ensure
from CMBQuantStatsLib.parameters import StatsParameters, load_parameters, parameter_node, save_parameters
from CMBQuantStatsLib.study import StudyConfig, StudyRequest, build_study

#: Installed on first use, with consent (never at import); statsmodels brings pandas, scipy and patsy.
STATS_REQUIREMENTS = (Requirement("statsmodels", "statsmodels>=0.14"), Requirement("openpyxl", "openpyxl>=3.1"),
                      Requirement("matplotlib", "matplotlib>=3.7"))


class CMBQuantStats(ScriptedLoadableModule):
    def __init__(self, parent):
        super().__init__(parent)
        parent.title = "CMBQuant Stats"
        parent.categories = ["Quantification"]
        parent.dependencies = ["CMBQuant"]  # the shared consent helper (CMBQuantLib.core.dependencies)
        parent.contributors = ["CMBQuant developers"]
        parent.helpText = ("Pool reviewed CMB counts with WMH and clinical tables, fit the seed study's regressions "
                           "and count models, write an HTML report. Detector evaluation is in the CMBQuant module.")
        parent.acknowledgementText = "Ko et al., AJNR 2025;46:1007; statsmodels."


class CMBQuantStatsLogic(ScriptedLoadableModuleLogic):
    """The scene side of the module: its parameter node, the study run (the CLI's own) and the result views."""

    def load_parameters(self) -> StatsParameters:
        return load_parameters(parameter_node(slicer.mrmlScene))

    def save_parameters(self, params: StatsParameters) -> None:
        save_parameters(parameter_node(slicer.mrmlScene), params)

    def ensure_dependencies(self) -> bool:
        return ensure(STATS_REQUIREMENTS, "CMBQuant Stats", slicer.util.confirmOkCancelDisplay,
                      lambda specs: slicer.util.pip_install(" ".join(specs)))

    def default_output(self) -> str:
        return str(Path(slicer.app.temporaryPath) / "CMBQuantStats")

    def analyse(self, study: StudyConfig, out_dir: str):
        """Pool, fit and write the outputs, then mirror the results into a table node and plot charts."""
        # imported here: they need pandas / statsmodels, installed by ensure_dependencies on first use
        from CMBQuantStatsLib.nodes import dataframe_to_table_node, forest_plot_chart, scatter_chart
        from CMBQuantStatsLib.pipeline import run_study

        pooled, analysis, paths = run_study(study, out_dir)
        scene = slicer.mrmlScene
        table = dataframe_to_table_node(scene, analysis.results, name="CMBQuant results")
        charts = [forest_plot_chart(scene, analysis.results), scatter_chart(scene, pooled.data)]
        return table, charts, paths

    def show_results(self, table, charts) -> None:
        slicer.app.layoutManager().setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpPlotTableView)
        selection = slicer.app.applicationLogic().GetSelectionNode()
        selection.SetActiveTableID(table.GetID())
        selection.SetActivePlotChartID(charts[0].GetID())
        slicer.app.applicationLogic().PropagateTableSelection()
        slicer.app.applicationLogic().PropagatePlotChartSelection()


class CMBQuantStatsWidget(ScriptedLoadableModuleWidget):
    """Loads the .ui and builds the panels; the panels talk to the logic only."""

    def setup(self):
        super().setup()
        ui_widget = slicer.util.loadUI(self.resourcePath("UI/CMBQuantStats.ui"))
        self.layout.addWidget(ui_widget)
        self.ui = slicer.util.childWidgetVariables(ui_widget)
        ui_widget.setMRMLScene(slicer.mrmlScene)
        self.logic = CMBQuantStatsLogic()
        self.inputs = StatsInputsPanel(self.ui, self.logic)
        self.results = StatsResultsPanel(self.ui, self.logic, self.inputs.read)
        self.inputs.setup()
        self.results.setup()

    def enter(self):
        """Show the scene's choices (a scene loaded since setup brings its own parameter node)."""
        self.inputs.show(self.logic.load_parameters())


class CMBQuantStatsTest(ScriptedLoadableModuleTest):
    """Inside Slicer: a simulated study through the real pipeline into table and plot nodes; the parameter node."""

    def runTest(self):
        import tempfile

        from CMBQuantStatsLib.simulate import write_demo

        slicer.mrmlScene.Clear()
        folder = tempfile.mkdtemp()
        files = write_demo(folder, n=300, seed=7)
        logic = CMBQuantStatsLogic()
        table, charts, paths = logic.analyse(build_study(StudyRequest(config=str(files["config"]))), folder)
        self.assertGreater(table.GetTable().GetNumberOfRows(), 10)
        self.assertTrue(Path(paths["html"]).exists())
        params = StatsParameters(config=str(files["config"]), robust=True, formula="mmse ~ total + age")
        logic.save_parameters(params)
        self.assertEqual(logic.load_parameters(), params)
