"""The web review's logic without any trame: a worklist, one open ReviewSession, the slice viewports.

Every action goes through ``ReviewSession`` (so each decision is on disk before the page hears of it) and then
re-centres the view on the session's current CMB. The page only renders ``snapshot()``; tests drive this class
directly or through the browser.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from CMBQuantLib.core.case_folder import CaseFolderError
from CMBQuantLib.core.scene import SceneContext
from CMBQuantLib.core.segments import STATUS_COLOURS
from CMBQuantLib.review.filtered import is_filtered, n_filtered, set_show_filtered, visible_records
from CMBQuantLib.review.keymap import CANCEL_KEY, REJECT_REASON_KEYS
from CMBQuantLib.review.navigation import DEFAULT_FOV_MM
from CMBQuantLib.web.keys import Command, KeyDispatcher
from CMBQuantLib.web.viewport import SliceViewport
from CMBQuantLib.web.worklist import CaseEntry, list_cases

REVIEW_ERRORS = (ValueError, KeyError, CaseFolderError, OSError)  # shown in the page, never a dead server


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


class ReviewController:
    """Worklist + current case + view for one server; single-threaded (trame's event loop)."""

    def __init__(self, root: str | Path, reviewer: str = "", fov_mm: float = DEFAULT_FOV_MM,
                 size: tuple[int, int] = (512, 512), image_format: str = "jpeg", views: tuple[str, ...] = ("Red",),
                 side_size: tuple[int, int] = (256, 256)):
        self.root = Path(root)
        self.cases: list[CaseEntry] = list_cases(self.root)
        self.reviewer = reviewer.strip()
        self.fov_mm = fov_mm
        self.image_format = image_format
        self.app, self.ctx = slicer_app_context()
        self.viewport = SliceViewport(self.ctx.scene, self.ctx.app_logic, views[0], size)  # the main view
        # optional smaller coronal/sagittal views: each costs one more render per key press
        self.side_views = {n: SliceViewport(self.ctx.scene, self.ctx.app_logic, n, side_size) for n in views[1:]}
        self.keys = KeyDispatcher()
        self.show_filtered = False  # list the CMB filter's rejections (key H); kept across cases and reloads
        self.session: Any = None  # ReviewSession of the open case
        self.case_id = ""
        self.message = ""
        self.frame_number = 0
        self._seen_log = (0, 0)  # (size, mtime) of review.jsonl after our last write

    # -- cases -----------------------------------------------------------------------------------------------
    def set_reviewer(self, name: str) -> None:
        """Decisions carry this name; changing it reopens the case so later lines carry the new name."""
        name = (name or "").strip()
        if name == self.reviewer:
            return
        self.reviewer = name
        if self.case_id:  # reopen under the new name; an empty name closes the case until one is given
            self.open_case(self.case_id)

    def open_case(self, case_id: str) -> None:
        """Open a case of the worklist (closing the previous one) at its first undecided CMB."""
        from CMBQuantLib.review.session import ReviewSession

        entry = next((c for c in self.cases if c.case_id == case_id), None)
        if entry is None:
            self.message = f"no case {case_id!r} under {self.root}"
            return
        self.close_case()
        self.case_id = case_id
        if not self.reviewer:
            self.message = "Enter your name (reviewer) to start: every decision records who made it."
            return
        try:
            self.session = ReviewSession.open(entry.folder, self.reviewer, ctx=self.ctx,
                                              show_filtered=self.show_filtered)
        except REVIEW_ERRORS as exc:
            self.message = str(exc)
            return
        for view in self.viewports():
            view.show(self.session.case.volume_node)
        self.message = "; ".join(self.session.warnings)
        self._seen_log = self._log_stamp()
        self.centre()

    def close_case(self) -> None:
        if self.session is not None:
            for view in self.viewports():
                view.show(None)
            for node in (self.session.case.seg_node, self.session.case.volume_node):
                extra = [node.GetNthDisplayNode(i) for i in range(node.GetNumberOfDisplayNodes())]
                extra.append(node.GetStorageNode())
                self.ctx.scene.RemoveNode(node)
                for other in extra:
                    if other is not None and self.ctx.scene.IsNodePresent(other):
                        self.ctx.scene.RemoveNode(other)
        self.session = None
        self.keys.awaiting_reason = False

    def _log_stamp(self) -> tuple[int, int]:
        try:
            st = self.session.log_path.stat()
            return st.st_size, st.st_mtime_ns
        except (AttributeError, OSError):
            return 0, 0

    def reload_if_changed(self) -> bool:
        """Reopen the case when its log changed behind our back (Slicer or another server decided meanwhile), so
        we never decide on a stale state; the reopened session replays everything."""
        if self.session is None or self._log_stamp() == self._seen_log:
            return False
        current = self.session.current
        self.open_case(self.case_id)
        if self.session is not None and current is not None and current.cmb_id in {r.cmb_id for r in
                                                                                   self.session.records()}:
            self.session.goto(current.cmb_id)
            self.centre()
        self.message = "The case changed on disk (Slicer or another reviewer): reloaded. " + self.message
        return True

    def refresh_worklist(self) -> None:
        self.cases = list_cases(self.root)

    # -- review actions ----------------------------------------------------------------------------------------
    def key(self, key: str, ctrl: bool = False, shift: bool = False, alt: bool = False) -> bool:
        """A key from the page; True when it did something."""
        command = self.keys.press(key, ctrl, shift, alt)
        return command is not None and self.run(command)

    def run(self, command: Command) -> bool:
        if self.reload_if_changed():
            return True  # the reader sees the new state before deciding anything on it
        s = self.session
        if s is None:
            self.message = self.message or "Open a case first."
            return False
        self.message = ""
        try:
            if command.action == "decide":
                rec = s.decide(command.status, reason=command.reason)
                self.message = f"CMB {rec.cmb_id}: {rec.status}" + (f" ({rec.reason})" if rec.reason else "")
            elif command.action == "reject_menu":
                reasons = ", ".join(f"{k} {r}" for k, r in REJECT_REASON_KEYS.items())
                self.message = f"Reject: press the reason key ({reasons}); {CANCEL_KEY} cancels."
                return True
            elif command.action == "cancel":
                return True
            elif command.action == "toggle_filtered":
                self.toggle_filtered()
            elif command.action == "next":
                if s.next() is None:
                    self.message = "No other undecided CMB." if s.progress()[0] < s.progress()[1] else "All decided."
            elif command.action == "previous":
                if s.previous() is None:
                    self.message = "No other undecided CMB."
            elif command.action == "undo":
                if s.undo() is None:
                    self.message = "Nothing to undo."
            elif command.action == "redo":
                if s.redo() is None:
                    self.message = "Nothing to redo."
            elif command.action != "jump":
                return False
        except REVIEW_ERRORS as exc:
            self.message = str(exc)
            return False
        finally:
            self._seen_log = self._log_stamp()
        self.centre()
        return True

    def toggle_filtered(self) -> None:
        """Show or hide the CMB filter's rejections in the table and queue (they stay in the case folder)."""
        self.show_filtered = not self.show_filtered
        if self.session is not None:
            set_show_filtered(self.session, self.show_filtered)
        self.message = self.filtered_hint() or ("Filter-rejected candidates shown." if self.show_filtered else "")

    def filtered_hint(self) -> str:
        """What the page says about the filter's rejections: how many are hidden, or that they are listed."""
        n = n_filtered(self.session.records()) if self.session is not None else 0
        if not n:
            return ""
        if self.show_filtered:
            return f"{n} filter-rejected candidate(s) listed (H hides them); any decision restores one."
        return f"{n} filter-rejected candidate(s) hidden (H shows them)."

    def select(self, cmb_id: int) -> None:
        """Jump-to from the table."""
        if self.session is None or self.reload_if_changed():
            return
        try:
            self.session.goto(int(cmb_id))
        except REVIEW_ERRORS as exc:
            self.message = str(exc)
            return
        self.centre()

    def viewports(self) -> list[SliceViewport]:
        return [self.viewport, *self.side_views.values()]

    def view_named(self, name: str | None) -> SliceViewport:
        return self.side_views.get(name or "", self.viewport)

    def add_at_pixel(self, px: float, py: float, view: str | None = None) -> None:
        """Click-to-add: the page pixel -> RAS on the current slice -> ``ReviewSession.add_at``."""
        if self.session is None or self.reload_if_changed():
            return
        ras = self.view_named(view).pixel_to_ras(px, py)
        try:
            rec = self.session.add_at(ras)
        except REVIEW_ERRORS as exc:
            self.message = f"Could not add a CMB there: {exc}"
            return
        self._seen_log = self._log_stamp()
        self.message = f"Added CMB {rec.cmb_id} ({rec.diameter_eq_mm:.1f} mm) at R {ras[0]:.1f} A {ras[1]:.1f} S {ras[2]:.1f}"
        self.centre()

    def scroll(self, steps: int, view: str | None = None) -> None:
        self.view_named(view).scroll(int(steps))

    def centre(self) -> None:
        rec = self.session.current if self.session is not None else None
        if rec is not None:
            for view in self.viewports():
                view.centre(rec.ras, self.fov_mm)

    # -- what the page shows -----------------------------------------------------------------------------------
    def render(self) -> Frame:
        self.frame_number += 1
        rec = self.session.current if self.session is not None else None
        return Frame(self.frame_number, rec.cmb_id if rec is not None else None,
                     self.viewport.data_url(self.image_format),
                     {n: v.data_url(self.image_format) for n, v in self.side_views.items()})

    def rows(self) -> list[dict[str, Any]]:
        if self.session is None:
            return []
        records = visible_records(self.session.records(), self.session.show_filtered)
        return [{"cmb_id": r.cmb_id, "status": r.status, "reason": r.reason, "region": r.region or "-",
                 "lobe": r.lobe, "diameter": round(r.diameter_eq_mm, 1),
                 "confidence": "" if r.confidence_mean is None else round(r.confidence_mean, 2),
                 "p_cmb": "" if r.p_cmb is None else round(r.p_cmb, 2),
                 "colour": css_colour(STATUS_COLOURS.get(r.status, STATUS_COLOURS["pending"])),
                 "added": "added_by_reader" in r.flags, "filtered": is_filtered(r)}
                for r in records]

    def snapshot(self) -> dict[str, Any]:
        s = self.session
        decided, total = s.progress() if s is not None else (0, 0)
        current = s.current if s is not None else None
        return {"case_id": self.case_id, "reviewer": self.reviewer, "rows": self.rows(),
                "current_id": current.cmb_id if current is not None else None,
                "progress": f"{decided}/{total} decided", "message": self.message,
                "awaiting_reason": self.keys.awaiting_reason,
                "show_filtered": self.show_filtered, "filtered_hint": self.filtered_hint(),
                "can_undo": bool(s and s.can_undo), "can_redo": bool(s and s.can_redo),
                "cases": [{"title": self._case_label(c), "value": c.case_id} for c in self.cases]}

    def _case_label(self, entry: CaseEntry) -> str:
        if self.session is not None and entry.case_id == self.case_id:
            decided, total = self.session.progress()
            return f"{entry.case_id}  {decided}/{total}"
        return entry.label
