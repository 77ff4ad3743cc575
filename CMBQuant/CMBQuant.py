"""CMBQuant Slicer module: metadata, a thin Logic (Slicer's side of the panels' Protocols), a Widget that builds the
panels (CMBQuantWidgets/) on the generated CMBQuant.ui, and the self-test. No CMB logic lives here (CMBQuantLib/)."""
from __future__ import annotations

from pathlib import Path

import qt
import slicer
from CMBQuantWidgets.detection_start import start_detection
from CMBQuantWidgets.dicom_start import export_case_dicom
from CMBQuantWidgets.export_panel import ExportPanel
from CMBQuantWidgets.inference_panel import InferencePanel
from CMBQuantWidgets.parameter_binding import ParameterBinding
from CMBQuantWidgets.regions_panel import RegionsPanel
from CMBQuantWidgets.review_panel import ReviewPanel
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)

from CMBQuantLib.core.scene import slicer_context
from CMBQuantLib.detection.nnunet.model_choices import model_choices
from CMBQuantLib.detection.nnunet.model_store import delete_model, import_model
from CMBQuantLib.export.case_export import export_case
from CMBQuantLib.export.cohort import case_folders
from CMBQuantLib.export.detector_evaluation import evaluate_detector, evaluation_dir
from CMBQuantLib.export.nnunet_dataset import export_nnunet
from CMBQuantLib.pipeline.machine_settings import MachineSettings
from CMBQuantLib.pipeline.parameters import parameter_node
from CMBQuantLib.regions.case_regions import assign_case_regions, parcellation_of_node
from CMBQuantLib.review.controller import ReviewController
from CMBQuantLib.review.navigation import jump_to_cmb
from CMBQuantLib.review.session import ReviewSession


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
    """The application's scene, dialogs and paths around CMBQuantLib calls (the panels' Protocols)."""

    model_choices, import_model, delete_model = map(staticmethod, (model_choices, import_model, delete_model))
    export_case, start_detection, export_dicom = map(staticmethod, (export_case, start_detection, export_case_dicom))

    def context(self):
        return slicer_context()

    def parameter_node(self):
        return parameter_node(slicer.mrmlScene)

    def open_controller(self, folder, reviewer):
        return ReviewController(folder, reviewer, ctx=self.context())

    def show_case(self, case):
        slicer.util.setSliceViewerLayers(background=case.volume_node, fit=True)

    def jump_to(self, record, fov_mm):
        jump_to_cmb(self.context(), record, fov_mm=fov_mm)

    def crosshair_ras(self):
        ras = [0.0, 0.0, 0.0]
        slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLCrosshairNode").GetCursorPositionRAS(ras)
        return ras

    def assign_regions(self, session, parcellation_node):
        return assign_case_regions(session.records(), session.case.image, session.case.geometry,
                                   parcellation_of_node(parcellation_node))

    def export_nnunet(self, root, out):
        return export_nnunet(case_folders(root), out)

    def evaluate_detector(self, predictions, reference, output_folder, distance_mm):
        out = evaluation_dir(output_folder, slicer.app.temporaryPath)
        return evaluate_detector(slicer.mrmlScene, predictions, reference, out, distance_mm).report


class CMBQuantWidget(ScriptedLoadableModuleWidget):
    """Like SegmentStatistics: the panels fill the parameter node from the GUI and call the logic."""

    def setup(self):
        super().setup()
        ui_widget = slicer.util.loadUI(self.resourcePath("UI/CMBQuant.ui"))
        self.layout.addWidget(ui_widget)
        self.ui = slicer.util.childWidgetVariables(ui_widget)
        ui_widget.setMRMLScene(slicer.mrmlScene)
        self.logic = CMBQuantLogic()
        self.parameters = ParameterBinding(self.ui, self.logic.parameter_node(), MachineSettings(qt.QSettings()))
        review = ReviewPanel(self.ui, self.logic, self.parameters)
        self.panels = [InferencePanel(self.ui, self.logic, self.parameters), review,
                       RegionsPanel(self.ui, self.logic, review),
                       ExportPanel(self.ui, self.logic, review, self.parameters)]
        self.parameters.show()

    def cleanup(self):
        for panel in getattr(self, "panels", []):
            panel.cleanup()


class CMBQuantTest(ScriptedLoadableModuleTest):
    """The Lib's checks that make sense inside Slicer, on slicer.mrmlScene (a ctest: see CMakeLists.txt)."""

    def runTest(self):
        slicer.mrmlScene.Clear()
        self.test_phantom_to_segments_in_slicer_scene()
        self.test_review_decision_is_persisted()

    def test_phantom_to_segments_in_slicer_scene(self):
        from CMBQuantLib.core.segments import create_cmb_segmentation, read_records
        from CMBQuantLib.detection.candidates import find_candidates
        from CMBQuantLib.phantoms.phantom import PhantomConfig, builtin_phantom
        from CMBQuantLib.volumes.images import volume_node_from_array

        ph, ctx = builtin_phantom(seed=3, config=PhantomConfig(n_cmbs=5)), slicer_context()
        volume = volume_node_from_array(ctx, ph.image, ph.geometry, "phantom")
        records, labels = find_candidates(ph.cmb_labels > 0, ph.geometry, image=ph.image)
        self.assertEqual(len(read_records(create_cmb_segmentation(ctx, volume, labels, records))), 5)

    def test_review_decision_is_persisted(self):
        """A phantom case folder (ground-truth ORACLE segmenter), one decision, reopened: nothing lost."""
        import tempfile
        from types import SimpleNamespace

        from CMBQuantLib.phantoms.phantom import PhantomConfig, builtin_phantom
        from CMBQuantLib.pipeline.process_case import BatchInput, process_case
        from CMBQuantLib.review.replay import effective_records
        from CMBQuantLib.volumes.images import write_image

        ph, root = builtin_phantom(seed=5, config=PhantomConfig(n_cmbs=4)), Path(tempfile.mkdtemp())
        oracle = SimpleNamespace(model_info={"name": "oracle-ground-truth"},  # test-only: the phantom's own truth
                                 segment=lambda image, geometry: (ph.cmb_labels > 0).astype("float32") * 0.9)
        src = write_image(ph.image, ph.geometry, root / "in" / "p5.nii.gz")
        folder = process_case(BatchInput("p5", src), root / "cases", oracle)
        session = ReviewSession.open(folder, "selftest", ctx=slicer_context())
        first = session.current.cmb_id
        session.reject("vessel")
        statuses = {r.cmb_id: r.status for r in effective_records(folder)}
        self.assertEqual(statuses[first], "rejected")
        self.assertEqual(len(statuses), 4)
