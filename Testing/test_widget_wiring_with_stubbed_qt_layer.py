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
    mod = load_module("CMBQuant")
    widget = mod.CMBQuantWidget()
    widget.setup()
    for name in ("applyButton", "cancelButton", "definiteButton", "possibleButton", "rejectButton", "nextButton",
                 "previousButton", "undoButton", "redoButton", "addCmbButton", "regionsButton", "exportCaseButton",
                 "exportNNUNetButton", "importModelButton", "deleteModelButton"):
        assert getattr(ui, name).clicked.slots, f"{name} is not connected"
    from CMBQuantLib.review.keymap import DEFAULT_KEYMAP, REJECT_REASON_KEYS
    from CMBQuantLib.review.session import REASONS

    keys = {s.key for s in shortcuts}
    for binding in DEFAULT_KEYMAP:
        assert set(binding.keys) <= keys, binding
    assert len([k for k in keys if k.startswith("Alt+")]) == len(REJECT_REASON_KEYS)
    assert ui.reasonComboBox.items == list(REASONS)
    assert "Accept as definite CMB" in ui.keysLabel.text
    for s in shortcuts:  # with no case open, every key is a safe no-op
        for slot in s.activated.slots:
            slot()


def test_cmbquantstats_widget_setup_with_stubbed_qt_layer_connects_run_and_evaluate(stubbed_slicer):
    slicer, _ = stubbed_slicer
    ui = StrictUI(ui_names("CMBQuantStats"))
    slicer.util.childWidgetVariables = lambda w: ui
    mod = load_module("CMBQuantStats")
    widget = mod.CMBQuantStatsWidget()
    widget.setup()
    assert ui.runButton.clicked.slots and ui.evaluateButton.clicked.slots
    ui.cohortPathLineEdit.currentPath = "/data/cohort.csv"
    ui.countsComboBox.currentText = "definite"
    ui.formulaLineEdit.text = "np.log1p(total) ~ age"
    assert widget._argv() == ["--cohort", "/data/cohort.csv", "--count-mode", "definite", "--model",
                              "np.log1p(total) ~ age"]
