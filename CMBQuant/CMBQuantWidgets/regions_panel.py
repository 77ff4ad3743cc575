"""The "MARS regions" section: region per CMB (subject parcellation or template), counts shown, table refreshed."""
from __future__ import annotations

from typing import Any

import slicer

from CMBQuantLib.core.counts import case_counts
from CMBQuantLib.regions.case_regions import counts_text
from CMBQuantWidgets.protocols import RegionsLogic
from CMBQuantWidgets.review_panel import ReviewPanel


class RegionsPanel:
    def __init__(self, ui: Any, logic: RegionsLogic, review: ReviewPanel):
        self.ui, self.logic, self.review = ui, logic, review
        ui.regionsButton.clicked.connect(self.onRegions)

    def onRegions(self) -> None:
        session = self.review.session
        if session is None:
            return
        with slicer.util.tryWithErrorDisplay("Region assignment failed", waitCursor=True):
            session.set_regions(self.logic.assign_regions(session, self.ui.parcellationSelector.currentNode()))
            self.ui.countsLabel.text = counts_text(case_counts(session.records()))
            self.review.refresh()

    def cleanup(self) -> None:
        pass
