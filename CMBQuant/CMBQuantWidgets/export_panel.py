"""The "Export" section: the open case's files, a training set from reviewed cases, and the detector's scores."""
from __future__ import annotations

from typing import Any

import qt
import slicer

from CMBQuantWidgets.protocols import ExportLogic, Parameters
from CMBQuantWidgets.review_panel import ReviewPanel


class ExportPanel:
    def __init__(self, ui: Any, logic: ExportLogic, review: ReviewPanel, parameters: Parameters):
        self.ui, self.logic, self.review, self.parameters = ui, logic, review, parameters
        ui.exportCaseButton.clicked.connect(self.onExportCase)
        ui.exportNNUNetButton.clicked.connect(self.onExportNNUNet)
        ui.exportDicomButton.clicked.connect(self.onExportDicom)
        ui.evaluateButton.clicked.connect(self.onEvaluate)

    def onExportCase(self) -> None:
        session = self.review.session
        if session is None:
            return
        with slicer.util.tryWithErrorDisplay("Export failed", waitCursor=True):
            out = self.logic.export_case(session.case.folder, self.parameters.save().output_folder)
            slicer.util.infoDisplay(f"Exported to {out}")

    def onExportDicom(self) -> None:
        """The open case's accepted CMBs as a DICOM SEG and a TID 1500 SR referencing its source series."""
        session = self.review.session
        if session is None:
            return
        with slicer.util.tryWithErrorDisplay("DICOM export failed", waitCursor=True):
            paths = self.logic.export_dicom(session.case.folder, self.parameters.save().output_folder)
            slicer.util.infoDisplay("DICOM written:\n" + "\n".join(str(p) for p in paths))

    def onExportNNUNet(self) -> None:
        root = qt.QFileDialog.getExistingDirectory(None, "Folder of reviewed case folders")
        if root:
            with slicer.util.tryWithErrorDisplay("nnU-Net export failed", waitCursor=True):
                out = self.logic.export_nnunet(root, self.parameters.save().output_folder)
                slicer.util.infoDisplay(f"nnU-Net dataset written to {out}")

    def onEvaluate(self) -> None:
        """Score a folder of predictions against reference labels (``cmbquant evaluate``), report and table."""
        u = self.ui
        p = self.parameters.save()
        with slicer.util.tryWithErrorDisplay("Validation failed", waitCursor=True):
            report = self.logic.evaluate_detector(u.predictionsPathLineEdit.currentPath,
                                                  u.referencePathLineEdit.currentPath, p.output_folder,
                                                  p.match_distance_mm)
            u.evaluationLabel.text = f"Validation: {report}"

    def cleanup(self) -> None:
        pass
