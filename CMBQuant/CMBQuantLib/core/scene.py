"""The MRML scene every CMBQuant function takes as an argument.

Inside Slicer that is ``slicer.mrmlScene`` with the application's logics; outside it (tests, CLI, web) we build
the same scene and logics from ``slicer-core``, so the code under test is the code that runs in Slicer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class SceneContext:
    """A scene plus the core module logics CMBQuant uses (segmentations, volumes, tables, subject hierarchy)."""

    scene: Any
    app_logic: Any
    segmentations_logic: Any
    volumes_logic: Any
    tables_logic: Any
    subject_hierarchy_logic: Any
    in_slicer: bool = False


def _in_slicer_app() -> bool:
    try:
        import slicer

        return hasattr(slicer, "app") and hasattr(slicer, "mrmlScene") and slicer.mrmlScene is not None
    except ImportError:
        return False


def slicer_context() -> SceneContext:
    """The running Slicer application's scene and logics (only valid inside the desktop app)."""
    import slicer

    return SceneContext(
        scene=slicer.mrmlScene,
        app_logic=slicer.app.applicationLogic(),
        segmentations_logic=slicer.modules.segmentations.logic(),
        volumes_logic=slicer.modules.volumes.logic(),
        tables_logic=slicer.modules.tables.logic(),
        subject_hierarchy_logic=slicer.modules.subjecthierarchy.logic(),
        in_slicer=True,
    )


def headless_context() -> SceneContext:
    """A fresh scene with Slicer's core logics registered, built from ``slicer-core`` (no Qt)."""
    import slicer
    from vtkmodules.vtkCommonCore import vtkCollection

    scene = slicer.vtkMRMLScene()
    app_logic = slicer.vtkSlicerApplicationLogic()
    app_logic.SetMRMLScene(scene)
    app_logic.GetColorLogic().SetMRMLScene(scene)
    app_logic.GetColorLogic().AddDefaultColorNodes()
    app_logic.SetModuleLogic("Colors", app_logic.GetColorLogic())
    app_logic.SetSliceLogics(vtkCollection())
    app_logic.SetViewLogics(vtkCollection())

    def register(logic: Any, name: str) -> Any:
        logic.SetMRMLScene(scene)
        logic.SetMRMLApplicationLogic(app_logic)
        app_logic.SetModuleLogic(name, logic)
        return logic

    ctx = SceneContext(
        scene=scene,
        app_logic=app_logic,
        volumes_logic=register(slicer.vtkSlicerVolumesLogic(), "Volumes"),
        segmentations_logic=register(slicer.vtkSlicerSegmentationsModuleLogic(), "Segmentations"),
        tables_logic=register(slicer.vtkSlicerTablesLogic(), "Tables"),
        subject_hierarchy_logic=register(slicer.vtkSlicerSubjectHierarchyModuleLogic(), "SubjectHierarchy"),
    )
    slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene, True)
    return ctx


def current_context() -> SceneContext:
    """Slicer's own scene when running inside Slicer, else a new headless one."""
    return slicer_context() if _in_slicer_app() else headless_context()


def add_slice_nodes(ctx: SceneContext, names: tuple[str, ...] = ("Red", "Yellow", "Green")) -> dict[str, Any]:
    """Axial/sagittal/coronal slice nodes like Slicer's default layout (headless scenes have none)."""
    orientations = {"Red": "Axial", "Yellow": "Sagittal", "Green": "Coronal"}
    out = {}
    for name in names:
        node = ctx.scene.GetSingletonNode(name, "vtkMRMLSliceNode")
        if node is None:
            # CreateNodeByClass copies the scene's default slice node, which holds the orientation presets.
            node = ctx.scene.CreateNodeByClass("vtkMRMLSliceNode")
            node.SetName(name)
            node.SetLayoutName(name)
            node.SetSingletonTag(name)
            node.SetDefaultOrientation(orientations.get(name, "Axial"))
            node.SetOrientation(orientations.get(name, "Axial"))
            node.SetDimensions(512, 512, 1)
            ctx.scene.AddNode(node)
        out[name] = node
    return out


def read_with_storage_node(ctx: SceneContext, node: Any, storage: Any, path: str) -> bool:
    """Read ``path`` into ``node`` through Slicer's own ``storage`` node (as "Add data" does); False on failure,
    in which case ``node`` is removed from the scene again."""
    storage.SetFileName(str(path))
    ctx.scene.AddNode(storage)
    node.SetAndObserveStorageNodeID(storage.GetID())
    if storage.ReadData(node):
        return True
    ctx.scene.RemoveNode(node)
    return False
