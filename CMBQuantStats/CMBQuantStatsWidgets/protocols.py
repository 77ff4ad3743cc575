"""What the Stats panels need from the module logic, as Protocols: the Slicer logic provides them, tests pass mocks."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from CMBQuantStatsLib.parameters import StatsParameters
from CMBQuantStatsLib.study import StudyConfig


class ParametersLogic(Protocol):
    """The scene's parameter node, as a :class:`StatsParameters` pack."""

    def load_parameters(self) -> StatsParameters: ...

    def save_parameters(self, params: StatsParameters) -> None: ...


class AnalysisLogic(Protocol):
    """Installing the optional packages, running a study into MRML nodes, and showing them."""

    def ensure_dependencies(self) -> bool: ...

    def default_output(self) -> str: ...

    def analyse(self, study: StudyConfig, out_dir: str) -> tuple[Any, list[Any], dict[str, Path]]: ...

    def show_results(self, table: Any, charts: list[Any]) -> None: ...
