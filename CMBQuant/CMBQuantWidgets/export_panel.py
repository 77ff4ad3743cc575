"""The "Export" section: the open case's files, a training set from reviewed cases, learning a new CMB filter
version from them (``cmbquant train-filter`` in a worker process, with progress and cancel), and the detector's
scores."""
from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import qt
import slicer

from CMBQuantLib.commands.train_filter_command import start_learning
from CMBQuantWidgets.protocols import ExportLogic, InferenceRun, Parameters
from CMBQuantWidgets.review_panel import ReviewPanel

POLL_MS = 200


class ExportPanel:
    def __init__(self, ui: Any, logic: ExportLogic, review: ReviewPanel, parameters: Parameters,
                 learner: Callable[..., InferenceRun] = start_learning):
        self.ui, self.logic, self.review, self.parameters = ui, logic, review, parameters
        self.learner, self.learning = learner, None
        self.learn_timer = qt.QTimer()
        self.learn_timer.setInterval(POLL_MS)
        self.learn_timer.timeout.connect(self.onLearnPoll)
        ui.exportCaseButton.clicked.connect(self.onExportCase)
        ui.exportNNUNetButton.clicked.connect(self.onExportNNUNet)
        ui.exportDicomButton.clicked.connect(self.onExportDicom)
        ui.evaluateButton.clicked.connect(self.onEvaluate)
        ui.learnButton.clicked.connect(self.onLearn)
        ui.learnCancelButton.clicked.connect(self.onLearnCancel)
        ui.learnCancelButton.enabled = False

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

    def onLearn(self) -> None:
        """Reviewed cases -> a new model version (parent: the model chosen under Detect), in a worker process."""
        name = self.ui.learnNameLineEdit.text.strip()
        if not name:
            slicer.util.errorDisplay("Name the new model version first (New model name).")
            return
        root = qt.QFileDialog.getExistingDirectory(None, "Folder of reviewed case folders")
        if not root:
            return
        result_file = Path(tempfile.mkdtemp(prefix="cmbquant-learn-")) / "result.json"
        with slicer.util.tryWithErrorDisplay("Could not start learning", waitCursor=True):
            self.learning = self.learner(root, self.ui.modelComboBox.currentData or None, name, result_file)
        if self.learning is None:
            return
        self._learn_busy(True, "Learning from reviewed cases...")
        self.learn_timer.start()

    def onLearnPoll(self) -> None:
        run = self.learning
        if run is None:
            return
        for event in run.poll():
            if event.type == "progress":
                self.ui.learnStatusLabel.text = f"{event.stage} {int(event.percent)} %: {event.message}"
            elif event.type == "error":
                slicer.util.errorDisplay(event.message)
        if not run.running():
            self.learn_timer.stop()
            self.learning = None
            self._learned(run)

    def _learned(self, run: InferenceRun) -> None:
        result = None if run.cancelled else run.result()
        if run.cancelled:
            self._learn_busy(False, "Learning cancelled: nothing was written.")
            return
        if not result:
            self._learn_busy(False, "Learning failed.")
            slicer.util.errorDisplay("Learning failed:\n" + "\n".join(list(run.stderr_tail)[-15:]))
            return
        self._learn_busy(False, learned_text(result))
        self.ui.modelComboBox.clear()  # the new version appears in the model picker, with its parent
        for label, model in self.logic.model_choices():
            self.ui.modelComboBox.addItem(label, model)
        slicer.util.infoDisplay(learned_text(result) + f"\nReport: {result['report_html']}")
        if result.get("report_html"):
            qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(result["report_html"]))

    def onLearnCancel(self) -> None:
        if self.learning is not None and self.learning.running():
            self.learning.cancel()
        self.learn_timer.stop()
        self.learning = None
        self._learn_busy(False, "Learning cancelled: nothing was written.")

    def _learn_busy(self, busy: bool, message: str) -> None:
        self.ui.learnButton.enabled = not busy
        self.ui.learnCancelButton.enabled = busy
        self.ui.learnStatusLabel.text = message

    def cleanup(self) -> None:
        if self.learning is not None:
            self.onLearnCancel()


def learned_text(result: dict) -> str:
    """One line per fact: the new version, its parent, and before/after on the held-out cases."""
    version = result["version"]
    lines = [f"New model {result['name']} (from {version['parent']}, {len(result['train_cases'])} reviewed cases)."]
    b, a = result.get("before") or {}, result.get("after") or {}
    if b:
        lines.append(f"Held-out cases ({len(result['holdout_cases'])}): FP per scan {b['fp_per_scan']} -> "
                     f"{a['fp_per_scan']}, sensitivity {b['sensitivity']} -> {a['sensitivity']}.")
    return "\n".join(lines)
