"""The review controller: a worklist, the open case's ``ReviewSession``, the keys and a plain-data snapshot; no UI.

Slicer's module panel and the web page are two views of this one object, so a key means the same in both, every
decision goes through ``ReviewSession`` (on disk before any view hears of it), and a case changed on disk by the
other program is reloaded before anything is decided on a stale state.

How a UI binds this
-------------------
Make one per window: ``ReviewController(root, reviewer, ctx=...)``; ``root`` is a batch output folder or one case
folder, ``ctx`` the ``SceneContext`` cases load into (Slicer: ``slicer_context()``; default: a headless scene).
Register what the UI must redraw:

- ``on_case_changed(fn(case))``: a case was opened (show ``case.volume_node`` / ``case.seg_node``) or closed (None);
- ``on_current_changed(fn(record))``: centre the views on this CMB (also sent when it stayed the same but the reader
  asked to see it, e.g. ``J``, or after a key that found no other CMB);
- ``on_records_changed(fn())``: statuses, the queue or the listed rows changed: redraw the table and progress;
- ``on_view_changed(fn(view))``: the ``ViewState`` (zoom, window/level, overlay, minIP) changed: redraw the views
  with ``slice_view_setup.apply_view_state`` (also sent when a case opens, with that case's robust window).

Then forward input, never touching the session directly:

- every key the keymap binds, the reject-reason digits and Escape, as keymap text: ``press("X")``, ``press("1")``,
  ``press("Ctrl+Z")`` -> ``Outcome`` (true when it did something; ``message`` to show). ``X`` waits for a reason
  digit (``snapshot()["awaiting_reason"]``), Escape cancels it or an armed add;
- a table row -> ``select(cmb_id)``; the add-missed button -> ``arm_add()``, then the click -> ``add_at(ras)``;
- the show-filtered checkbox -> ``set_show_filtered(bool)`` (key ``H`` toggles); an order choice -> ``set_order``;
- view keys go through ``press`` like the others; a mouse drag -> ``drag_window(dx, dy)``, ctrl+wheel -> ``zoom``,
  a widget (slab thickness, overlay choice) -> ``set_view(replace(controller.view, ...))``;
- the case list -> ``cases`` / ``open_case(case_id)``; the reviewer field -> ``set_reviewer(name)``.

Render from ``snapshot()`` (rows, current id, progress, message, flags: plain data) or ``rows()`` / ``current()``;
the key help is ``keymap.legend()``. In Slicer: one ``QShortcut`` per key sequence of the keymap, the reason digits
and Escape, each connected to ``press(sequence)``; the panel's buttons call ``run(Command(action, status, reason))``.
Single-threaded: call it from the UI's event loop only.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from CMBQuantLib.core.case_folder import CaseFolderError
from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.core.scene import SceneContext, headless_context
from CMBQuantLib.review.filtered import ORDERS, n_filtered, set_show_filtered
from CMBQuantLib.review.key_dispatch import Command, KeyDispatcher
from CMBQuantLib.review.keymap import DEFAULT_KEYMAP, KeyBinding
from CMBQuantLib.review.display import (
    add_message,
    case_label,
    decision_message,
    filtered_hint,
    reject_prompt,
    table_rows,
)
from CMBQuantLib.review.session import ReviewSession
from CMBQuantLib.review.view_state import VIEW_ACTIONS, ZOOM_STEP, ViewState, robust_window, view_action
from CMBQuantLib.review.worklist import CaseEntry, list_cases
from CMBQuantLib.volumes.case_open import OpenCase

REVIEW_ERRORS = (ValueError, KeyError, CaseFolderError, OSError)  # shown as a message, never a dead UI
CHANGING = ("decide", "undo", "redo", "toggle_filtered")  # commands after which the rows must be redrawn


@dataclass(frozen=True)
class Outcome:
    """What an input did: ``handled`` (also the truth value), the command's ``action`` and the message to show."""

    handled: bool
    action: str = ""
    message: str = ""

    def __bool__(self) -> bool:
        return self.handled


class ReviewController:
    """Worklist position + open session + key state for one window."""

    def __init__(self, root: str | Path, reviewer: str = "", ctx: SceneContext | None = None,
                 keymap: tuple[KeyBinding, ...] = DEFAULT_KEYMAP, order: str = "confidence",
                 view: ViewState | None = None):
        self.root = Path(root)
        self.cases: list[CaseEntry] = list_cases(self.root)  # a bad folder fails here, before any scene is made
        self.reviewer = reviewer.strip()
        self.ctx = ctx if ctx is not None else self.make_context()
        self.keys = KeyDispatcher(keymap)
        self.show_filtered = False  # list the CMB filter's rejections (key H); kept across cases and reloads
        self.order = order
        self.view = view if view is not None else ViewState()  # kept across cases; the window is set per case
        self.session: ReviewSession | None = None
        self.case_id = ""
        self.message = ""
        self.add_armed = False  # the next click on a view adds a missed CMB
        self._seen_log = (0, 0)  # (size, mtime) of review.jsonl after our last write
        self._listeners: dict[str, list[Callable[..., None]]] = {"case": [], "current": [], "records": [],
                                                                 "view": []}

    def make_context(self) -> SceneContext:
        """The scene cases load into when none is given (a UI with its own scene passes ``ctx`` or overrides this)."""
        return headless_context()

    # -- listeners -------------------------------------------------------------------------------------------
    def on_case_changed(self, fn: Callable[[OpenCase | None], None]) -> None:
        self._listeners["case"].append(fn)

    def on_current_changed(self, fn: Callable[[CMBRecord | None], None]) -> None:
        self._listeners["current"].append(fn)

    def on_records_changed(self, fn: Callable[[], None]) -> None:
        self._listeners["records"].append(fn)

    def on_view_changed(self, fn: Callable[[ViewState], None]) -> None:
        self._listeners["view"].append(fn)

    def _emit(self, event: str, *args: Any) -> None:
        for fn in self._listeners[event]:
            fn(*args)

    def _emit_current(self) -> None:
        self._emit("current", self.current())

    # -- cases -----------------------------------------------------------------------------------------------
    def set_reviewer(self, name: str) -> None:
        """Decisions carry this name; changing it reopens the case so later lines carry the new name."""
        name = (name or "").strip()
        if name == self.reviewer:
            if self.session is None and self.case_id and name:
                self.open_case(self.case_id)  # a case waiting for a name
            return
        self.reviewer = name
        if self.case_id:  # reopen under the new name; an empty name closes the case until one is given
            self.open_case(self.case_id)

    def open_case(self, case_id: str) -> bool:
        """Open a case of the worklist (closing the previous one) at its first undecided CMB; False with a message
        when it cannot be opened (unknown id, no reviewer name yet, unreadable folder)."""
        entry = next((c for c in self.cases if c.case_id == case_id), None)
        if entry is None:
            self.message = f"no case {case_id!r} under {self.root}"
            return False
        self.close_case()
        self.case_id = case_id
        if not self.reviewer:
            self.message = "Enter your name (reviewer) to start: every decision records who made it."
            return False
        try:
            self.session = ReviewSession.open(entry.folder, self.reviewer, ctx=self.ctx, order=self.order,
                                              show_filtered=self.show_filtered)
        except REVIEW_ERRORS as exc:
            self.message = str(exc)
            return False
        self._emit("case", self.session.case)
        self.view = self.view.with_auto(*robust_window(self.session.case.image))
        self._emit("view", self.view)
        self.message = "; ".join(self.session.warnings)
        self._seen_log = self._log_stamp()
        self._emit("records")
        self._emit_current()
        return True

    def close_case(self) -> None:
        """Close the open case: views told first (they still hold its nodes), then its nodes leave the scene."""
        if self.session is not None:
            self._emit("case", None)
            for node in (self.session.case.seg_node, self.session.case.volume_node):
                extra = [node.GetNthDisplayNode(i) for i in range(node.GetNumberOfDisplayNodes())]
                extra.append(node.GetStorageNode())
                self.ctx.scene.RemoveNode(node)
                for other in extra:
                    if other is not None and self.ctx.scene.IsNodePresent(other):
                        self.ctx.scene.RemoveNode(other)
        self.session = None
        self.keys.reset()
        self.add_armed = False

    def refresh_worklist(self) -> None:
        self.cases = list_cases(self.root)

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
            self._emit_current()
        self.message = ("The case changed on disk (another reviewer, Slicer or the command line): reloaded, and your "
                        "last input was not applied: check this CMB and repeat it. " + self.message)
        return True

    # -- input -----------------------------------------------------------------------------------------------
    def press(self, key: str, ctrl: bool = False, shift: bool = False, alt: bool = False) -> Outcome:
        """One key press (keymap text such as "A", "Space", "Ctrl+Z", or a key name plus modifier flags)."""
        command = self.keys.press(key, ctrl, shift, alt)
        return self.run(command) if command is not None else Outcome(False, "", self.message)

    def run(self, command: Command) -> Outcome:
        """Carry out one command (from a key, or a UI button naming the same action)."""
        if self.reload_if_changed():
            return Outcome(True, "reload", self.message)  # the reader sees the new state before deciding on it
        s = self.session
        if s is None:
            self.message = self.message or "Open a case first."
            return Outcome(False, command.action, self.message)
        self.message = ""
        if command.action in ("reject_menu", "cancel"):  # key state only: nothing to redraw but the message
            self.add_armed = False
            self.message = reject_prompt() if command.action == "reject_menu" else ""
            return Outcome(True, command.action, self.message)
        if command.action in VIEW_ACTIONS:  # the view only: nothing decided, nothing written
            self.set_view(view_action(self.view, command.action))
            return Outcome(True, command.action, self.message)
        try:
            handled = self._act(s, command)
        except REVIEW_ERRORS as exc:  # nothing of ours was logged: a change by another writer stays unseen, so the
            self.message = str(exc)  # next input reloads the case instead of failing again on a stale session
            return Outcome(False, command.action, self.message)
        self._seen_log = self._log_stamp()
        if not handled:
            return Outcome(False, command.action, self.message)
        if command.action in CHANGING:
            self._emit("records")
        self._emit_current()
        return Outcome(True, command.action, self.message)

    def _act(self, s: ReviewSession, command: Command) -> bool:
        action = command.action
        if action == "decide":
            self.message = decision_message(s.decide(command.status, reason=command.reason))
        elif action == "toggle_filtered":
            self._set_filtered(not self.show_filtered)
        elif action in ("next", "previous"):
            if (s.next() if action == "next" else s.previous()) is None:
                decided, total = s.progress()
                self.message = "All decided." if action == "next" and decided == total else "No other undecided CMB."
        elif action in ("undo", "redo"):
            if (s.undo() if action == "undo" else s.redo()) is None:
                self.message = f"Nothing to {action}."
        elif action != "jump":
            return False
        return True

    def select(self, cmb_id: int) -> Outcome:
        """Jump-to from the table."""
        if self.session is None:
            return Outcome(False, "select", self.message)
        if self.reload_if_changed():
            return Outcome(True, "reload", self.message)
        try:
            self.session.goto(int(cmb_id))
        except REVIEW_ERRORS as exc:
            self.message = str(exc)
            return Outcome(False, "select", self.message)
        self._emit_current()
        return Outcome(True, "select", self.message)

    def arm_add(self, armed: bool = True) -> None:
        """The add-missed flow: armed, the UI sends the next click on a view to ``add_at``; Escape disarms."""
        self.add_armed = bool(armed)

    def add_at(self, ras: Any, **options: Any) -> Outcome:
        """Add a CMB the detector missed at ``ras`` (mm) through ``ReviewSession.add_at`` (``options``: its
        method, diameter ...); disarms the add flow."""
        self.add_armed = False
        if self.session is None:
            return Outcome(False, "add", self.message)
        if self.reload_if_changed():
            return Outcome(True, "reload", self.message)
        try:
            rec = self.session.add_at(ras, **options)
        except REVIEW_ERRORS as exc:
            self.message = f"Could not add a CMB there: {exc}"
            return Outcome(False, "add", self.message)
        self._seen_log = self._log_stamp()
        self.message = add_message(rec, ras)
        self._emit("records")
        self._emit_current()
        return Outcome(True, "add", self.message)

    def set_show_filtered(self, show: bool) -> None:
        """Show or hide the CMB filter's rejections in the table and queue (they stay in the case folder)."""
        self._set_filtered(show)
        self._emit("records")
        self._emit_current()

    def _set_filtered(self, show: bool) -> None:
        self.show_filtered = bool(show)
        if self.session is not None:
            set_show_filtered(self.session, self.show_filtered)
        self.message = self.filtered_hint() or ("Filter-rejected candidates shown." if self.show_filtered else "")

    def set_order(self, order: str) -> None:
        """Review order of the queue (``confidence`` or ``position``), kept across cases."""
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
        self.order = order
        if self.session is not None:
            self.session.order = order
        self._emit("records")

    def set_view(self, view: ViewState) -> None:
        """Show the views this way (keys, the mouse and the UI's widgets all end here)."""
        self.view = view
        self.message = view.describe()
        self._emit("view", view)

    def zoom(self, steps: int) -> None:
        """Zoom by wheel notches (ctrl+wheel): positive zooms out."""
        self.set_view(self.view.with_fov(self.view.fov_mm * ZOOM_STEP ** int(steps)))

    def drag_window(self, dx: float, dy: float) -> None:
        """Window/level from a drag over a view (``dx``, ``dy`` as fractions of its width and height)."""
        self.set_view(self.view.dragged(dx, dy))

    # -- what a UI shows -------------------------------------------------------------------------------------
    def current(self) -> CMBRecord | None:
        return self.session.current if self.session is not None else None

    def filtered_hint(self) -> str:
        """What the UI says about the filter's rejections: how many are hidden, or that they are listed."""
        n = n_filtered(self.session.records()) if self.session is not None else 0
        return filtered_hint(n, self.show_filtered)

    def rows(self) -> list[dict[str, Any]]:
        """The table: one plain dict per listed CMB (``display.table_rows``)."""
        return table_rows(self.session.records(), self.session.show_filtered) if self.session is not None else []

    def snapshot(self) -> dict[str, Any]:
        """Everything a UI renders, as plain data (JSON-able but for the row colour tuples)."""
        s = self.session
        decided, total = s.progress() if s is not None else (0, 0)
        current = self.current()
        return {"case_id": self.case_id, "reviewer": self.reviewer, "rows": self.rows(),
                "current_id": current.cmb_id if current is not None else None,
                "decided": decided, "total": total, "progress": f"{decided}/{total} decided",
                "message": self.message, "awaiting_reason": self.keys.awaiting_reason, "add_armed": self.add_armed,
                "show_filtered": self.show_filtered, "filtered_hint": self.filtered_hint(), "order": self.order,
                "can_undo": bool(s and s.can_undo), "can_redo": bool(s and s.can_redo), "view": self.view.as_dict(),
                "cases": [{"case_id": c.case_id, "label": case_label(c, s if c.case_id == self.case_id else None)}
                          for c in self.cases]}
