"""The Stats module's choices (tables, column roles, count mode, robust SEs, formula) in the scene's parameter node.

Stored as text parameters of a ``vtkMRMLScriptedModuleNode`` (SetParameter / GetParameter), so the choices save and
load with the scene and a study can be re-run from a saved scene. A key missing from an older scene reads as its
default. The scene is an argument: nothing here needs Qt or the Slicer application.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

from CMBQuantStatsLib.roles import COUNT_MODES
from CMBQuantStatsLib.study import StudyRequest

MODULE_NAME = "CMBQuantStats"
NODE_CLASS = "vtkMRMLScriptedModuleNode"


@dataclass
class StatsParameters:
    """What the user chose in the Stats module; empty text = not given."""

    cohort: str = ""
    wmh: str = ""
    clinical: str = ""
    config: str = ""
    output: str = ""
    roles: dict[str, str] = field(default_factory=dict)  # role -> value, as on the command line (sex -> gender)
    count_mode: str = COUNT_MODES[0]  # the widget's first choice
    robust: bool = False
    formula: str = ""


def _encode(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _decode(text: str, default: Any) -> Any:
    if isinstance(default, bool):
        return text.strip().lower() in ("1", "true", "yes")
    if isinstance(default, dict):
        value = json.loads(text) if text.strip() else {}
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
    return text


def save_parameters(node, params: StatsParameters) -> None:
    """Write every choice as a text parameter of ``node`` (one Modified event)."""
    was = node.StartModify()
    for f in fields(params):
        node.SetParameter(f.name, _encode(getattr(params, f.name)))
    node.EndModify(was)


def load_parameters(node) -> StatsParameters:
    """Read the choices back; keys the node lacks (older scenes) keep their defaults."""
    defaults = StatsParameters()
    present = set(node.GetParameterNames())
    values = {f.name: _decode(node.GetParameter(f.name), getattr(defaults, f.name))
              for f in fields(defaults) if f.name in present}
    return StatsParameters(**values)


def parameter_node(scene):
    """The scene's Stats parameter node (found by its ModuleName attribute, as Slicer does), created if absent."""
    for i in range(scene.GetNumberOfNodesByClass(NODE_CLASS)):
        node = scene.GetNthNodeByClass(i, NODE_CLASS)
        if node.GetAttribute("ModuleName") == MODULE_NAME:
            return node
    node = scene.CreateNodeByClass(NODE_CLASS)
    node.UnRegister(None)  # the Python variable owns it now (as in ScriptedLoadableModuleLogic)
    node.SetSingletonTag(MODULE_NAME)
    node.SetName(scene.GenerateUniqueName(MODULE_NAME))
    node.SetAttribute("ModuleName", MODULE_NAME)
    return scene.AddNode(node)


def study_request(params: StatsParameters) -> StudyRequest:
    """The choices as the request the CLI would make: empty paths and formula are left out."""
    formula = params.formula.strip()
    return StudyRequest(
        config=params.config or None, cohort=params.cohort or None, clinical=params.clinical or None,
        wmh=params.wmh or None, roles=[f"{k}={v}" for k, v in params.roles.items()],
        count_mode=params.count_mode or None, robust=params.robust, models=[formula] if formula else [])
