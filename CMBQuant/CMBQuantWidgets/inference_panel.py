"""The "Detect microbleeds" section: model cache, run options, a detection run in a worker with progress."""
from __future__ import annotations

from typing import Any

import qt
import slicer

from CMBQuantWidgets.protocols import DetectionLogic, InferenceRun, Parameters

POLL_MS = 150


class InferencePanel:
    def __init__(self, ui: Any, logic: DetectionLogic, parameters: Parameters):
        self.ui, self.logic, self.parameters = ui, logic, parameters
        self.run: InferenceRun | None = None
        self.timer = qt.QTimer()
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.onPoll)
        ui.applyButton.clicked.connect(self.onApply)
        ui.cancelButton.clicked.connect(self.onCancel)
        ui.importModelButton.clicked.connect(self.onImportModel)
        ui.deleteModelButton.clicked.connect(self.onDeleteModel)
        ui.cancelButton.enabled = False
        self.refresh_models()

    def refresh_models(self) -> None:
        self.ui.modelComboBox.clear()
        for label, name in self.logic.model_choices():
            self.ui.modelComboBox.addItem(label, name)

    def onImportModel(self) -> None:
        path = qt.QFileDialog.getOpenFileName(None, "nnU-Net v2 model (.zip)", "", "Zip (*.zip)") \
            or qt.QFileDialog.getExistingDirectory(None, "nnU-Net v2 results folder")
        if path:
            with slicer.util.tryWithErrorDisplay("Model import failed", waitCursor=True):
                self.logic.import_model(path)
                self.refresh_models()

    def onDeleteModel(self) -> None:
        name = self.ui.modelComboBox.currentData
        if name and slicer.util.confirmYesNoDisplay(f"Delete model '{name}' from the cache?"):
            self.logic.delete_model(name)
            self.refresh_models()

    def onApply(self) -> None:
        volume = self.ui.inputVolumeSelector.currentNode()
        if volume is None:
            slicer.util.errorDisplay("Select an SWI volume first.")
            return
        options = self.parameters.save().run_options()
        with slicer.util.tryWithErrorDisplay("Could not start the detection", waitCursor=True):
            self.run = self.logic.start_detection(volume, options)
        if self.run is None:
            return
        self._busy(True, "Starting nnU-Net worker...")
        self.timer.start()

    def onPoll(self) -> None:
        run = self.run
        if run is None:
            return
        for event in run.poll():
            if event.type == "progress":
                self.ui.progressBar.value = int(event.percent)
                self.ui.statusLabel.text = f"{event.stage}: {event.message}"
            elif event.type == "error":
                slicer.util.errorDisplay(event.message)
        if not run.running():
            self.timer.stop()
            self._finished(run)
            self.run = None

    def _finished(self, run: InferenceRun) -> None:
        result = run.result()
        self._busy(False, "Cancelled" if run.cancelled else "Done")
        if result and result.get("cases"):
            case_dir = result["cases"][0].get("out_dir")
            if case_dir:  # opening the case folder is the review panel's (currentPathChanged)
                self.ui.caseFolderPathLineEdit.currentPath = case_dir
        elif not run.cancelled:
            slicer.util.errorDisplay("Inference failed:\n" + "\n".join(list(run.stderr_tail)[-15:]))

    def onCancel(self) -> None:
        if self.run is not None and self.run.running():
            self.run.cancel()
        self.timer.stop()
        self._busy(False, "Cancelled")

    def _busy(self, busy: bool, message: str) -> None:
        self.ui.applyButton.enabled = not busy
        self.ui.cancelButton.enabled = busy
        self.ui.statusLabel.text = message

    def cleanup(self) -> None:
        self.onCancel()
