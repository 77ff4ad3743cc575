"""The CMBQuant panels with Slicer's Qt layer STUBBED and a mock logic (the panels' Protocols): what each button
and key asks the logic, with which values read from the widgets. The parameter node is a real slicer-core node."""
import contextlib
import json
import importlib
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import pytest
import slicer as real_slicer  # the real slicer-core package, imported before the Qt layer is stubbed
from review_helpers import fresh_case
from slicer import vtkMRMLScene

from CMBQuantLib.review.controller import ReviewController
from CMBQuantLib.review.display import table_rows
from CMBQuantLib.core.counts import case_counts
from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.pipeline.machine_settings import MachineSettings
from CMBQuantLib.pipeline.parameters import CMBQuantParameters, parameter_node, read_parameters
from CMBQuantLib.pipeline.run_options import RunOptions
from CMBQuantLib.regions.case_regions import counts_text
from CMBQuantLib.review.decision_log import REASONS
from CMBQuantLib.review.keymap import REJECT_REASON_KEYS
from CMBQuantLib.review.slice_view_setup import normal_spacing, slab_sampling


class Signal:
    def __init__(self):
        self.slots = []

    def connect(self, fn):
        assert callable(fn)
        self.slots.append(fn)

    def emit(self, *args):
        for fn in self.slots:
            fn(*args)


class Fake:
    """A Qt widget: signals, the properties the panels read and write, a combo box's items; other calls no-ops."""

    SIGNALS = ("clicked", "toggled", "cellClicked", "currentPathChanged", "activated", "timeout")

    def __init__(self):
        self.text, self.enabled, self.checked, self.value, self.currentPath = "", True, False, 0.5, ""
        self.items, self.index, self.node = [], 0, None

    def __getattr__(self, item):
        if item in self.SIGNALS:
            sig = Signal()
            object.__setattr__(self, item, sig)
            return sig
        return lambda *a, **k: None

    # combo box
    def clear(self):
        self.items, self.index = [], 0

    def addItem(self, text, data=None):
        self.items.append((text, data))

    def addItems(self, texts):
        self.items += [(t, None) for t in texts]

    def findData(self, data):
        return next((i for i, (_, d) in enumerate(self.items) if d == data), -1)

    def setCurrentIndex(self, i):
        self.index = i

    def setCurrentText(self, text):
        self.index = next((i for i, (t, _) in enumerate(self.items) if t == text), self.index)

    @property
    def currentText(self):
        return self.items[self.index][0] if self.items else ""

    @property
    def currentData(self):
        return self.items[self.index][1] if self.items else None

    def toggle(self):
        self.checked = not self.checked
        self.toggled.emit(self.checked)

    def currentNode(self):
        return self.node


class UI:
    def __init__(self):
        self._made = {}

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return self._made.setdefault(name, Fake())


class DictSettings(dict):
    def value(self, key, default=None):
        return self.get(key, default)

    def setValue(self, key, value):
        self[key] = value


@pytest.fixture()
def panels(monkeypatch):
    """The CMBQuantWidgets package imported against stubbed qt/slicer; returns (modules, shortcuts, dialogs)."""
    shortcuts, dialogs = [], []
    qt = types.ModuleType("qt")
    qt.QTimer = Fake
    qt.QKeySequence = lambda key: key
    qt.QTableWidgetItem = lambda text: text

    def shortcut(key, parent):
        sc = Fake()
        sc.key = key
        shortcuts.append(sc)
        return sc

    qt.QShortcut = shortcut
    slicer = types.ModuleType("slicer")

    @contextlib.contextmanager
    def try_with_error_display(message, waitCursor=False):
        try:
            yield
        except Exception as exc:
            dialogs.append(("error", f"{message}: {exc}"))
            raise

    class Util(SimpleNamespace):  # the dialogs stubbed; MRML helpers (arrayFromVolume ...) stay slicer-core's
        def __getattr__(self, name):
            return getattr(real_slicer.util, name)

    slicer.__getattr__ = lambda name: getattr(real_slicer, name)  # vtkMRML* classes: the real ones
    slicer.util = Util(
        errorDisplay=lambda m, **k: dialogs.append(("error", m)), infoDisplay=lambda m: dialogs.append(("info", m)),
        warningDisplay=lambda m: dialogs.append(("warning", m)), confirmYesNoDisplay=lambda m: True,
        tryWithErrorDisplay=try_with_error_display, mainWindow=lambda: None)
    monkeypatch.setitem(sys.modules, "qt", qt)
    monkeypatch.setitem(sys.modules, "slicer", slicer)
    for name in [m for m in sys.modules if m.startswith("CMBQuantWidgets")]:
        monkeypatch.delitem(sys.modules, name)
    mods = SimpleNamespace(**{n: importlib.import_module(f"CMBQuantWidgets.{n}") for n in (
        "parameter_binding", "inference_panel", "review_panel", "regions_panel", "export_panel")})
    return mods, shortcuts, dialogs


class MockLogic:
    """Records every call; returns what a test sets."""

    def __init__(self):
        self.calls, self.run, self.session, self.assigned = [], None, None, []

    def model_choices(self):
        return [("demo", ""), ("MyModel", "MyModel")]

    def start_detection(self, volume, options):
        self.calls.append(("start_detection", volume, options))
        return self.run

    def open_controller(self, folder, reviewer):
        self.calls.append(("open_controller", folder, reviewer))
        return ReviewController(folder, reviewer)  # the real one, on a real case folder and a headless scene

    def show_case(self, case):
        self.calls.append(("show_case", case.case_id))

    def jump_to(self, record, fov_mm):
        self.calls.append(("jump_to", record.cmb_id, fov_mm))

    def crosshair_ras(self):
        return [1.0, 2.0, 3.0]

    def assign_regions(self, session, node):
        self.calls.append(("assign_regions", node))
        return self.assigned

    def export_dicom(self, folder, out):
        self.calls.append(("export_dicom", folder, out))
        return [Path(out) / "case01_seg.dcm", Path(out) / "case01_sr.dcm"]

    def evaluate_detector(self, predictions, reference, output_folder, distance_mm):
        self.calls.append(("evaluate_detector", predictions, reference, output_folder, distance_mm))
        return Path(output_folder) / "validation" / "validation.html"


class FakeController:
    """Just what the regions and export panels read: the open session, its rows and progress."""

    def __init__(self, session):
        self.session = session

    def rows(self):
        return table_rows(self.session.records(), True)

    def snapshot(self):
        decided, total = self.session.progress()
        return {"decided": decided, "total": total, "message": "", "filtered_hint": ""}


class FakeSession:
    def __init__(self, records):
        self._records, self.calls, self.warnings = records, [], []
        self.current = records[0]
        self.case = SimpleNamespace(seg_node=SimpleNamespace(GetDisplayNode=lambda: None), folder=Path("/case"))

    def records(self):
        return self._records

    def progress(self):
        return 0, len(self._records)

    def decide(self, status, reason=""):
        self.calls.append(("decide", status, reason))

    def set_regions(self, assigned):
        self.calls.append(("set_regions", assigned))
        self._records = assigned


def binding(mods, ui, scene=None, store=None):
    b = mods.parameter_binding.ParameterBinding(ui, parameter_node(scene or vtkMRMLScene()),
                                                MachineSettings(store if store is not None else DictSettings()))
    for combo, texts in ((ui.deviceComboBox, "auto|cuda|mps|cpu"), (ui.filterComboBox, "auto|demo|none")):
        combo.addItems(texts.split("|"))
    return b


def test_gui_choices_go_to_the_parameter_node_and_machine_settings_and_come_back(panels):
    mods, _, _ = panels
    ui, scene, store = UI(), vtkMRMLScene(), DictSettings()
    b = binding(mods, ui, scene, store)
    mods.inference_panel.InferencePanel(ui, MockLogic(), b)
    ui.modelComboBox.setCurrentIndex(1)
    ui.deviceComboBox.setCurrentText("cpu")
    ui.stepSizeSpinBox.value, ui.thresholdSpinBox.value, ui.filterThresholdSpinBox.value = 1.0, 0.3, 0.0
    ui.mirroringCheckBox.checked, ui.reviewerLineEdit.text = True, "  Dr. Ko "
    ui.fovSpinBox.value, ui.distanceSpinBox.value, ui.outputPathLineEdit.currentPath = 40.0, 5.0, "/out"
    saved = b.save()
    assert read_parameters(parameter_node(scene)) == saved
    assert (saved.model, saved.device, saved.reviewer, saved.mirroring) == ("MyModel", "cpu", "Dr. Ko", True)
    assert store == {"CMBQuant/LastModel": "MyModel", "CMBQuant/Device": "cpu"}
    fresh = UI()  # the module reopened on the saved scene
    b2 = binding(mods, fresh, scene, DictSettings())
    mods.inference_panel.InferencePanel(fresh, MockLogic(), b2)
    assert b2.show() == saved and b2.read_gui() == saved


def test_a_new_scene_takes_this_computers_last_model_and_device(panels):
    mods, _, _ = panels
    ui = UI()
    b = binding(mods, ui, store=DictSettings({"CMBQuant/LastModel": "MyModel", "CMBQuant/Device": "cuda"}))
    mods.inference_panel.InferencePanel(ui, MockLogic(), b)
    b.show()
    assert (ui.modelComboBox.currentData, ui.deviceComboBox.currentText) == ("MyModel", "cuda")
    assert b.read_gui() == CMBQuantParameters(model="MyModel", device="cuda")


def test_detect_asks_the_logic_with_the_run_options_of_the_gui_and_opens_the_result(panels):
    mods, _, dialogs = panels
    ui, logic = UI(), MockLogic()
    panel = mods.inference_panel.InferencePanel(ui, logic, binding(mods, ui))
    ui.applyButton.clicked.emit()
    assert logic.calls == [] and dialogs == [("error", "Select an SWI volume first.")]
    ui.inputVolumeSelector.node = volume = object()
    ui.thresholdSpinBox.value = ui.stepSizeSpinBox.value = 0.5
    ui.filterThresholdSpinBox.value = 0.2
    events = [SimpleNamespace(type="progress", percent=40.0, stage="predict", message="fold 0")]
    logic.run = SimpleNamespace(cancelled=False, stderr_tail=[], poll=lambda: events, running=lambda: True,
                                result=lambda: {"cases": [{"out_dir": "/cases/sub-01"}]})
    ui.applyButton.clicked.emit()
    assert logic.calls == [("start_detection", volume, RunOptions(step_size=0.5, mirroring=False, threshold=0.5,
                                                                  filter_threshold=0.2))]
    assert (ui.applyButton.enabled, ui.cancelButton.enabled) == (False, True)
    panel.onPoll()
    assert ui.progressBar.value == 40 and ui.statusLabel.text == "predict: fold 0"
    logic.run.running = lambda: False
    panel.onPoll()
    assert ui.caseFolderPathLineEdit.currentPath == "/cases/sub-01" and ui.statusLabel.text == "Done"
    assert panel.run is None and ui.applyButton.enabled


def test_declined_install_starts_nothing_and_a_failed_run_shows_its_stderr(panels):
    mods, _, dialogs = panels
    ui, logic = UI(), MockLogic()
    panel = mods.inference_panel.InferencePanel(ui, logic, binding(mods, ui))
    ui.inputVolumeSelector.node = object()
    ui.applyButton.clicked.emit()  # the logic returned None: the user declined
    assert panel.run is None and ui.applyButton.enabled and not ui.cancelButton.enabled
    logic.run = SimpleNamespace(cancelled=False, stderr_tail=["Traceback", "CUDA out of memory"], poll=lambda: [],
                                running=lambda: False, result=lambda: None)
    ui.applyButton.clicked.emit()
    panel.onPoll()
    assert dialogs == [("error", "Inference failed:\nTraceback\nCUDA out of memory")]


def test_review_keys_and_buttons_drive_the_one_review_controller(panels, tmp_path):
    """X waits for a reason key, as in the browser: the same controller, the same review.jsonl lines."""
    mods, shortcuts, dialogs = panels
    ui, logic = UI(), MockLogic()
    ui.fovSpinBox.value = 60.0
    review = mods.review_panel.ReviewPanel(ui, logic, binding(mods, ui))
    assert [t for t, _ in ui.reasonComboBox.items] == list(REASONS)
    case = fresh_case(tmp_path)
    ui.caseFolderPathLineEdit.currentPathChanged.emit(str(case))  # a folder, but no reviewer yet
    assert logic.calls == [] and dialogs[0][1].startswith("Enter your name")
    ui.reviewerLineEdit.text = "Dr. Ko"
    ui.caseFolderPathLineEdit.currentPathChanged.emit(str(case))
    ctl = review.controller
    queue = list(ctl.session.queue)
    assert logic.calls[:3] == [("open_controller", str(case), "Dr. Ko"), ("show_case", "case01"),
                               ("jump_to", queue[0], 60.0)]
    assert ui.statusLabel.text.startswith(f"Reviewed 0/{len(queue)}, {len(queue)} listed")
    by_key = {s.key: s for s in shortcuts}
    digit = list(REJECT_REASON_KEYS)[1]
    by_key["A"].activated.emit()  # queue[0] definite
    by_key["X"].activated.emit()  # waits for a reason: nothing written yet
    assert ctl.snapshot()["awaiting_reason"] and "reason" in ui.statusLabel.text
    by_key[digit].activated.emit()  # queue[1] rejected with that reason
    by_key["N"].activated.emit()  # skip queue[2]
    ui.possibleButton.clicked.emit()  # queue[3] possible
    entries = [json.loads(x) for x in (case / "review.jsonl").read_text().splitlines()]
    assert [(e["cmb_id"], e["new_status"], e["reason"], e["reviewer"]) for e in entries] == [
        (queue[0], "definite", "", "Dr. Ko"), (queue[1], "rejected", REJECT_REASON_KEYS[digit], "Dr. Ko"),
        (queue[3], "possible", "", "Dr. Ko")]
    assert ("jump_to", queue[2], 60.0) in logic.calls and ("jump_to", queue[3], 60.0) in logic.calls
    # the view keys: the controller's view state, drawn on the scene's slice nodes by the shared MRML call
    red = ctl.ctx.scene.GetSingletonNode("Red", "vtkMRMLSliceNode")
    seg_display = ctl.session.case.seg_node.GetDisplayNode()
    assert seg_display.GetVisibility2DOutline() and not seg_display.GetVisibility2DFill()  # outline by default
    assert red.GetFieldOfView()[1] == pytest.approx(60.0) and not red.GetSlabReconstructionEnabled()
    for key in ("M", "-", "W"):
        by_key[key].activated.emit()
    spacing = normal_spacing(red, ctl.session.case.volume_node)
    assert red.GetSlabReconstructionEnabled() and red.GetSlabReconstructionThickness() == pytest.approx(
        slab_sampling(8.0, spacing)[0])
    assert red.GetFieldOfView()[1] == pytest.approx(75.0) and ui.fovSpinBox.value == pytest.approx(75.0)
    volume_display = ctl.session.case.volume_node.GetDisplayNode()
    assert volume_display.GetWindow() == pytest.approx(ctl.view.window_level()[0]) == pytest.approx(
        ctl.view.auto[0] * 1.2)
    assert len(entries) == len((case / "review.jsonl").read_text().splitlines())  # view keys write nothing


def test_regions_go_through_the_logic_into_the_session_and_the_counts_label(panels):
    mods, _, _ = panels
    ui, logic = UI(), MockLogic()
    review = mods.review_panel.ReviewPanel(ui, logic, binding(mods, ui))
    mods.regions_panel.RegionsPanel(ui, logic, review)
    ui.regionsButton.clicked.emit()  # no case open: nothing asked
    assert logic.calls == []
    review.controller = FakeController(session := FakeSession([CMBRecord(cmb_id=1, status="definite")]))
    logic.assigned = [CMBRecord(cmb_id=1, status="definite", region="lobar", lobe="frontal", side="L")]
    ui.parcellationSelector.node = node = object()
    ui.regionsButton.clicked.emit()
    assert logic.calls == [("assign_regions", node)] and session.calls == [("set_regions", logic.assigned)]
    assert ui.countsLabel.text == counts_text(case_counts(logic.assigned))
    assert "lobar_definite: 1" in ui.countsLabel.text and "frontal_definite: 1" in ui.countsLabel.text


def test_evaluate_detector_sends_the_folders_distance_and_output_and_shows_the_report(panels):
    mods, _, _ = panels
    ui, logic = UI(), MockLogic()
    review = mods.review_panel.ReviewPanel(ui, logic, binding(mods, ui))
    mods.export_panel.ExportPanel(ui, logic, review, binding(mods, ui))
    ui.predictionsPathLineEdit.currentPath, ui.referencePathLineEdit.currentPath = "/pred", "/ref"
    ui.outputPathLineEdit.currentPath, ui.distanceSpinBox.value = "/out", 3.0
    ui.evaluateButton.clicked.emit()
    assert logic.calls == [("evaluate_detector", "/pred", "/ref", "/out", 3.0)]
    assert ui.evaluationLabel.text == "Validation: /out/validation/validation.html"


def test_dicom_export_button_sends_the_open_case_and_output_folder_and_lists_the_files(panels):
    mods, _, dialogs = panels
    ui, logic = UI(), MockLogic()
    review = mods.review_panel.ReviewPanel(ui, logic, binding(mods, ui))
    mods.export_panel.ExportPanel(ui, logic, review, binding(mods, ui))
    ui.exportDicomButton.clicked.emit()  # no case open: nothing asked
    assert logic.calls == []
    review.controller = FakeController(FakeSession([CMBRecord(cmb_id=1, status="definite")]))
    ui.outputPathLineEdit.currentPath = "/out"
    ui.exportDicomButton.clicked.emit()
    assert logic.calls == [("export_dicom", Path("/case"), "/out")]
    assert dialogs[-1] == ("info", "DICOM written:\n/out/case01_seg.dcm\n/out/case01_sr.dcm")
