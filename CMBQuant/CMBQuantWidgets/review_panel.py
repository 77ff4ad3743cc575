"""The "Review (keyboard)" section: a thin Qt binding of the one ``ReviewController`` (review/controller.py).

Keys, the reason step after X, next/previous/undo and the filter toggle are the controller's, exactly as in the
browser review; this panel only forwards key sequences and button clicks and redraws from what the controller tells
it. Buttons may pass the reason picked in the combo box (a mouse user's shortcut for X + digit). The view (outline
overlay, zoom, window/level, minIP slab, the crosshair on the CMB) is the controller's ``ViewState``, drawn on
Slicer's slice nodes by ``slice_view_setup.apply_view_state``: the very call the browser's views get. A case with
phase gets the phase row of ``review.phase_layout`` under the magnitude views (the same view state, no minIP).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import qt
import slicer

from CMBQuantLib.review.decision_log import REASONS
from CMBQuantLib.review.filtered import ORDERS
from CMBQuantLib.review.key_dispatch import Command
from CMBQuantLib.review.keymap import CANCEL_KEY, DEFAULT_KEYMAP, REJECT_REASON_KEYS, legend
from CMBQuantLib.review.navigation import slice_nodes
from CMBQuantLib.review.phase_layout import PhaseViews
from CMBQuantLib.review.slice_view_setup import apply_view_state
from CMBQuantWidgets.protocols import Parameters, ReviewLogic

COLUMNS = ["id", "status", "p(CMB) / conf.", "diameter (mm)", "region", "lobe", "flags"]  # as the web table


class ReviewPanel:
    def __init__(self, ui: Any, logic: ReviewLogic, parameters: Parameters):
        self.ui, self.logic, self.parameters = ui, logic, parameters
        self.controller: Any = None
        self.phase: PhaseViews | None = None  # the open case's phase views (review/phase_layout.py)
        self.shortcuts: list[Any] = []
        u = ui
        u.definiteButton.clicked.connect(lambda: self.run(Command("decide", status="definite")))
        u.possibleButton.clicked.connect(lambda: self.run(Command("decide", status="possible")))
        u.rejectButton.clicked.connect(self.onRejectButton)
        u.nextButton.clicked.connect(lambda: self.run(Command("next")))
        u.previousButton.clicked.connect(lambda: self.run(Command("previous")))
        u.undoButton.clicked.connect(lambda: self.run(Command("undo")))
        u.redoButton.clicked.connect(lambda: self.run(Command("redo")))
        u.addCmbButton.clicked.connect(self.onAddAtCrosshair)
        u.hideRejectedCheckBox.toggled.connect(lambda _: self.refresh())
        u.showFilteredCheckBox.toggled.connect(self.onShowFiltered)
        u.cmbTable.cellClicked.connect(self.onTableClicked)
        u.caseFolderPathLineEdit.currentPathChanged.connect(self.onOpenCase)
        u.reasonComboBox.addItems(list(REASONS))
        u.orderComboBox.addItems(list(ORDERS))  # confidence (the default) or position
        u.orderComboBox.activated.connect(lambda _: self.onOrder(u.orderComboBox.currentText))
        self._bind_keys()

    @property
    def session(self) -> Any:
        """The open case's ``ReviewSession`` (the regions and export panels read it), or None."""
        return self.controller.session if self.controller is not None else None

    def _bind_keys(self) -> None:
        """One shortcut per key sequence of the shared keymap, the reason digits and Escape, each forwarded as is."""
        sequences = [k for b in DEFAULT_KEYMAP for k in b.keys] + list(REJECT_REASON_KEYS) + [CANCEL_KEY]
        for key in dict.fromkeys(sequences):
            self._shortcut(key, lambda k=key: self.press(k))
        self.ui.keysLabel.text = "\n".join(legend())

    def _shortcut(self, key: str, slot: Callable[[], Any]) -> None:
        sc = qt.QShortcut(qt.QKeySequence(key), slicer.util.mainWindow())
        sc.activated.connect(slot)
        self.shortcuts.append(sc)

    def cleanup(self) -> None:
        for sc in self.shortcuts:
            sc.setParent(None)
        if self.phase is not None:
            self.phase.hide()  # the reader's own layout back

    def press(self, key: str) -> None:
        if self.controller is not None:
            self._say(self.controller.press(key))

    def run(self, command: Command) -> None:
        if self.controller is not None:
            with slicer.util.tryWithErrorDisplay("Decision not saved"):
                self._say(self.controller.run(command))

    def onRejectButton(self) -> None:
        self.run(Command("decide", status="rejected", reason=self.ui.reasonComboBox.currentText))

    def onOpenCase(self, folder: str) -> None:
        reviewer = self.ui.reviewerLineEdit.text.strip()
        if not folder or not os.path.isdir(folder):
            return
        if not reviewer:
            slicer.util.errorDisplay("Enter your name as reviewer: it is recorded with every decision.")
            return
        self.parameters.save()
        with slicer.util.tryWithErrorDisplay("Could not open the case", waitCursor=True):
            ctl = self.logic.open_controller(folder, reviewer)
            if self.phase is not None:
                self.phase.hide()
            self.phase = PhaseViews(ctl.ctx, ctl.view.views)
            ctl.on_case_changed(self._case_changed)
            ctl.on_current_changed(self._current_changed)
            ctl.on_records_changed(self.refresh)
            ctl.on_view_changed(self._view_changed)
            self.controller = ctl
            ctl.set_view(ctl.view.with_fov(float(self.ui.fovSpinBox.value)))
            ctl.set_show_filtered(bool(self.ui.showFilteredCheckBox.checked))
            if not ctl.open_case(ctl.cases[0].case_id):
                slicer.util.errorDisplay(ctl.message)

    def _case_changed(self, case: Any) -> None:
        if case is None:
            self.phase.drop_volume()  # the layout stays until the next case says whether it has phase
            return
        self.ui.segmentationSelector.setCurrentNode(case.seg_node)
        self.logic.show_case(case)  # every view's background, so before the phase views get theirs
        self.phase.show_case(case)
        if self.phase.message:
            slicer.util.warningDisplay(self.phase.message)
        for warning in self.session.warnings:
            slicer.util.warningDisplay(warning)

    def _current_changed(self, record: Any) -> None:
        self.refresh()
        if record is not None:
            self.logic.jump_to(record, self.controller.view.fov_mm)
            self._apply_view(record.ras)

    def _view_changed(self, view: Any) -> None:
        """Zoom, window/level, overlay or slab changed (a key): redraw the views, keep the spin box in step."""
        self.ui.fovSpinBox.value = view.fov_mm
        self._apply_view(None)

    def _apply_view(self, ras: Any) -> None:
        if self.session is None:
            return
        case = self.session.case
        apply_view_state(slice_nodes(self.controller.ctx), self.controller.view, ras, case.volume_node,
                         case.seg_node)
        self.phase.apply(self.controller.view, ras)  # linked to the magnitude views, never a minIP

    def onShowFiltered(self, checked: bool) -> None:
        """List (or hide) the CMB filter's rejections; hiding the one on screen moves on to an undecided CMB."""
        if self.controller is not None:
            self.controller.set_show_filtered(bool(checked))

    def onOrder(self, order: str) -> None:
        if self.controller is not None and order:
            self.controller.set_order(order)

    def onAddAtCrosshair(self) -> None:
        if self.controller is not None:
            self._say(self.controller.add_at(self.logic.crosshair_ras()))

    def onTableClicked(self, row: int, _col: int) -> None:
        if self.controller is not None:
            self._say(self.controller.select(int(self.ui.cmbTable.item(row, 0).text())))

    def after(self, _result: Any = None) -> None:
        """Redraw after another panel changed the session (regions)."""
        self.refresh()

    def _say(self, outcome: Any) -> None:
        if outcome is not None and outcome.message:
            self.ui.statusLabel.text = outcome.message

    def refresh(self) -> None:
        if self.session is None:
            return
        rows = [r for r in self.controller.rows() if not (self.ui.hideRejectedCheckBox.checked
                                                          and r["status"] == "rejected")]
        self._fill_table(rows)
        snap = self.controller.snapshot()
        current = snap.get("current_id")
        index = next((i for i, r in enumerate(rows) if r["cmb_id"] == current), None)
        if index is not None:  # the current CMB highlighted and kept in view
            self.ui.cmbTable.selectRow(index)
            self.ui.cmbTable.scrollToItem(self.ui.cmbTable.item(index, 0))
        note = snap["message"] or snap["filtered_hint"]
        self.ui.statusLabel.text = f"Reviewed {snap['decided']}/{snap['total']}, {len(rows)} listed" + (
            f". {note}" if note else "")
        self._show_segments({r["cmb_id"] for r in rows})

    def _fill_table(self, rows: list[dict[str, Any]]) -> None:
        table = self.ui.cmbTable
        table.setColumnCount(len(COLUMNS))
        table.setHorizontalHeaderLabels(COLUMNS)
        table.setRowCount(len(rows))
        for row, r in enumerate(rows):
            status = r["status"] + (f" ({r['reason']})" if r["reason"] else "")
            values = [r["cmb_id"], status, r["score"], f"{r['diameter']:.1f}", r["region"], r["lobe"], r["flags"]]
            for col, value in enumerate(values):
                table.setItem(row, col, qt.QTableWidgetItem(str(value)))

    def _show_segments(self, shown: set[int]) -> None:
        """Only the listed CMBs' segments are visible in the views."""
        seg_node = self.session.case.seg_node
        seg_display = seg_node.GetDisplayNode()
        for r in self.session.records():
            seg_id = f"cmb_{r.cmb_id:03d}"
            if seg_display and seg_node.GetSegmentation().GetSegment(seg_id):
                seg_display.SetSegmentVisibility(seg_id, r.cmb_id in shown)
