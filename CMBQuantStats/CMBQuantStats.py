"""CMBQuantStats Slicer module: binds CMBQuantStats.ui to CMBQuantStatsLib. No statistics live here."""
from __future__ import annotations

from pathlib import Path

import slicer
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)

STATS_REQUIREMENTS = "statsmodels>=0.14 openpyxl>=3.1 matplotlib>=3.7"


class CMBQuantStats(ScriptedLoadableModule):
    def __init__(self, parent):
        super().__init__(parent)
        parent.title = "CMBQuant Stats"
        parent.categories = ["Quantification"]
        parent.dependencies = []
        parent.contributors = ["CMBQuant developers"]
        parent.helpText = ("Pool reviewed CMB counts with WMH and clinical tables, fit the seed study's regressions "
                           "and count models, validate a CMB model against reference labels, write an HTML report.")
        parent.acknowledgementText = "Ko et al., AJNR 2025;46:1007; statsmodels."


def ensure_stats_dependencies() -> bool:
    """statsmodels & co are installed on first use, with consent (never at import)."""
    try:
        import matplotlib  # noqa: F401
        import openpyxl  # noqa: F401
        import statsmodels  # noqa: F401
    except ImportError:
        if not slicer.util.confirmOkCancelDisplay(f"CMBQuantStats needs to install: {STATS_REQUIREMENTS}. Proceed?"):
            return False
        slicer.util.pip_install(STATS_REQUIREMENTS)
    return True


class CMBQuantStatsLogic(ScriptedLoadableModuleLogic):
    """Runs the CLI's own study pipeline and mirrors results into MRML table and plot nodes."""

    def analyse(self, argv: list[str], out_dir: str):
        from CMBQuantStatsLib.cli import build_parser, run_study, study_from_args
        from CMBQuantStatsLib.nodes import dataframe_to_table_node, forest_plot_chart, scatter_chart

        study = study_from_args(build_parser().parse_args(argv + ["--out", out_dir]))
        pooled, analysis, paths = run_study(study, out_dir)
        scene = slicer.mrmlScene
        table = dataframe_to_table_node(scene, analysis.results, name="CMBQuant results")
        charts = [forest_plot_chart(scene, analysis.results), scatter_chart(scene, pooled.data)]
        return table, charts, paths


class CMBQuantStatsWidget(ScriptedLoadableModuleWidget):
    def setup(self):
        super().setup()
        ui_widget = slicer.util.loadUI(self.resourcePath("UI/CMBQuantStats.ui"))
        self.layout.addWidget(ui_widget)
        self.ui = slicer.util.childWidgetVariables(ui_widget)
        ui_widget.setMRMLScene(slicer.mrmlScene)
        self.logic = CMBQuantStatsLogic()
        self.ui.runButton.clicked.connect(self.onRun)
        self.ui.evaluateButton.clicked.connect(self.onEvaluate)

    def _argv(self) -> list[str]:
        u = self.ui
        argv = []
        for flag, widget in (("--config", u.configPathLineEdit), ("--cohort", u.cohortPathLineEdit),
                             ("--wmh", u.wmhPathLineEdit), ("--clinical", u.clinicalPathLineEdit)):
            if widget.currentPath:
                argv += [flag, widget.currentPath]
        argv += ["--count-mode", u.countsComboBox.currentText]
        if u.robustCheckBox.checked:
            argv.append("--robust")
        if u.formulaLineEdit.text.strip():
            argv += ["--model", u.formulaLineEdit.text.strip()]
        return argv

    def onRun(self):
        if not ensure_stats_dependencies():
            return
        out = self.ui.outputPathLineEdit.currentPath or str(Path(slicer.app.temporaryPath) / "CMBQuantStats")
        with slicer.util.tryWithErrorDisplay("Analysis failed", waitCursor=True):
            table, charts, paths = self.logic.analyse(self._argv(), out)
            slicer.app.layoutManager().setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpPlotTableView)
            slicer.app.applicationLogic().GetSelectionNode().SetActiveTableID(table.GetID())
            slicer.app.applicationLogic().GetSelectionNode().SetActivePlotChartID(charts[0].GetID())
            slicer.app.applicationLogic().PropagateTableSelection()
            slicer.app.applicationLogic().PropagatePlotChartSelection()
            self.ui.statusLabel.text = f"Report: {paths['html']}"

    def onEvaluate(self):
        from CMBQuantLib.detection.validation.evaluate import evaluate_folders
        from CMBQuantStatsLib.nodes import dataframe_to_table_node

        u = self.ui
        out = Path(u.outputPathLineEdit.currentPath or Path(slicer.app.temporaryPath) / "CMBQuantStats") / "validation"
        with slicer.util.tryWithErrorDisplay("Validation failed", waitCursor=True):
            result = evaluate_folders(Path(u.predictionsPathLineEdit.currentPath),
                                      Path(u.referencePathLineEdit.currentPath), out,
                                      distance_mm=u.distanceSpinBox.value)
            dataframe_to_table_node(slicer.mrmlScene, result.per_case, name="CMB validation per case")
            self.ui.statusLabel.text = f"Validation: {out / 'validation.html'}"


class CMBQuantStatsTest(ScriptedLoadableModuleTest):
    """Inside Slicer: a simulated study through the real pipeline into table and plot nodes."""

    def runTest(self):
        import tempfile

        from CMBQuantStatsLib.simulate import write_demo

        slicer.mrmlScene.Clear()
        folder = tempfile.mkdtemp()
        files = write_demo(folder, n=300, seed=7)
        table, charts, paths = CMBQuantStatsLogic().analyse(["--config", str(files["config"])], folder)
        self.assertGreater(table.GetTable().GetNumberOfRows(), 10)
        self.assertTrue(Path(paths["html"]).exists())
