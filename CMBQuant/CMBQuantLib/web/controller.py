"""The web review's controller: the shared ``review.controller.ReviewController`` plus trame-slicer viewports.

All review logic (worklist, session, keys, reload-on-change, the table) is the shared controller's; this adds only
what a browser needs: the scene of a trame-slicer ``SlicerApp``, off-screen slice views bound to the controller's
"case changed" / "current CMB changed" callbacks, frames to ship, browser keys and page pixels translated.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.core.scene import SceneContext
from CMBQuantLib.review.controller import Outcome, ReviewController
from CMBQuantLib.review.navigation import DEFAULT_FOV_MM
from CMBQuantLib.volumes.case_open import OpenCase
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
    side: dict[str, str] = field(default_factory=dict)  # data URLs of the optional side views, by view name


class WebReviewController(ReviewController):
    """The shared review controller with the slice viewports of one server; single-threaded (trame's loop)."""

    def __init__(self, root: str | Path, reviewer: str = "", fov_mm: float = DEFAULT_FOV_MM,
                 size: tuple[int, int] = (512, 512), image_format: str = "jpeg", views: tuple[str, ...] = ("Red",),
                 side_size: tuple[int, int] = (256, 256)):
        self.app: Any = None
        super().__init__(root, reviewer)  # lists the cases first: a bad folder fails before the app starts
        self.fov_mm = fov_mm
        self.image_format = image_format
        self.viewport = SliceViewport(self.ctx.scene, self.ctx.app_logic, views[0], size)  # the main view
        # optional smaller coronal/sagittal views: each costs one more render per key press
        self.side_views = {n: SliceViewport(self.ctx.scene, self.ctx.app_logic, n, side_size) for n in views[1:]}
        self.frame_number = 0
        self.on_case_changed(self._show_case)
        self.on_current_changed(self._centre)

    def make_context(self) -> SceneContext:
        self.app, ctx = slicer_app_context()
        return ctx

    # -- controller -> views -----------------------------------------------------------------------------------
    def _show_case(self, case: OpenCase | None) -> None:
        for view in self.viewports():
            view.show(case.volume_node if case is not None else None)

    def _centre(self, rec: CMBRecord | None) -> None:
        if rec is not None:
            for view in self.viewports():
                view.centre(rec.ras, self.fov_mm)

    def viewports(self) -> list[SliceViewport]:
        return [self.viewport, *self.side_views.values()]

    def view_named(self, name: str | None) -> SliceViewport:
        return self.side_views.get(name or "", self.viewport)

    # -- page -> controller ------------------------------------------------------------------------------------
    def key(self, key: str, ctrl: bool = False, shift: bool = False, alt: bool = False) -> Outcome:
        """A browser key event; true when it did something."""
        return self.press(sequence(key, ctrl, shift, alt))

    def add_at_pixel(self, px: float, py: float, view: str | None = None) -> Outcome:
        """Click-to-add: the page pixel -> RAS on that view's slice -> ``add_at``."""
        return self.add_at(self.view_named(view).pixel_to_ras(px, py))

    def scroll(self, steps: int, view: str | None = None) -> None:
        self.view_named(view).scroll(int(steps))

    # -- what the page shows -----------------------------------------------------------------------------------
    def render(self) -> Frame:
        self.frame_number += 1
        rec = self.current()
        return Frame(self.frame_number, rec.cmb_id if rec is not None else None,
                     self.viewport.data_url(self.image_format),
                     {n: v.data_url(self.image_format) for n, v in self.side_views.items()})

    def rows(self) -> list[dict[str, Any]]:
        return [{**r, "colour": css_colour(r["colour"])} for r in super().rows()]

    def snapshot(self) -> dict[str, Any]:
        snap = super().snapshot()
        snap["cases"] = [{"title": c["label"], "value": c["case_id"]} for c in snap["cases"]]
        return snap
