"""The CMBQuant module's parameter pack: one dataclass for the GUI, the scene and the run (``RunOptions``).

Stored in a ``vtkMRMLScriptedModuleNode`` as plain strings (``SetParameter``/``GetParameter``, what slicer-core
offers; Slicer's ``parameterNodeWrapper`` is desktop-only), so the choices save and reload with the scene. Types
come back from the defaults' types; a missing or unreadable value takes its default, so an old scene still opens.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from CMBQuantLib.detection.validation.matching import DEFAULT_DISTANCE_MM
from CMBQuantLib.pipeline.run_options import DEFAULT_THRESHOLD, RunOptions

MODULE_NAME = "CMBQuant"
PARAMETER_NODE_CLASS = "vtkMRMLScriptedModuleNode"


@dataclass
class CMBQuantParameters:
    """What the reader chose in the module panel (defaults = the panel's defaults)."""

    model: str = ""  # imported model name; "" = the shipped demo model
    device: str = "auto"
    step_size: float = 0.5
    mirroring: bool = False
    threshold: float = DEFAULT_THRESHOLD
    filter: str = "auto"
    filter_threshold: float = 0.0  # 0: the filter's own threshold
    reviewer: str = ""
    fov_mm: float = 80.0  # review.navigation.DEFAULT_FOV_MM: the anatomy around the CMB
    show_filtered: bool = False
    hide_rejected: bool = False
    output_folder: str = ""
    match_distance_mm: float = DEFAULT_DISTANCE_MM  # detector evaluation

    def run_options(self) -> RunOptions:
        """The pipeline's options for this pack: what ``cmbquant run`` gets from the same choices on its CLI."""
        return RunOptions(model=self.model or None, device=self.device, step_size=self.step_size,
                          mirroring=self.mirroring, threshold=self.threshold, filter=self.filter,
                          filter_threshold=self.filter_threshold or None)


def _to_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def _from_text(text: str, default: object) -> object:
    """``text`` as the type of ``default``; ValueError when it does not parse."""
    if isinstance(default, bool):
        if text.lower() not in ("true", "false"):
            raise ValueError(text)
        return text.lower() == "true"
    if isinstance(default, float):
        return float(text)
    if isinstance(default, int):
        return int(text)
    return text


def write_parameters(node: Any, params: CMBQuantParameters) -> None:
    """Every field of ``params`` into ``node`` (one modified event, not one per field)."""
    was = node.StartModify()
    for f in fields(params):
        node.SetParameter(f.name, _to_text(getattr(params, f.name)))
    node.EndModify(was)


def read_parameters(node: Any, defaults: CMBQuantParameters | None = None) -> CMBQuantParameters:
    """The pack stored in ``node``; fields it lacks (or cannot parse) keep ``defaults``."""
    defaults = defaults or CMBQuantParameters()
    stored = set(node.GetParameterNames())
    values = {}
    for f in fields(defaults):
        if f.name in stored:
            try:
                values[f.name] = _from_text(node.GetParameter(f.name), getattr(defaults, f.name))
            except ValueError:
                pass
    return replace(defaults, **values)


def parameter_node(scene: Any, module: str = MODULE_NAME) -> Any:
    """The module's singleton parameter node in ``scene``, added when absent (Slicer's own convention: singleton
    tag and module name = the module's name, so ``getParameterNode()`` in Slicer finds the same node)."""
    node = scene.GetSingletonNode(module, PARAMETER_NODE_CLASS)
    if node is not None:
        return node
    node = scene.CreateNodeByClass(PARAMETER_NODE_CLASS)
    node.UnRegister(None)  # CreateNodeByClass hands back a reference we own; the scene keeps its own
    node.SetSingletonTag(module)
    node.SetModuleName(module)
    return scene.AddNode(node)
