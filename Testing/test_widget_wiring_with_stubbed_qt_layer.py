"""The module widgets' wiring, run with Slicer's Qt layer STUBBED (qt, slicer.util, ScriptedLoadableModule fakes).

What this can show outside the desktop app: setup() runs, every signal it connects goes to a callable, every
widget it touches exists in the .ui, and every key of the shared keymap becomes a shortcut. It cannot show
rendering or real Qt behaviour; the MRML-level logic is tested on real slicer-core elsewhere.
"""
import importlib.util
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from slicer import vtkMRMLScene  # the real slicer-core class, imported before any test stubs the package

ROOT = Path(__file__).resolve().parents[1]


class Signal:
    def __init__(self):
        self.slots = []

    def connect(self, fn):
        assert callable(fn)
        self.slots.append(fn)


class FakeWidget:
    """Any Qt widget: signals are Signal objects, everything else a settable attribute or a no-op method."""

    def __init__(self, name=""):
        self._name = name
        self.text, self.enabled, self.checked, self.value, self.currentText = "", True, False, 0.5, ""
        self.currentData, self.currentPath = "", ""
        self.items = []

    def __getattr__(self, item):
        if item in ("clicked", "toggled", "cellClicked", "currentPathChanged", "activated", "timeout"):
            sig = Signal()
            object.__setattr__(self, item, sig)
            return sig
        return lambda *a, **k: None

    def addItems(self, items):
        self.items += list(items)

    def addItem(self, text, data=None):
        self.items.append(text)


def ui_names(module):
    return {w.get("name") for w in ET.parse(ROOT / module / "Resources/UI" / f"{module}.ui").iter("widget")}


class StrictUI:
    def __init__(self, names):
        self._names = names
        self._made = {}

    def __getattr__(self, item):
        if item.startswith("_"):
            raise AttributeError(item)
        assert item in self._names, f"widget '{item}' is not in the .ui"
        return self._made.setdefault(item, FakeWidget(item))


class DictSettings(dict):
    """QSettings' value/setValue on a dict (machine-level choices of the CMBQuant module)."""

    def value(self, key, default=None):
        return self.get(key, default)

    def setValue(self, key, value):
        self[key] = value


@pytest.fixture()
def stubbed_slicer(monkeypatch):
    shortcuts = []
    qt = types.ModuleType("qt")
    qt.QTimer = lambda: FakeWidget("timer")
    qt.QKeySequence = lambda key: key

    def shortcut(key, parent):
        w = FakeWidget("shortcut")
        w.key = key
        shortcuts.append(w)
        return w

    qt.QShortcut = shortcut
    qt.QSettings = DictSettings
    slicer = types.ModuleType("slicer")
    slicer.mrmlScene = object()
    util = types.SimpleNamespace(loadUI=lambda path: FakeWidget("root"), mainWindow=lambda: None)
    slicer.util = util
    slm = types.ModuleType("slicer.ScriptedLoadableModule")

    class Base:
        def __init__(self, parent=None):
            self.parent = parent or types.SimpleNamespace()
            self.layout = FakeWidget("layout")

        def setup(self):
            pass

        def resourcePath(self, rel):
            return rel

    for name in ("ScriptedLoadableModule", "ScriptedLoadableModuleLogic", "ScriptedLoadableModuleTest",
                 "ScriptedLoadableModuleWidget"):
        setattr(slm, name, type(name, (Base,), {}))
    monkeypatch.setitem(sys.modules, "qt", qt)
    monkeypatch.setitem(sys.modules, "slicer", slicer)
    monkeypatch.setitem(sys.modules, "slicer.ScriptedLoadableModule", slm)
    return slicer, shortcuts


def load_module(module):
    for name in [m for m in sys.modules if m.startswith(("CMBQuantWidgets", "CMBQuantStatsWidgets"))]:
        del sys.modules[name]  # the module's panels import qt/slicer: bind them to this test's stubs
    spec = importlib.util.spec_from_file_location(f"_stub_{module}", ROOT / module / f"{module}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cmbquant_widget_setup_with_stubbed_qt_layer_binds_buttons_and_every_key(stubbed_slicer, monkeypatch,
                                                                                   tmp_path):
    slicer, shortcuts = stubbed_slicer
    monkeypatch.setenv("CMBQUANT_HOME", str(tmp_path))
    ui = StrictUI(ui_names("CMBQuant"))
    slicer.util.childWidgetVariables = lambda w: ui
    slicer.mrmlScene = vtkMRMLScene()  # real MRML: the widget binds the module's parameter node
    mod = load_module("CMBQuant")
    widget = mod.CMBQuantWidget()
    widget.setup()
    for name in ("applyButton", "cancelButton", "definiteButton", "possibleButton", "rejectButton", "nextButton",
                 "previousButton", "undoButton", "redoButton", "addCmbButton", "regionsButton", "exportCaseButton",
                 "exportNNUNetButton", "exportDicomButton", "importModelButton", "deleteModelButton",
                 "evaluateButton"):
        assert getattr(ui, name).clicked.slots, f"{name} is not connected"
    from CMBQuantLib.review.keymap import DEFAULT_KEYMAP, REJECT_REASON_KEYS
    from CMBQuantLib.review.decision_log import REASONS

    keys = {s.key for s in shortcuts}
    for binding in DEFAULT_KEYMAP:
        assert set(binding.keys) <= keys, binding
    assert set(REJECT_REASON_KEYS) <= keys and "Escape" in keys  # X then a reason digit, as in the browser
    assert ui.reasonComboBox.items == list(REASONS)
    assert "Accept as definite CMB" in ui.keysLabel.text
    for s in shortcuts:  # with no case open, every key is a safe no-op
        for slot in s.activated.slots:
            slot()
    node = slicer.mrmlScene.GetSingletonNode("CMBQuant", "vtkMRMLScriptedModuleNode")
    assert node is not None and node.GetModuleName() == "CMBQuant"  # the parameter node, saved with the scene
    from CMBQuantWidgets import protocols

    for proto in (protocols.DetectionLogic, protocols.ReviewLogic, protocols.RegionsLogic, protocols.ExportLogic):
        needed = [n for n in vars(proto) if not n.startswith("_")]
        assert needed and all(callable(getattr(widget.logic, n, None)) for n in needed), proto.__name__


def stubbed_stats_widget(slicer):
    """The Stats widget set up on stubbed Qt with a real MRML scene (its parameter node is real)."""
    ui = StrictUI(ui_names("CMBQuantStats"))
    slicer.util.childWidgetVariables = lambda w: ui
    slicer.mrmlScene = vtkMRMLScene()
    widget = load_module("CMBQuantStats").CMBQuantStatsWidget()
    widget.setup()
    return widget, ui


def test_cmbquantstats_widget_setup_with_stubbed_qt_layer_builds_the_study_from_the_widgets(stubbed_slicer):
    from CMBQuantStatsLib.parameters import study_request
    from CMBQuantStatsLib.study import StudyRequest

    slicer, _ = stubbed_slicer
    widget, ui = stubbed_stats_widget(slicer)
    assert ui.runButton.clicked.slots
    assert ui.countsComboBox.currentText == "definite"  # the parameter node's default, shown
    ui.cohortPathLineEdit.currentPath = "/data/cohort.csv"
    ui.countsComboBox.currentText = "definite"
    ui.formulaLineEdit.text = "np.log1p(total) ~ age"
    assert study_request(widget.inputs.read()) == StudyRequest(cohort="/data/cohort.csv", count_mode="definite",
                                                               models=["np.log1p(total) ~ age"])
    study = widget.results.study()
    assert (study.cohort, study.clinical, study.wmh) == ("/data/cohort.csv", None, None)
    assert study.roles.count_mode == "definite" and study.options.robust is False
    assert [(m.model_id, m.kind, m.formula) for m in study.options.custom] == [("custom1", "ols",
                                                                                 "np.log1p(total) ~ age")]


def test_cmbquantstats_widget_with_stubbed_qt_layer_keeps_choices_in_the_parameter_node(stubbed_slicer):
    slicer, _ = stubbed_slicer
    widget, ui = stubbed_stats_widget(slicer)
    ui.clinicalPathLineEdit.currentPath = "/data/clinical.xlsx"
    ui.robustCheckBox.checked = True
    for slot in ui.robustCheckBox.toggled.slots:
        slot(True)
    node = slicer.mrmlScene.GetSingletonNode("CMBQuantStats", "vtkMRMLScriptedModuleNode")
    assert node.GetParameter("clinical") == "/data/clinical.xlsx" and node.GetParameter("robust") == "true"
    ui.clinicalPathLineEdit.currentPath = ""
    ui.robustCheckBox.checked = False
    widget.enter()  # re-entering the module shows the scene's choices again
    assert ui.clinicalPathLineEdit.currentPath == "/data/clinical.xlsx" and ui.robustCheckBox.checked is True


def test_cmbquantstats_run_with_stubbed_qt_layer_passes_the_study_to_the_logic(stubbed_slicer):
    import contextlib

    slicer, _ = stubbed_slicer
    widget, ui = stubbed_stats_widget(slicer)
    slicer.util.tryWithErrorDisplay = lambda *a, **k: contextlib.nullcontext()
    calls = []

    class MockLogic:
        def ensure_dependencies(self):
            return True

        def default_output(self):
            return "/tmp/stats-out"

        def analyse(self, study, out_dir):
            calls.append((study, out_dir))
            return "table", ["chart"], {"html": "/tmp/stats-out/report.html"}

        def show_results(self, table, charts):
            calls.append((table, charts))

    widget.results.logic = MockLogic()
    ui.cohortPathLineEdit.currentPath = "/data/cohort.csv"
    ui.robustCheckBox.checked = True
    for slot in ui.runButton.clicked.slots:
        slot()
    (study, out), shown = calls
    assert study.cohort == "/data/cohort.csv" and study.options.robust is True and out == "/tmp/stats-out"
    assert shown == ("table", ["chart"])
    assert ui.statusLabel.text == "Report: /tmp/stats-out/report.html"
