"""The Tables and Models sections: widgets <-> :class:`StatsParameters`, kept in the scene's parameter node."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from CMBQuantStatsLib.parameters import StatsParameters
from CMBQuantStatsWidgets.protocols import ParametersLogic

_PATHS = {"cohort": "cohortPathLineEdit", "wmh": "wmhPathLineEdit", "clinical": "clinicalPathLineEdit",
          "config": "configPathLineEdit", "output": "outputPathLineEdit"}


class StatsInputsPanel:
    """Shows the scene's choices and writes every change back, so they save with the scene."""

    def __init__(self, ui: Any, logic: ParametersLogic):
        self.ui = ui
        self.logic = logic
        self._shown = StatsParameters()  # keeps choices without a widget (column roles from a saved scene)
        self._showing = False

    def setup(self) -> None:
        for name in _PATHS.values():
            getattr(self.ui, name).currentPathChanged.connect(self.save)
        self.ui.robustCheckBox.toggled.connect(self.save)
        self.ui.countsComboBox.activated.connect(self.save)
        self.show(self.logic.load_parameters())

    def read(self) -> StatsParameters:
        """The choices as the widgets show them now."""
        u = self.ui
        paths = {key: getattr(u, name).currentPath for key, name in _PATHS.items()}
        return replace(self._shown, **paths, count_mode=u.countsComboBox.currentText,
                       robust=bool(u.robustCheckBox.checked), formula=u.formulaLineEdit.text.strip())

    def show(self, params: StatsParameters) -> None:
        """Put ``params`` into the widgets (without saving half-shown states back)."""
        u = self.ui
        self._showing = True
        try:
            self._shown = params
            for key, name in _PATHS.items():
                getattr(u, name).currentPath = getattr(params, key)
            u.countsComboBox.currentText = params.count_mode
            u.robustCheckBox.checked = params.robust
            u.formulaLineEdit.text = params.formula
        finally:
            self._showing = False

    def save(self, *_signal_args: Any) -> StatsParameters:
        """Store the widgets' choices in the parameter node and return them."""
        params = self.read()
        if not self._showing:
            self.logic.save_parameters(params)
        return params
