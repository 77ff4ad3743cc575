"""The phase row of the review layout: the case's phase image in three slice views under the magnitude views,
at the same position, orientation and field of view (never a minIP: a minimum of phase means nothing).

A reader tells a calcification from a CMB by the sign of its phase, so the phase has to be under the eye at the very
voxel judged on the magnitude. In Slicer the views come from a layout: ``layout_xml`` is a Slicer layout description
(a magnitude row Red/Green/Yellow over a phase row ``phase-Red``/``phase-Green``/``phase-Yellow``), registered on the
scene's singleton ``vtkMRMLLayoutNode`` and chosen as its view arrangement; the desktop app's layout logic then makes
the phase slice nodes from that XML. A scene without one (slicer-core, tests) gets the same nodes made here as the
layout logic makes them. The phase views are in their own view group, so Slicer's linked controls (which also copy
the background volume) never put the magnitude on them; ``PhaseViews`` links them itself: the review's view state is
drawn on them with ``slab=False``, a slice scrolled in either row is copied to its partner, and a magnitude view's
zoom and pan to its phase view (the other way the plane only: a phase view resized must not re-zoom the magnitude).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from CMBQuantLib.core.case_folder import case_phase_path
from CMBQuantLib.core.scene import SceneContext
from CMBQuantLib.review.navigation import set_fov
from CMBQuantLib.review.slice_view_setup import apply_view_state, set_window_level
from CMBQuantLib.review.view_state import DEFAULT_VIEWS, ViewState, robust_window
from CMBQuantLib.volumes.images import array_of, load_volume, remove_volume

PHASE_LAYOUT_ID = 1401  # our own view arrangement id: clear of Slicer's built-in ones (< 100) and the 500s
PHASE_PREFIX = "phase-"  # "phase-Red" is the phase view beside the axial view, as in the browser review
PHASE_VIEW_GROUP = 1  # not the magnitude views' group 0: Slicer's linking would copy their background volume
FALLBACK_LAYOUT = 2  # vtkMRMLLayoutNode.SlicerLayoutConventionalView, Slicer's default (when ours was first)
LAYOUT_SINGLETON = "vtkMRMLLayoutNode"


@dataclass(frozen=True)
class ViewSpec:
    """One slice view of the layout, in the terms of Slicer's layout XML."""

    name: str  # singleton tag = layout name of the slice node
    orientation: str
    label: str
    colour: str  # "#rrggbb"
    group: int = 0


MAGNITUDE = {"Red": ViewSpec("Red", "Axial", "R", "#F34A33"), "Green": ViewSpec("Green", "Coronal", "G", "#6EB04B"),
             "Yellow": ViewSpec("Yellow", "Sagittal", "Y", "#EDD54C")}  # as Slicer's own layouts name them
PHASE_COLOURS = {"Red": "#F9A99F", "Green": "#C6E0B8", "Yellow": "#F6E9A2"}  # lighter: the partner's colour family


def phase_spec(name: str) -> ViewSpec:
    """The phase view under the magnitude view ``name``."""
    m = MAGNITUDE[name]
    return ViewSpec(PHASE_PREFIX + name, m.orientation, m.label + "p", PHASE_COLOURS[name], PHASE_VIEW_GROUP)


def _view_xml(spec: ViewSpec) -> str:
    props = [("orientation", spec.orientation), ("viewlabel", spec.label), ("viewcolor", spec.colour)]
    if spec.group:
        props.append(("viewgroup", str(spec.group)))
    body = "".join(f'<property name="{k}" action="default">{v}</property>' for k, v in props)
    return f'<item><view class="vtkMRMLSliceNode" singletontag={quoteattr(spec.name)}>{body}</view></item>'


def layout_xml(views: tuple[str, ...] = DEFAULT_VIEWS) -> str:
    """Slicer layout description: the magnitude views in a row over their phase views in a row."""
    rows = [[MAGNITUDE[n] for n in views], [phase_spec(n) for n in views]]
    inner = "".join('<item><layout type="horizontal">' + "".join(map(_view_xml, row)) + "</layout></item>"
                    for row in rows)
    return f'<layout type="vertical" split="true">{inner}</layout>'


def layout_node(scene: Any) -> Any:
    """The scene's singleton layout node (the desktop app always has one; a slicer-core scene gets one)."""
    node = scene.GetSingletonNode(LAYOUT_SINGLETON, "vtkMRMLLayoutNode")
    if node is None:
        import slicer

        node = slicer.vtkMRMLLayoutNode()
        node.SetSingletonTag(LAYOUT_SINGLETON)
        scene.AddNode(node)
    return node


def slice_node(scene: Any, spec: ViewSpec) -> Any:
    """The slice node of ``spec``: the one Slicer's layout logic made from the XML, else made here the same way."""
    node = scene.GetSingletonNode(spec.name, "vtkMRMLSliceNode")
    if node is not None:
        return node
    node = scene.CreateNodeByClass("vtkMRMLSliceNode")  # a copy of the default node: it has the orientation presets
    node.SetName(spec.name)
    node.SetLayoutName(spec.name)
    node.SetSingletonTag(spec.name)
    node.SetDefaultOrientation(spec.orientation)
    node.SetOrientation(spec.orientation)
    node.SetLayoutLabel(spec.label)
    node.SetLayoutColor(*(int(spec.colour[i:i + 2], 16) / 255 for i in (1, 3, 5)))
    node.SetViewGroup(spec.group)
    node.SetDimensions(512, 512, 1)
    scene.AddNode(node)
    node.UnRegister(None)  # CreateNodeByClass hands over a reference the scene now holds
    return node


def composite_node(scene: Any, slice_node_: Any) -> Any:
    """The slice composite node of a view (what it shows), found as Slicer's slice logic finds it, else made."""
    import slicer

    node = slicer.vtkMRMLSliceLogic.GetSliceCompositeNode(slice_node_)
    if node is None:
        node = slicer.vtkMRMLSliceCompositeNode()
        node.SetLayoutName(slice_node_.GetLayoutName())
        node.SetSingletonTag(slice_node_.GetLayoutName())
        scene.AddNode(node)
    return node


def load_phase_volume(ctx: SceneContext, path: str | Path, name: str) -> Any:
    """The phase image as a volume node with its own automatic window (signed values: no air to leave out); the
    Slicer phase row and the browser's phase views both load it so."""
    node = load_volume(ctx, path, name=name)
    set_window_level(node, *robust_window(array_of(node), head_only=False))
    return node


def _shorter_side_fov(node: Any) -> float:
    w, h, _ = node.GetDimensions()
    fx, fy, _ = node.GetFieldOfView()
    return fy if w >= h else fx


def same_plane(a: Any, b: Any) -> bool:
    ma, mb = a.GetSliceToRAS(), b.GetSliceToRAS()
    return all(abs(ma.GetElement(r, c) - mb.GetElement(r, c)) < 1e-6 for r in range(4) for c in range(4))


def follow(target: Any, source: Any, zoom: bool = True) -> None:
    """Show on ``target`` the plane ``source`` shows (position, orientation, the scrolled offset); with ``zoom``
    also its pan and field of view (across the shorter side, so views of other pixel sizes keep square pixels)."""
    if same_plane(target, source) and not zoom:
        return
    was = target.StartModify()
    target.GetSliceToRAS().DeepCopy(source.GetSliceToRAS())
    if zoom:
        target.SetXYZOrigin(*source.GetXYZOrigin())
        set_fov(target, _shorter_side_fov(source))
    target.UpdateMatrices()
    target.EndModify(was)


@dataclass
class PhaseViews:
    """The phase row of one scene's review: shown for a case with ``phase.nii.gz``, gone for a case without."""

    ctx: SceneContext
    views: tuple[str, ...] = DEFAULT_VIEWS
    volume_node: Any = None
    message: str = ""  # why the phase is not shown (unreadable file), for the status line
    previous_layout: int | None = None  # the arrangement before ours, restored when the phase row goes
    _pairs: list[tuple[Any, Any]] = field(default_factory=list)  # (magnitude, phase) slice nodes
    _observers: list[tuple[Any, int]] = field(default_factory=list)
    _syncing: bool = False

    @property
    def shown(self) -> bool:
        return self.volume_node is not None

    def slice_nodes(self) -> list[Any]:
        """The phase slice nodes, in ``views`` order (none while no phase is shown)."""
        return [p for _, p in self._pairs] if self.shown else []

    def show_case(self, case: Any) -> bool:
        """Show the phase of ``case`` (an ``OpenCase``), or take the phase row away when it has none; True if
        shown. Call after the magnitude volume is put in the views (Slicer's ``setSliceViewerLayers`` sets every
        view's background, the phase views' too)."""
        path = case_phase_path(case.folder) if case is not None else None
        if path is None:
            self.hide()
            return False
        return self.show(path, f"{case.case_id} phase")

    def show(self, path: str | Path, name: str) -> bool:
        """Load ``path`` as the phase volume (the previous one removed) and show it in the phase row."""
        self.drop_volume()
        self.message = ""
        try:
            node = load_phase_volume(self.ctx, path, name)
        except (ValueError, OSError) as exc:  # the magnitude review goes on; the reader is told why
            self.message = f"Phase not shown: {exc}"
            self.hide()
            return False
        self._ensure_layout()
        for _, phase in self._pairs:
            composite_node(self.ctx.scene, phase).SetBackgroundVolumeID(node.GetID())
        self.volume_node = node
        return True

    def apply(self, view: ViewState, ras: Any = None) -> None:
        """The review's view state on the phase views: centred and zoomed as the magnitude, without the minIP."""
        nodes = self.slice_nodes()
        if nodes:
            apply_view_state(nodes, view, ras, slab=False)

    def _ensure_layout(self) -> None:
        scene = self.ctx.scene
        layout = layout_node(scene)
        if not layout.IsLayoutDescription(PHASE_LAYOUT_ID):
            layout.AddLayoutDescription(PHASE_LAYOUT_ID, layout_xml(self.views))
        if layout.GetViewArrangement() != PHASE_LAYOUT_ID:
            self.previous_layout = layout.GetViewArrangement()
            layout.SetViewArrangement(PHASE_LAYOUT_ID)  # the desktop app's layout logic makes the views now
        if self._pairs:
            return
        for name in self.views:
            magnitude = slice_node(scene, MAGNITUDE[name])
            phase = slice_node(scene, phase_spec(name))
            follow(phase, magnitude)
            self._pairs.append((magnitude, phase))
            self._observe(magnitude, phase, zoom=True)
            self._observe(phase, magnitude, zoom=False)  # a slice scrolled on phase: the magnitude follows

    def _observe(self, source: Any, target: Any, zoom: bool) -> None:
        from vtkmodules.vtkCommonCore import vtkCommand

        def moved(_caller: Any, _event: str) -> None:
            if self._syncing:
                return
            self._syncing = True
            try:
                follow(target, source, zoom)
            finally:
                self._syncing = False

        self._observers.append((source, source.AddObserver(vtkCommand.ModifiedEvent, moved)))

    def drop_volume(self) -> None:
        """Remove the phase volume (and its display and storage nodes) from the scene; the views stay."""
        node, self.volume_node = self.volume_node, None
        if node is None:
            return
        for _, phase in self._pairs:
            composite_node(self.ctx.scene, phase).SetBackgroundVolumeID(None)
        remove_volume(self.ctx.scene, node)

    def hide(self) -> None:
        """The phase row gone: volume, phase slice and composite nodes removed, the previous layout back."""
        import slicer

        self.drop_volume()
        for node, tag in self._observers:
            node.RemoveObserver(tag)
        self._observers.clear()
        scene = self.ctx.scene
        layout = scene.GetSingletonNode(LAYOUT_SINGLETON, "vtkMRMLLayoutNode")
        if layout is not None and layout.GetViewArrangement() == PHASE_LAYOUT_ID:
            previous = self.previous_layout
            layout.SetViewArrangement(previous if previous not in (None, PHASE_LAYOUT_ID) else FALLBACK_LAYOUT)
        for name in self.views:  # also phase views of an earlier session saved with the scene
            phase = scene.GetSingletonNode(PHASE_PREFIX + name, "vtkMRMLSliceNode")
            if phase is None:
                continue
            composite = slicer.vtkMRMLSliceLogic.GetSliceCompositeNode(phase)
            if composite is not None:
                scene.RemoveNode(composite)
            scene.RemoveNode(phase)
        self._pairs.clear()
