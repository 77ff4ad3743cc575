"""Generate the modules' Qt Designer .ui files from a compact description (run when the panel layout changes).

Hand-written .ui XML drifts and breaks silently; this keeps widget names in one place that tests check against.
"""
from __future__ import annotations

import sys
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]


def prop(name: str, kind: str, value: str) -> str:
    return f'<property name="{name}"><{kind}>{escape(value)}</{kind}></property>'


def widget(cls: str, name: str, **props: str) -> str:
    body = ""
    for key, value in props.items():
        if key == "text" or key == "title" or key == "toolTip" or key == "placeholderText":
            body += prop(key, "string", value)
        elif key in ("checked", "collapsed", "readOnly", "noneEnabled", "addEnabled", "removeEnabled"):
            body += prop(key, "bool", value)
        elif key in ("minimum", "maximum", "value", "decimals"):
            body += prop(key, "number" if key != "value" or "." not in value else "double", value)
        elif key == "singleStep":
            body += prop(key, "double", value)
        elif key == "nodeTypes":
            body += f'<property name="nodeTypes"><stringlist><string>{value}</string></stringlist></property>'
        elif key == "items":
            body += "".join(f'<item><property name="text"><string>{escape(v)}</string></property></item>'
                            for v in value.split("|"))
    return f'<widget class="{cls}" name="{name}">{body}</widget>'


def form_section(title: str, name: str, rows: list[tuple[str, str]], collapsed: bool = False) -> str:
    items = []
    for r, (label, w) in enumerate(rows):
        if label:
            items.append(f'<item row="{r}" column="0"><widget class="QLabel" name="{name}Label{r}">'
                         f'{prop("text", "string", label)}</widget></item>')
            items.append(f'<item row="{r}" column="1">{w}</item>')
        else:
            items.append(f'<item row="{r}" column="0" colspan="2">{w}</item>')
    return (f'<item><widget class="ctkCollapsibleButton" name="{name}">{prop("text", "string", title)}'
            f'{prop("collapsed", "bool", "true" if collapsed else "false")}'
            f'<layout class="QGridLayout" name="{name}Layout">{"".join(items)}</layout></widget></item>')


def ui_file(cls: str, sections: list[str], mrml_widgets: tuple[str, ...] = ()) -> str:
    conns = "".join(f"<connection><sender>{cls}</sender><signal>mrmlSceneChanged(vtkMRMLScene*)</signal>"
                    f"<receiver>{w}</receiver><slot>setMRMLScene(vtkMRMLScene*)</slot></connection>" for w in mrml_widgets)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<ui version="4.0">'
            f'<class>{cls}</class><widget class="qMRMLWidget" name="{cls}">'
            f'<layout class="QVBoxLayout" name="mainLayout">{"".join(sections)}'
            '<item><spacer name="verticalSpacer"><property name="orientation"><enum>Qt::Vertical</enum></property>'
            '</spacer></item></layout></widget>'
            '<customwidgets>'
            '<customwidget><class>ctkCollapsibleButton</class><extends>QWidget</extends><header>ctkCollapsibleButton.h</header><container>1</container></customwidget>'
            '<customwidget><class>ctkPathLineEdit</class><extends>QWidget</extends><header>ctkPathLineEdit.h</header></customwidget>'
            '<customwidget><class>qMRMLNodeComboBox</class><extends>QWidget</extends><header>qMRMLNodeComboBox.h</header></customwidget>'
            '<customwidget><class>qMRMLWidget</class><extends>QWidget</extends><header>qMRMLWidget.h</header><container>1</container></customwidget>'
            '</customwidgets>'
            f'<connections>{conns}</connections>'
            '</ui>\n')


def cmbquant_ui() -> str:
    node = lambda name, types: widget("qMRMLNodeComboBox", name, nodeTypes=types, noneEnabled="true",
                                      addEnabled="false", removeEnabled="false")
    detect = form_section("Detect microbleeds", "detectSection", [
        ("SWI volume:", node("inputVolumeSelector", "vtkMRMLScalarVolumeNode")),
        ("Model:", widget("QComboBox", "modelComboBox", toolTip="Imported nnU-Net v2 models (user cache). The demo model is trained on synthetic phantoms only.")),
        ("", widget("QPushButton", "importModelButton", text="Import model (.zip or folder)...")),
        ("", widget("QPushButton", "deleteModelButton", text="Delete selected model")),
        ("Device:", widget("QComboBox", "deviceComboBox", items="auto|cuda|mps|cpu")),
        ("Tile step size:", widget("QDoubleSpinBox", "stepSizeSpinBox", minimum="0", maximum="1", value="0.5", singleStep="0.1",
                                    toolTip="0.5: nnU-Net default, best for tiny lesions. 1.0: half the tiles, about 2x faster on CPU.")),
        ("", widget("QCheckBox", "mirroringCheckBox", text="Test-time mirroring (8x slower, slightly more sensitive)")),
        ("Probability threshold:", widget("QDoubleSpinBox", "thresholdSpinBox", minimum="0", maximum="1", value="0.5", singleStep="0.05")),
        ("CMB filter:", widget("QComboBox", "filterComboBox", items="auto|demo|none",
                               toolTip="Stage 2 of the detector. auto: the model's own filter when it ships one (the demo "
                                       "model does); demo: the shipped filter with any model; none: plain nnU-Net.")),
        ("Filter threshold:", widget("QDoubleSpinBox", "filterThresholdSpinBox", minimum="0", maximum="1", value="0", singleStep="0.05",
                                     toolTip="p_cmb below this is rejected (reason filter, hidden, restorable). 0: the filter's own threshold.")),
        ("", widget("QPushButton", "applyButton", text="Detect CMBs")),
        ("", widget("QPushButton", "cancelButton", text="Cancel")),
        ("", widget("QProgressBar", "progressBar")),
        ("", widget("QLabel", "statusLabel", text="")),
    ])
    review = form_section("Review (keyboard)", "reviewSection", [
        ("Segmentation:", node("segmentationSelector", "vtkMRMLSegmentationNode")),
        ("Reviewer:", widget("QLineEdit", "reviewerLineEdit", placeholderText="your name (recorded with every decision)")),
        ("Case folder:", widget("ctkPathLineEdit", "caseFolderPathLineEdit")),
        ("", widget("QTableWidget", "cmbTable")),
        ("", widget("QLabel", "keysLabel", text="")),
        ("Reject reason:", widget("QComboBox", "reasonComboBox")),
        ("", widget("QPushButton", "definiteButton", text="Definite")),
        ("", widget("QPushButton", "possibleButton", text="Possible")),
        ("", widget("QPushButton", "rejectButton", text="Reject")),
        ("", widget("QPushButton", "previousButton", text="Previous")),
        ("", widget("QPushButton", "nextButton", text="Next")),
        ("", widget("QPushButton", "undoButton", text="Undo")),
        ("", widget("QPushButton", "redoButton", text="Redo")),
        ("", widget("QPushButton", "addCmbButton", text="Add missed CMB at crosshair")),
        ("", widget("QCheckBox", "hideRejectedCheckBox", text="Hide rejected")),
        ("Order:", widget("QComboBox", "orderComboBox", toolTip="confidence: most likely CMB first; position: "
                                                                "inferior to superior")),
        ("", widget("QCheckBox", "showFilteredCheckBox", text="Show filter-rejected (H)",
                    toolTip="List the candidates the CMB filter rejected (p_cmb below its threshold). They stay in "
                            "the case folder; any decision restores one as yours.")),
        ("Field of view (mm):", widget("QDoubleSpinBox", "fovSpinBox", minimum="10", maximum="300", value="80", singleStep="10")),
    ])
    regions = form_section("MARS regions", "regionsSection", [
        ("Parcellation (optional):", node("parcellationSelector", "vtkMRMLLabelMapVolumeNode")),
        ("", widget("QPushButton", "regionsButton", text="Assign regions")),
        ("", widget("QLabel", "countsLabel", text="")),
    ], collapsed=True)
    export = form_section("Export", "exportSection", [
        ("Output folder:", widget("ctkPathLineEdit", "outputPathLineEdit")),
        ("", widget("QPushButton", "exportCaseButton", text="Export case (seg.nrrd, label map, CSV, counts)")),
        ("", widget("QPushButton", "exportNNUNetButton", text="Export reviewed cases as nnU-Net dataset")),
        ("New model name:", widget("QLineEdit", "learnNameLineEdit", placeholderText="e.g. MySite_filter_v1",
                                   toolTip="The reader-taught filter is stored as this new model version; the model "
                                           "chosen under Detect is its parent and stays as it is")),
        ("", widget("QPushButton", "learnButton", text="Learn from reviewed cases (new CMB filter version)")),
        ("", widget("QPushButton", "learnCancelButton", text="Cancel learning")),
        ("", widget("QLabel", "learnStatusLabel", text="")),
        ("", widget("QPushButton", "exportDicomButton",
                    text="Export accepted CMBs as DICOM SEG + SR (for PACS; case from a DICOM series)")),
        ("Predictions folder:", widget("ctkPathLineEdit", "predictionsPathLineEdit",
                                       toolTip="Case folders (cmbquant run/batch) or label maps, one per case ID")),
        ("Reference folder:", widget("ctkPathLineEdit", "referencePathLineEdit",
                                     toolTip="Reference CMB label maps named by case ID")),
        ("Match distance (mm):", widget("QDoubleSpinBox", "distanceSpinBox", minimum="0", maximum="50", value="5", singleStep="0.5")),
        ("", widget("QPushButton", "evaluateButton", text="Evaluate detector (report in <output folder>/validation)")),
        ("", widget("QLabel", "evaluationLabel", text="")),
    ], collapsed=True)
    return ui_file("CMBQuant", [detect, review, regions, export],
                   ("inputVolumeSelector", "segmentationSelector", "parcellationSelector"))


def stats_ui() -> str:
    inputs = form_section("Tables", "tablesSection", [
        ("Cohort CMB table:", widget("ctkPathLineEdit", "cohortPathLineEdit")),
        ("WMH table:", widget("ctkPathLineEdit", "wmhPathLineEdit")),
        ("Clinical table:", widget("ctkPathLineEdit", "clinicalPathLineEdit")),
        ("Column roles (JSON):", widget("ctkPathLineEdit", "configPathLineEdit")),
        ("Counts:", widget("QComboBox", "countsComboBox", items="definite|definite+possible|auto")),
    ])
    models = form_section("Models", "modelsSection", [
        ("", widget("QCheckBox", "robustCheckBox", text="Robust (HC3) standard errors")),
        ("Custom formula:", widget("QLineEdit", "formulaLineEdit", placeholderText="e.g. np.log1p(total) ~ age + sex + wmh_burden")),
        ("Output folder:", widget("ctkPathLineEdit", "outputPathLineEdit")),
        ("", widget("QPushButton", "runButton", text="Run analysis")),
        ("", widget("QLabel", "statusLabel", text="")),
    ])
    return ui_file("CMBQuantStats", [inputs, models])  # detector evaluation: the CMBQuant module's export section


def main() -> int:
    (ROOT / "CMBQuant/Resources/UI/CMBQuant.ui").write_text(cmbquant_ui())
    (ROOT / "CMBQuantStats/Resources/UI/CMBQuantStats.ui").write_text(stats_ui())
    return 0


if __name__ == "__main__":
    sys.exit(main())
