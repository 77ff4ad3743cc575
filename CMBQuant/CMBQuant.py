"""CMBQuant Slicer module: binds CMBQuant.ui to CMBQuantLib. No logic lives here (see CMBQuantLib/)."""
from __future__ import annotations

import os

import qt
import slicer
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)

NNUNET_REQUIREMENTS = "nnunetv2==2.8.1 connected-components-3d"


class CMBQuant(ScriptedLoadableModule):
    def __init__(self, parent):
        super().__init__(parent)
        parent.title = "CMBQuant"
        parent.categories = ["Quantification"]
        parent.dependencies = []
        parent.contributors = ["CMBQuant developers"]
        parent.helpText = ("Detect cerebral microbleeds on SWI with an nnU-Net v2 model, review each one by keyboard, "
                           "count them by MARS region and export results and training labels. "
                           "The demo model is trained on synthetic phantoms only: not for clinical use.")
        parent.acknowledgementText = "nnU-Net v2 (Isensee et al. 2021); MARS (Gregoire et al. 2009)."


class CMBQuantLogic(ScriptedLoadableModuleLogic):
    """Slicer's scene and logics as a CMBQuantLib SceneContext."""

    def context(self):
        from CMBQuantLib.core.scene import slicer_context

        return slicer_context()


def ensure_inference_dependencies() -> bool:
    """torch through the PyTorch extension, nnU-Net via pip: only with the user's consent, never at import."""
    try:
        import PyTorchUtils  # provided by the PyTorch extension (EXTENSION_DEPENDS)

        if PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=True) is None:
            return False
    except ImportError:
        slicer.util.errorDisplay("Install the PyTorch extension from the Extension Manager first.")
        return False
    try:
        import nnunetv2  # noqa: F401
    except ImportError:
        if not slicer.util.confirmOkCancelDisplay(f"CMBQuant needs to install: {NNUNET_REQUIREMENTS}. Proceed?"):
            return False
        slicer.util.pip_install(NNUNET_REQUIREMENTS)
    return True


class CMBQuantWidget(ScriptedLoadableModuleWidget):
    def setup(self):
        super().setup()
        ui_widget = slicer.util.loadUI(self.resourcePath("UI/CMBQuant.ui"))
        self.layout.addWidget(ui_widget)
        self.ui = slicer.util.childWidgetVariables(ui_widget)
        ui_widget.setMRMLScene(slicer.mrmlScene)
        self.logic = CMBQuantLogic()
        self.client = None
        self.session = None
        self.timer = qt.QTimer()
        self.timer.setInterval(150)
        self.timer.timeout.connect(self.onPoll)
        self.shortcuts = []
        self._connect()
        self._refreshModels()
        self._bindKeys()

    # -- wiring -----------------------------------------------------------------------------------------------
    def _connect(self):
        u = self.ui
        u.applyButton.clicked.connect(self.onApply)
        u.cancelButton.clicked.connect(self.onCancel)
        u.importModelButton.clicked.connect(self.onImportModel)
        u.deleteModelButton.clicked.connect(self.onDeleteModel)
        u.definiteButton.clicked.connect(lambda: self.onDecide("definite"))
        u.possibleButton.clicked.connect(lambda: self.onDecide("possible"))
        u.rejectButton.clicked.connect(lambda: self.onDecide("rejected"))
        u.nextButton.clicked.connect(lambda: self._show(self.session.next()))
        u.previousButton.clicked.connect(lambda: self._show(self.session.previous()))
        u.undoButton.clicked.connect(lambda: self._after(self.session.undo()))
        u.redoButton.clicked.connect(lambda: self._after(self.session.redo()))
        u.addCmbButton.clicked.connect(self.onAddAtCrosshair)
        u.hideRejectedCheckBox.toggled.connect(lambda _: self._refreshTable())
        u.showFilteredCheckBox.toggled.connect(self.onShowFiltered)
        u.cmbTable.cellClicked.connect(self.onTableClicked)
        u.caseFolderPathLineEdit.currentPathChanged.connect(self.onOpenCase)
        u.regionsButton.clicked.connect(self.onRegions)
        u.exportCaseButton.clicked.connect(self.onExportCase)
        u.exportNNUNetButton.clicked.connect(self.onExportNNUNet)
        u.cancelButton.enabled = False
        from CMBQuantLib.review.session import REASONS

        u.reasonComboBox.addItems(list(REASONS))

    def _bindKeys(self):
        from CMBQuantLib.review.keymap import DEFAULT_KEYMAP, REJECT_REASON_KEYS

        actions = {"next": lambda b: self._show(self.session.next()),
                   "previous": lambda b: self._show(self.session.previous()),
                   "undo": lambda b: self._after(self.session.undo()),
                   "redo": lambda b: self._after(self.session.redo()),
                   "jump": lambda b: self._jump(),
                   "decide": lambda b: self.onDecide(b.status),
                   "reject_menu": lambda b: self.onDecide("rejected"),
                   "toggle_filtered": lambda b: self.ui.showFilteredCheckBox.toggle()}  # toggled does the rest
        lines = []
        for binding in DEFAULT_KEYMAP:
            for key in binding.keys:
                sc = qt.QShortcut(qt.QKeySequence(key), slicer.util.mainWindow())
                sc.activated.connect(lambda b=binding: self.session and actions[b.action](b))
                self.shortcuts.append(sc)
            lines.append(f"{' / '.join(binding.keys)}: {binding.label}")
        for digit, reason in REJECT_REASON_KEYS.items():
            sc = qt.QShortcut(qt.QKeySequence(f"Alt+{digit}"), slicer.util.mainWindow())
            sc.activated.connect(lambda r=reason: self.ui.reasonComboBox.setCurrentText(r))
            self.shortcuts.append(sc)
        self.ui.keysLabel.text = "\n".join(lines)

    def cleanup(self):
        self.onCancel()
        for sc in self.shortcuts:
            sc.setParent(None)

    # -- models and inference -----------------------------------------------------------------------------------
    def _refreshModels(self):
        from CMBQuantLib.detection.nnunet.model_store import DEMO_MODEL_NAME, list_models

        self.ui.modelComboBox.clear()
        self.ui.modelComboBox.addItem("CMBQuant demo model (synthetic, not clinical)", "")
        for info in list_models():
            if info.name != DEMO_MODEL_NAME:
                label = info.name if not info.problem else f"{info.name} (invalid: {info.problem})"
                self.ui.modelComboBox.addItem(label, info.name)

    def onImportModel(self):
        from CMBQuantLib.detection.nnunet.model_store import import_model

        path = qt.QFileDialog.getOpenFileName(None, "nnU-Net v2 model (.zip)", "", "Zip (*.zip)") \
            or qt.QFileDialog.getExistingDirectory(None, "nnU-Net v2 results folder")
        if path:
            with slicer.util.tryWithErrorDisplay("Model import failed", waitCursor=True):
                import_model(path)
                self._refreshModels()

    def onDeleteModel(self):
        from CMBQuantLib.detection.nnunet.model_store import delete_model

        name = self.ui.modelComboBox.currentData
        if name and slicer.util.confirmYesNoDisplay(f"Delete model '{name}' from the cache?"):
            delete_model(name)
            self._refreshModels()

    def onApply(self):
        from CMBQuantLib.pipeline.run_options import RunOptions
        from CMBQuantLib.pipeline.worker import InferenceClient

        volume = self.ui.inputVolumeSelector.currentNode()
        if volume is None:
            slicer.util.errorDisplay("Select an SWI volume first.")
            return
        if not ensure_inference_dependencies():
            return
        storage = volume.GetStorageNode()
        path = storage.GetFileName() if storage else None
        out = os.path.join(slicer.app.temporaryPath, "CMBQuant", volume.GetName())
        if not path or not os.path.exists(path):
            path = os.path.join(out, "input.nii.gz")
            os.makedirs(out, exist_ok=True)
            slicer.util.saveNode(volume, path)
        device = self.ui.deviceComboBox.currentText
        options = RunOptions(model=self.ui.modelComboBox.currentData or None, device=device,
                             step_size=self.ui.stepSizeSpinBox.value, mirroring=self.ui.mirroringCheckBox.checked,
                             threshold=self.ui.thresholdSpinBox.value, filter=self.ui.filterComboBox.currentText,
                             filter_threshold=self.ui.filterThresholdSpinBox.value or None)
        python = slicer.app.applicationDirPath() + "/PythonSlicer"
        self.client = InferenceClient([path], out, options, python=python if os.path.exists(python) else None)
        self.client.start()
        self._busy(True, "Starting nnU-Net worker...")
        self.timer.start()

    def onPoll(self):
        if self.client is None:
            return
        for event in self.client.poll():
            if event.type == "progress":
                self.ui.progressBar.value = int(event.percent)
                self.ui.statusLabel.text = f"{event.stage}: {event.message}"
            elif event.type == "error":
                slicer.util.errorDisplay(event.message)
        if not self.client.running():
            self.timer.stop()
            result = self.client.result()
            self._busy(False, "Cancelled" if self.client.cancelled else "Done")
            if result and result.get("cases"):
                case_dir = result["cases"][0].get("out_dir")
                if case_dir:
                    self.ui.caseFolderPathLineEdit.currentPath = case_dir
            elif not self.client.cancelled:
                slicer.util.errorDisplay("Inference failed:\n" + "\n".join(list(self.client.stderr_tail)[-15:]))
            self.client = None

    def onCancel(self):
        if self.client is not None and self.client.running():
            self.client.cancel()
        self.timer.stop()
        self._busy(False, "Cancelled")

    def _busy(self, busy, message):
        self.ui.applyButton.enabled = not busy
        self.ui.cancelButton.enabled = busy
        self.ui.statusLabel.text = message

    # -- review ------------------------------------------------------------------------------------------------
    def onOpenCase(self, folder):
        from CMBQuantLib.review.session import ReviewSession

        reviewer = self.ui.reviewerLineEdit.text.strip()
        if not folder or not os.path.isdir(folder):
            return
        if not reviewer:
            slicer.util.errorDisplay("Enter your name as reviewer: it is recorded with every decision.")
            return
        with slicer.util.tryWithErrorDisplay("Could not open the case", waitCursor=True):
            self.session = ReviewSession.open(folder, reviewer, ctx=self.logic.context(),
                                              show_filtered=self.ui.showFilteredCheckBox.checked)
            self.ui.segmentationSelector.setCurrentNode(self.session.case.seg_node)
            slicer.util.setSliceViewerLayers(background=self.session.case.volume_node, fit=True)
            for warning in self.session.warnings:
                slicer.util.warningDisplay(warning)
            self._show(self.session.current)

    def onDecide(self, status):
        if self.session is None:
            return
        with slicer.util.tryWithErrorDisplay("Decision not saved"):
            reason = self.ui.reasonComboBox.currentText if status == "rejected" else ""
            self._after(self.session.decide(status, reason=reason))

    def onShowFiltered(self, checked):
        """List (or hide) the CMB filter's rejections; hiding the one on screen moves on to an undecided CMB."""
        from CMBQuantLib.review.filtered import set_show_filtered

        if self.session is not None:
            self._show(set_show_filtered(self.session, bool(checked)))

    def onAddAtCrosshair(self):
        if self.session is None:
            return
        ras = [0.0, 0.0, 0.0]
        slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLCrosshairNode").GetCursorPositionRAS(ras)
        with slicer.util.tryWithErrorDisplay("Could not add a CMB here"):
            self._after(self.session.add_at(ras))

    def onTableClicked(self, row, _col):
        cmb_id = int(self.ui.cmbTable.item(row, 0).text())
        self._show(self.session.goto(cmb_id))

    def _after(self, _result):
        self._refreshTable()
        self._show(self.session.current)

    def _show(self, record):
        self._refreshTable()
        if record is not None:
            self._jump()

    def _jump(self):
        from CMBQuantLib.review.navigation import jump_to_cmb

        if self.session and self.session.current is not None:
            jump_to_cmb(self.logic.context(), self.session.current, fov_mm=self.ui.fovSpinBox.value)

    def _refreshTable(self):
        table = self.ui.cmbTable
        if self.session is None:
            return
        from CMBQuantLib.review.filtered import visible_records

        records = visible_records(self.session.records(), self.ui.showFilteredCheckBox.checked,
                                  self.ui.hideRejectedCheckBox.checked)
        shown = {r.cmb_id for r in records}
        columns = ["id", "status", "region", "lobe", "diameter (mm)", "confidence", "p(CMB)"]
        table.setColumnCount(len(columns))
        table.setHorizontalHeaderLabels(columns)
        table.setRowCount(len(records))
        for row, r in enumerate(records):
            conf = "" if r.confidence_mean is None else f"{r.confidence_mean:.2f}"
            p_cmb = "" if r.p_cmb is None else f"{r.p_cmb:.2f}"
            status = r.status + (f" ({r.reason})" if r.reason else "")
            for col, value in enumerate([r.cmb_id, status, r.region, r.lobe, f"{r.diameter_eq_mm:.1f}", conf, p_cmb]):
                table.setItem(row, col, qt.QTableWidgetItem(str(value)))
        done, total = self.session.progress()
        self.ui.statusLabel.text = f"Reviewed {done}/{total}, {len(records)} listed"
        seg_display = self.session.case.seg_node.GetDisplayNode()
        for r in self.session.records():
            seg_id = f"cmb_{r.cmb_id:03d}"
            if seg_display and self.session.case.seg_node.GetSegmentation().GetSegment(seg_id):
                seg_display.SetSegmentVisibility(seg_id, r.cmb_id in shown)

    # -- regions and export ------------------------------------------------------------------------------------
    def onRegions(self):
        from CMBQuantLib.core.counts import case_counts
        from CMBQuantLib.core.geometry import geometry_of_node
        from CMBQuantLib.regions.assign import apply_region_map, assign_regions
        from CMBQuantLib.regions.parcellation import region_map_from_labels

        if self.session is None:
            return
        with slicer.util.tryWithErrorDisplay("Region assignment failed", waitCursor=True):
            records = self.session.records()
            node = self.ui.parcellationSelector.currentNode()
            if node is not None:  # the subject's own parcellation, registered to the SWI
                region_map = region_map_from_labels(slicer.util.arrayFromVolume(node), geometry_of_node(node),
                                                    source=f"parcellation:{node.GetName()}")
                assigned = apply_region_map(records, region_map)
            else:  # template registration (MNI) and the region atlas
                assigned = assign_regions(records, swi_image=self.session.case.image,
                                          swi_geometry=self.session.case.geometry)
            self.session.set_regions(assigned)
            counts = case_counts(self.session.records())
            self.ui.countsLabel.text = ", ".join(f"{k}: {v}" for k, v in counts.items() if v)
            self._refreshTable()

    def onExportCase(self):
        from CMBQuantLib.export.case_export import export_case

        if self.session is None:
            return
        with slicer.util.tryWithErrorDisplay("Export failed", waitCursor=True):
            out = export_case(self.session.case.folder, self.ui.outputPathLineEdit.currentPath)
            slicer.util.infoDisplay(f"Exported to {out}")

    def onExportNNUNet(self):
        from CMBQuantLib.export.cohort import case_folders
        from CMBQuantLib.export.nnunet_dataset import export_nnunet

        root = qt.QFileDialog.getExistingDirectory(None, "Folder of reviewed case folders")
        if root:
            with slicer.util.tryWithErrorDisplay("nnU-Net export failed", waitCursor=True):
                out = export_nnunet(case_folders(root), self.ui.outputPathLineEdit.currentPath)
                slicer.util.infoDisplay(f"nnU-Net dataset written to {out}")


class CMBQuantTest(ScriptedLoadableModuleTest):
    """Runs the pure-package checks that make sense inside Slicer, on slicer.mrmlScene."""

    def runTest(self):
        slicer.mrmlScene.Clear()
        self.test_phantom_to_segments_in_slicer_scene()
        self.test_review_decision_is_persisted()

    def test_phantom_to_segments_in_slicer_scene(self):
        from CMBQuantLib.core.scene import slicer_context
        from CMBQuantLib.core.segments import create_cmb_segmentation, read_records
        from CMBQuantLib.detection.candidates import find_candidates
        from CMBQuantLib.phantoms.phantom import PhantomConfig, builtin_phantom
        from CMBQuantLib.volumes.images import volume_node_from_array

        ctx = slicer_context()
        ph = builtin_phantom(seed=3, config=PhantomConfig(n_cmbs=5))
        volume = volume_node_from_array(ctx, ph.image, ph.geometry, "phantom")
        records, labels = find_candidates(ph.cmb_labels > 0, ph.geometry, image=ph.image)
        seg = create_cmb_segmentation(ctx, volume, labels, records)
        self.assertEqual(len(read_records(seg)), 5)

    def test_review_decision_is_persisted(self):
        """A phantom case folder (ground-truth ORACLE segmenter), one decision, reopened: nothing lost."""
        import tempfile
        from pathlib import Path

        from CMBQuantLib.core.scene import slicer_context
        from CMBQuantLib.phantoms.phantom import PhantomConfig, builtin_phantom
        from CMBQuantLib.pipeline.process_case import BatchInput, process_case
        from CMBQuantLib.review.session import ReviewSession, effective_records
        from CMBQuantLib.volumes.images import write_image

        ph = builtin_phantom(seed=5, config=PhantomConfig(n_cmbs=4))

        class OracleSegmenter:  # test-only: returns the phantom's own ground truth
            model_info = {"name": "oracle-ground-truth"}

            def segment(self, image, geometry):
                return (ph.cmb_labels > 0).astype("float32") * 0.9

        root = Path(tempfile.mkdtemp())
        src = write_image(ph.image, ph.geometry, root / "in" / "p5.nii.gz")
        folder = process_case(BatchInput("p5", src), root / "cases", OracleSegmenter())
        session = ReviewSession.open(folder, "selftest", ctx=slicer_context())
        first = session.current.cmb_id
        session.reject("vessel")
        statuses = {r.cmb_id: r.status for r in effective_records(folder)}
        self.assertEqual(statuses[first], "rejected")
        self.assertEqual(len(statuses), 4)
