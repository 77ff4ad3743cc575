"""The web review's controller: the shared ``review.controller.ReviewController`` plus trame-slicer viewports.

All review logic (worklist, session, keys, reload-on-change, the table) is the shared controller's; this adds only
what a browser needs: the scene of a trame-slicer ``SlicerApp``, off-screen slice views bound to the controller's
"case changed" / "current CMB changed" / "view changed" callbacks, frames to ship, browser keys and page pixels
translated. A case folder with a phase image (``core.case_folder.case_phase_path``) gets phase views beside the
magnitude views, centred, zoomed and scrolled with them (never a minIP: a minimum of phase means nothing).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from CMBQuantLib.core.case_folder import case_phase_path
from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.core.scene import SceneContext
from CMBQuantLib.review.controller import Outcome, ReviewController
from CMBQuantLib.review.navigation import DEFAULT_FOV_MM
from CMBQuantLib.review.phase_layout import PHASE_PREFIX, load_phase_volume
from CMBQuantLib.review.view_state import DEFAULT_VIEWS, ViewState
from CMBQuantLib.volumes.case_open import OpenCase
from CMBQuantLib.volumes.images import remove_volume
from CMBQuantLib.web.keys import sequence
from CMBQuantLib.web.viewport import SliceViewport


def slicer_app_context() -> tuple[Any, SceneContext]:
    """trame-slicer's ``SlicerApp`` and a CMBQuant ``SceneContext`` around its scene and logics."""
    import slicer
    from trame_slicer.core import SlicerApp

    app = SlicerApp()
    tables = app.register_module_logic(slicer.vtkSlicerTablesLogic(), logic_name="Tables")
    ctx = SceneContext(scene=app.scene, app_logic=app.app_logic, segmentations_logic=app.segmentations_logic,
                       volumes_logic=app.volumes_logic, tables_logic=tables,
                       subject_hierarchy_logic=app.subject_hierarchy_logic)
    return app, ctx


def css_colour(rgb: tuple[float, float, float]) -> str:
    return "rgb({}, {}, {})".format(*(round(255 * c) for c in rgb))


@dataclass
class Frame:
    """A rendered view and what it shows (the page stamps both on the image element)."""

    number: int
    cmb_id: int | None
    data_url: str
    side: dict[str, str] = field(default_factory=dict)  # data URLs of the other magnitude views, by view name
    phase: dict[str, str] = field(default_factory=dict)  # data URLs of the phase views, by magnitude view name



class WebReviewController(ReviewController):
    """The shared review controller with the slice viewports of one server; single-threaded (trame's loop)."""

    def __init__(self, root: str | Path, reviewer: str = "", fov_mm: float = DEFAULT_FOV_MM,
                 size: tuple[int, int] = (512, 512), image_format: str = "jpeg",
                 views: tuple[str, ...] = DEFAULT_VIEWS, side_size: tuple[int, int] = (256, 256),
                 phase_size: tuple[int, int] = (256, 256)):
        self.app: Any = None
        # lists the cases first: a bad folder fails before the app starts
        super().__init__(root, reviewer, view=ViewState(views=tuple(views)).with_fov(fov_mm))
        self.image_format = image_format
        self.viewport = SliceViewport(self.ctx.scene, self.ctx.app_logic, views[0], size)  # the main view
        # the other magnitude views (coronal, sagittal by default): each costs one more render per key press
        self.side_views = {n: SliceViewport(self.ctx.scene, self.ctx.app_logic, n, side_size) for n in views[1:]}
        self.phase_size = phase_size
        self.phase_views: dict[str, SliceViewport] = {}  # made when the first case with phase opens
        self.phase_node: Any = None
        self.frame_number = 0
        self.on_case_changed(self._show_case)
        self.on_current_changed(self._centre)
        self.on_view_changed(self._redraw)

    def make_context(self) -> SceneContext:
        self.app, ctx = slicer_app_context()
        return ctx

    # -- controller -> views -----------------------------------------------------------------------------------
    def _show_case(self, case: OpenCase | None) -> None:
        self._drop_phase()
        for view in self.viewports():
            view.show(case.volume_node if case is not None else None)
        path = case_phase_path(case.folder) if case is not None else None
        if path is not None:
            self._show_phase(path, case.case_id)

    def _show_phase(self, path: Path, case_id: str) -> None:
        try:
            node = load_phase_volume(self.ctx, path, f"{case_id} phase")
        except (ValueError, OSError) as exc:  # the magnitude review goes on; the reader is told why
            self.message = f"Phase not shown: {exc}"
            return
        self.phase_node = node
        for name in self.view.views:
            if name not in self.phase_views:
                self.phase_views[name] = SliceViewport(self.ctx.scene, self.ctx.app_logic, PHASE_PREFIX + name,
                                                       self.phase_size, orientation=self.view_named(name).orientation)
            self.phase_views[name].show(node)

    def _drop_phase(self) -> None:
        node, self.phase_node = self.phase_node, None
        if node is None:
            return
        for view in self.phase_views.values():
            view.show(None)
        remove_volume(self.ctx.scene, node)

    def _centre(self, rec: CMBRecord | None) -> None:
        if rec is not None:
            self._apply(rec.ras)

    def _redraw(self, _view: ViewState) -> None:
        self._apply(None)

    def _apply(self, ras: Any) -> None:
        """The controller's view state on every view: magnitude with the minIP slab, phase without."""
        case = self.session.case if self.session is not None else None
        volume, seg = (case.volume_node, case.seg_node) if case is not None else (None, None)
        for view in self.viewports():
            view.apply(self.view, ras, volume, seg)
        for view in self.shown_phase_views():
            view.apply(self.view, ras, slab=False)

    def viewports(self) -> list[SliceViewport]:
        """The magnitude views, main first."""
        return [self.viewport, *self.side_views.values()]

    def shown_phase_views(self) -> list[SliceViewport]:
        return list(self.phase_views.values()) if self.phase_node is not None else []

    def view_named(self, name: str | None) -> SliceViewport:
        name = name or ""
        if name.startswith(PHASE_PREFIX) and name[len(PHASE_PREFIX):] in self.phase_views:
            return self.phase_views[name[len(PHASE_PREFIX):]]
        return self.side_views.get(name, self.viewport)

    # -- page -> controller ------------------------------------------------------------------------------------
    def key(self, key: str, ctrl: bool = False, shift: bool = False, alt: bool = False) -> Outcome:
        """A browser key event; true when it did something."""
        return self.press(sequence(key, ctrl, shift, alt))

    def add_at_pixel(self, px: float, py: float, view: str | None = None) -> Outcome:
        """Click-to-add: the page pixel -> RAS on that view's slice -> ``add_at``."""
        return self.add_at(self.view_named(view).pixel_to_ras(px, py))

    def scroll(self, steps: int, view: str | None = None) -> None:
        """Wheel over a view: step its slice; the linked magnitude or phase view follows."""
        moved = self.view_named(view)
        moved.scroll(int(steps))
        name = (view or self.viewport.name).removeprefix(PHASE_PREFIX)
        if self.phase_node is not None and name in self.phase_views:
            partner = self.phase_views[name] if moved is not self.phase_views[name] else self.view_named(name)
            partner.follow(moved)

    # -- what the page shows -----------------------------------------------------------------------------------
    def render(self) -> Frame:
        self.frame_number += 1
        rec = self.current()
        return Frame(self.frame_number, rec.cmb_id if rec is not None else None,
                     self.viewport.data_url(self.image_format),
                     {n: v.data_url(self.image_format) for n, v in self.side_views.items()},
                     {n: v.data_url(self.image_format) for n, v in self.phase_views.items()
                      if self.phase_node is not None})

    def rows(self) -> list[dict[str, Any]]:
        return [{**r, "colour": css_colour(r["colour"])} for r in super().rows()]

    def snapshot(self) -> dict[str, Any]:
        snap = super().snapshot()
        snap["cases"] = [{"title": c["label"], "value": c["case_id"]} for c in snap["cases"]]
        snap["has_phase"] = self.phase_node is not None
        return snap
