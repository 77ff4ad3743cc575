"""The export panel's "Learn from reviewed cases" with Slicer's Qt layer STUBBED (the panel tests' fakes) and a fake
learning run: what it starts with which folder, parent model and name, its progress, cancel, the result shown and
the model picker refreshed with the new version; and the real command line the panel's worker runs."""
from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

from test_cmbquant_panels_with_stubbed_qt_layer import UI, MockLogic, binding, panels  # noqa: F401  (fixture)

from CMBQuantLib.commands.train_filter_command import LearningClient
from CMBQuantLib.pipeline.progress import ProgressEvent

RESULT = {"name": "SiteV1", "version": {"parent": "MyModel"}, "train_cases": ["a", "b", "c"],
          "holdout_cases": ["d"], "before": {"fp_per_scan": 3.0, "sensitivity": 0.8},
          "after": {"fp_per_scan": 1.0, "sensitivity": 0.8}, "report_html": "/store/SiteV1/learning/report.html"}


class FakeLearning:
    """A learning run: a progress event, then finished with RESULT (or cancelled)."""

    def __init__(self):
        self.cancelled, self.stderr_tail, self.alive = False, [], True
        self.events = [ProgressEvent("progress", "fit", 80.0, "tree 60/100")]

    def poll(self):
        out, self.events = self.events, []
        return out

    def running(self):
        return self.alive

    def result(self):
        return RESULT

    def cancel(self):
        self.cancelled, self.alive = True, False


def _panel(mods, monkeypatch, qt_urls):
    ui, logic = UI(), MockLogic()
    started = []
    run = FakeLearning()

    def learner(root, base, name, result_file):
        started.append((root, base, name, Path(result_file).name))
        return run

    qt = sys.modules["qt"]
    monkeypatch.setattr(qt, "QFileDialog", SimpleNamespace(getExistingDirectory=lambda *a: "/reviewed"), raising=False)
    monkeypatch.setattr(qt, "QDesktopServices", SimpleNamespace(openUrl=qt_urls.append), raising=False)
    monkeypatch.setattr(qt, "QUrl", SimpleNamespace(fromLocalFile=lambda p: f"file://{p}"), raising=False)
    review = mods.review_panel.ReviewPanel(ui, logic, binding(mods, ui))
    panel = mods.export_panel.ExportPanel(ui, logic, review, binding(mods, ui), learner=learner)
    ui.modelComboBox.addItem("MyModel", "MyModel")
    return panel, ui, started, run


def test_learn_starts_on_the_folder_with_the_chosen_parent_and_shows_the_result(panels, monkeypatch):
    mods, _, dialogs = panels
    urls: list = []
    panel, ui, started, run = _panel(mods, monkeypatch, urls)
    ui.learnButton.clicked.emit()  # no name: nothing starts
    assert started == [] and dialogs[-1] == ("error", "Name the new model version first (New model name).")
    ui.learnNameLineEdit.text = " SiteV1 "
    ui.learnButton.clicked.emit()
    assert started == [("/reviewed", "MyModel", "SiteV1", "result.json")]
    assert ui.learnButton.enabled is False and ui.learnCancelButton.enabled is True
    panel.learn_timer.timeout.emit()  # the poll timer's tick
    assert ui.learnStatusLabel.text == "fit 80 %: tree 60/100"
    run.alive = False
    panel.learn_timer.timeout.emit()
    assert ui.learnStatusLabel.text == ("New model SiteV1 (from MyModel, 3 reviewed cases).\n"
                                        "Held-out cases (1): FP per scan 3.0 -> 1.0, sensitivity 0.8 -> 0.8.")
    assert ui.modelComboBox.items == [("demo", ""), ("MyModel", "MyModel")]  # refreshed from the logic
    assert dialogs[-1][0] == "info" and dialogs[-1][1].endswith("Report: /store/SiteV1/learning/report.html")
    assert urls == ["file:///store/SiteV1/learning/report.html"]
    assert ui.learnButton.enabled is True and ui.learnCancelButton.enabled is False


def test_cancel_stops_the_run_and_says_nothing_was_written(panels, monkeypatch):
    mods, _, dialogs = panels
    _, ui, started, run = _panel(mods, monkeypatch, [])
    ui.learnNameLineEdit.text = "SiteV2"
    ui.learnButton.clicked.emit()
    ui.learnCancelButton.clicked.emit()
    assert run.cancelled and ui.learnStatusLabel.text == "Learning cancelled: nothing was written."
    assert ui.learnButton.enabled is True and not [d for d in dialogs if d[0] == "info"]


def test_the_worker_runs_train_filter_with_progress_json_and_a_result_file(tmp_path):
    client = LearningClient(["/reviewed", "--out", "SiteV1", "--base", "MyModel"], tmp_path / "r.json",
                            python="/py")
    assert client.command == ["/py", "-m", "CMBQuantLib.commands.train_filter_command", "/reviewed", "--out",
                              "SiteV1", "--base", "MyModel", "--progress-json", "--result-file",
                              str(tmp_path / "r.json")]


def test_the_worker_process_reports_a_bad_folder_as_a_protocol_error_line(tmp_path):
    run = LearningClient([str(tmp_path / "nowhere"), "--out", "SiteV1", "--home", str(tmp_path / "home")],
                         tmp_path / "r.json")
    run.start()
    assert run.wait(timeout=120) == 2
    events = run.poll()
    assert [e.type for e in events] == ["error"] and "nowhere: not a case folder" in events[0].message
    assert run.result() is None and not (tmp_path / "home" / "models" / "SiteV1").exists()
