"""The Run button: the widgets' choices -> a StudyConfig (no argv, no argparse) -> the logic's run -> the results."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import slicer

from CMBQuantStatsLib.parameters import StatsParameters, study_request
from CMBQuantStatsLib.study import StudyConfig, build_study
from CMBQuantStatsWidgets.protocols import AnalysisLogic


class StatsResultsPanel:
    """Runs the study the widgets describe and shows the report path; errors are shown, never raised."""

    def __init__(self, ui: Any, logic: AnalysisLogic, choices: Callable[[], StatsParameters]):
        self.ui = ui
        self.logic = logic
        self.choices = choices

    def setup(self) -> None:
        self.ui.runButton.clicked.connect(self.run)

    def study(self) -> StudyConfig:
        """The study the current choices describe (config file first, the widgets' choices win)."""
        return build_study(study_request(self.choices()))

    def run(self, *_signal_args: Any) -> None:
        if not self.logic.ensure_dependencies():
            return
        with slicer.util.tryWithErrorDisplay("Analysis failed", waitCursor=True):
            out = self.choices().output or self.logic.default_output()
            table, charts, paths = self.logic.analyse(self.study(), out)
            self.logic.show_results(table, charts)
            self.ui.statusLabel.text = f"Report: {paths['html']}"
