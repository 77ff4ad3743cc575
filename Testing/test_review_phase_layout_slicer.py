"""The phase row of the Slicer review (review/phase_layout.py) on real slicer-core MRML: the layout XML that Slicer's
own layout logic turns into views, the phase volume in the phase views, the phase views at the magnitude views' plane and
zoom (jump, keys, a scrolled slice) without the minIP, and all of it gone again for a case without phase. The last test
drives the Slicer panel with Slicer's Qt layer STUBBED (the MRML stays real)."""
from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import slicer
from review_helpers import SMALL_GEOMETRY, DarkThresholdSegmenter, small_swi
from test_cmbquant_panels_with_stubbed_qt_layer import UI, MockLogic, binding, panels  # noqa: F401 (fixture)

from CMBQuantLib.core.case_folder import PHASE_FILE
from CMBQuantLib.pipeline.process_case import BatchInput, process_case
from CMBQuantLib.review.controller import ReviewController
from CMBQuantLib.review.navigation import slice_nodes
from CMBQuantLib.review.phase_layout import PHASE_LAYOUT_ID, PhaseViews, layout_xml
from CMBQuantLib.review.slice_view_setup import apply_view_state
from CMBQuantLib.review.view_state import robust_window
from CMBQuantLib.volumes.images import array_of, write_image

PHASE_TAGS = ("phase-Red", "phase-Green", "phase-Yellow")
ORIENTATIONS = {"Red": "Axial", "Green": "Coronal", "Yellow": "Sagittal"}


@pytest.fixture(scope="module")
def worklist(tmp_path_factory) -> Path:
    """``cases/case01`` with a signed phase image (its CMBs at -0.8 rad) and ``cases/case02`` without phase."""
    root = tmp_path_factory.mktemp("phase_layout")
    img, _ = small_swi(0, n_blobs=3)
    src = write_image(img, SMALL_GEOMETRY, root / "in" / "case01.nii.gz")
    folder = process_case(BatchInput("case01", src), root / "cases", DarkThresholdSegmenter())
    rng = np.random.default_rng(1)
    phase = np.where(img < 0.3, -0.8, 0.05 * rng.standard_normal(img.shape)).astype(np.float32)
    write_image(phase, SMALL_GEOMETRY, folder / PHASE_FILE)
    plain = root / "cases" / "case02"
    shutil.copytree(folder, plain)
    (plain / PHASE_FILE).unlink()
    info = json.loads((plain / "case.json").read_text())
    info["case_id"] = "case02"
    (plain / "case.json").write_text(json.dumps(info))
    return root / "cases"


def matrix(node) -> np.ndarray:
    m = node.GetSliceToRAS()
    return np.array([[m.GetElement(r, c) for c in range(4)] for r in range(4)])


def opened(root: Path, layout_logic: bool) -> tuple[ReviewController, PhaseViews]:
    """A controller on a headless scene, its views drawn as the Slicer panel draws them (magnitude with the view
    state, then the phase row); ``layout_logic``: Slicer's own layout logic watches the scene, as in the desktop."""
    ctl = ReviewController(root, "Dr. Ko")
    if layout_logic:
        ctl.layout_logic = slicer.vtkMRMLLayoutLogic()  # kept alive with the controller
        ctl.layout_logic.SetMRMLScene(ctl.ctx.scene)
    phase = PhaseViews(ctl.ctx, ctl.view.views)

    def draw(ras) -> None:
        case = ctl.session.case
        apply_view_state(slice_nodes(ctl.ctx), ctl.view, ras, case.volume_node, case.seg_node)
        phase.apply(ctl.view, ras)

    ctl.on_case_changed(lambda case: phase.show_case(case) if case is not None else phase.drop_volume())
    ctl.on_current_changed(lambda rec: draw(rec.ras if rec is not None else None))
    ctl.on_view_changed(lambda _view: draw(None))
    return ctl, phase


def test_the_layout_puts_three_phase_views_under_the_three_magnitude_views_for_slicers_layout_logic():
    root = ET.fromstring(layout_xml())
    rows = root.findall("./item/layout")
    assert root.get("type") == "vertical" and [r.get("type") for r in rows] == ["horizontal", "horizontal"]
    views = [[(v.get("singletontag"), v.find("property[@name='orientation']").text) for v in r.iter("view")]
             for r in rows]
    assert views == [[("Red", "Axial"), ("Green", "Coronal"), ("Yellow", "Sagittal")],
                     [("phase-Red", "Axial"), ("phase-Green", "Coronal"), ("phase-Yellow", "Sagittal")]]
    # Slicer's own layout logic (the desktop app's) reads it and makes exactly these slice nodes
    scene = slicer.vtkMRMLScene()
    slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene, True)
    logic = slicer.vtkMRMLLayoutLogic()
    logic.SetMRMLScene(scene)
    layout = scene.GetSingletonNode("vtkMRMLLayoutNode", "vtkMRMLLayoutNode")
    layout.AddLayoutDescription(PHASE_LAYOUT_ID, layout_xml())
    layout.SetViewArrangement(PHASE_LAYOUT_ID)
    made = {scene.GetNthNodeByClass(i, "vtkMRMLSliceNode").GetLayoutName(): scene.GetNthNodeByClass(
        i, "vtkMRMLSliceNode") for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceNode"))}
    assert sorted(made) == sorted([*ORIENTATIONS, *PHASE_TAGS])
    for name, orientation in ORIENTATIONS.items():
        phase = made["phase-" + name]
        assert (phase.GetOrientation(), phase.GetViewGroup()) == (orientation, 1)  # not linked to group 0
        assert (made[name].GetOrientation(), made[name].GetViewGroup()) == (orientation, 0)


@pytest.mark.parametrize("layout_logic", [True, False], ids=["slicer-layout-logic", "slicer-core-scene"])
def test_phase_views_show_the_phase_at_the_magnitude_views_plane_without_the_minip(worklist, layout_logic):
    ctl, phase = opened(worklist, layout_logic)
    scene = ctl.ctx.scene
    layout = scene.GetSingletonNode("vtkMRMLLayoutNode", "vtkMRMLLayoutNode")
    before = layout.GetViewArrangement() if layout is not None else slicer.vtkMRMLLayoutNode.SlicerLayoutNone
    assert ctl.open_case("case01") and phase.shown
    assert layout_node_arrangement(scene) == PHASE_LAYOUT_ID and phase.previous_layout == before
    volume = phase.volume_node
    assert volume.GetName() == "case01 phase" and array_of(volume).min() == pytest.approx(-0.8)
    nodes = {n.GetLayoutName(): n for n in phase.slice_nodes()}
    assert sorted(nodes) == sorted(PHASE_TAGS)
    for node in nodes.values():  # the phase volume is what each phase view shows
        assert slicer.vtkMRMLSliceLogic.GetSliceCompositeNode(node).GetBackgroundVolumeID() == volume.GetID()
    window = volume.GetDisplayNode().GetWindow()
    assert window == pytest.approx(robust_window(array_of(volume), head_only=False)[0], rel=1e-4)
    level = volume.GetDisplayNode().GetLevel()  # signed phase: centred on 0, not on its positive half (the magnitude's
    assert abs(level) < 0.02 < robust_window(array_of(volume))[1]  # head-only window, which leaves out "air")

    ctl.press("M")  # minIP on
    assert ctl.select(ctl.session.queue[-1])  # jump to a CMB
    for name in ORIENTATIONS:
        magnitude, ph = scene.GetSingletonNode(name, "vtkMRMLSliceNode"), nodes["phase-" + name]
        np.testing.assert_allclose(matrix(ph), matrix(magnitude), atol=1e-6)
        assert ph.GetFieldOfView()[1] == pytest.approx(magnitude.GetFieldOfView()[1])
        assert magnitude.GetSlabReconstructionEnabled() and not ph.GetSlabReconstructionEnabled()
    red, phase_red = scene.GetSingletonNode("Red", "vtkMRMLSliceNode"), nodes["phase-Red"]
    np.testing.assert_allclose(matrix(phase_red)[:3, 3], ctl.current().ras, atol=1e-3)  # centred on the CMB

    red.SetSliceOffset(red.GetSliceOffset() + 4.0)  # the reader scrolls the axial view: the phase follows
    assert phase_red.GetSliceOffset() == pytest.approx(red.GetSliceOffset())
    phase_red.SetSliceOffset(phase_red.GetSliceOffset() - 6.0)  # and the other way round
    assert red.GetSliceOffset() == pytest.approx(phase_red.GetSliceOffset())
    ctl.press("-")  # zoom out: the same field of view on both rows
    assert phase_red.GetFieldOfView()[1] == pytest.approx(red.GetFieldOfView()[1]) == pytest.approx(
        ctl.view.fov_mm)


def layout_node_arrangement(scene) -> int:
    return scene.GetSingletonNode("vtkMRMLLayoutNode", "vtkMRMLLayoutNode").GetViewArrangement()


def test_a_case_without_phase_removes_the_phase_row_and_restores_the_readers_layout(worklist, tmp_path):
    ctl, phase = opened(worklist, layout_logic=True)
    scene = ctl.ctx.scene
    layout = scene.GetSingletonNode("vtkMRMLLayoutNode", "vtkMRMLLayoutNode")
    layout.SetViewArrangement(layout.SlicerLayoutFourUpView)  # the reader's own layout
    assert ctl.open_case("case01") and layout.GetViewArrangement() == PHASE_LAYOUT_ID
    volume_id = phase.volume_node.GetID()
    assert ctl.open_case("case02") and not phase.shown and phase.slice_nodes() == []
    assert layout.GetViewArrangement() == layout.SlicerLayoutFourUpView
    assert scene.GetNodeByID(volume_id) is None
    assert [scene.GetNthNodeByClass(i, "vtkMRMLScalarVolumeNode").GetName()
            for i in range(scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode"))] == ["case02"]
    for tag in PHASE_TAGS:
        assert scene.GetSingletonNode(tag, "vtkMRMLSliceNode") is None
        assert scene.GetSingletonNode(tag, "vtkMRMLSliceCompositeNode") is None
    assert ctl.open_case("case01") and phase.shown  # back to a case with phase: the row comes back
    assert layout.GetViewArrangement() == PHASE_LAYOUT_ID

    broken = tmp_path / "cases"  # an unreadable phase file: no phase row, and the reader is told why
    shutil.copytree(worklist / "case01", broken / "case01")
    (broken / "case01" / PHASE_FILE).write_bytes(b"not an image")
    ctl2, phase2 = opened(broken, layout_logic=False)
    assert ctl2.open_case("case01") and not phase2.shown and phase2.message.startswith("Phase not shown:")


def test_the_review_panel_shows_the_phase_under_the_magnitude_views_stubbed_qt(panels, worklist):  # noqa: F811
    mods, shortcuts, dialogs = panels
    ui, logic = UI(), MockLogic()
    ui.fovSpinBox.value, ui.reviewerLineEdit.text = 60.0, "Dr. Ko"
    review = mods.review_panel.ReviewPanel(ui, logic, binding(mods, ui))
    ui.caseFolderPathLineEdit.currentPathChanged.emit(str(worklist / "case01"))
    ctl, scene = review.controller, review.controller.ctx.scene
    assert review.phase.shown and dialogs == []
    assert layout_node_arrangement(scene) == PHASE_LAYOUT_ID
    by_key = {s.key: s for s in shortcuts}
    by_key["M"].activated.emit()  # minIP on the magnitude views only
    by_key["N"].activated.emit()  # the next CMB
    for name in ORIENTATIONS:
        magnitude = scene.GetSingletonNode(name, "vtkMRMLSliceNode")
        ph = scene.GetSingletonNode("phase-" + name, "vtkMRMLSliceNode")
        np.testing.assert_allclose(matrix(ph), matrix(magnitude), atol=1e-6)
        assert ph.GetFieldOfView()[1] == pytest.approx(60.0) == pytest.approx(magnitude.GetFieldOfView()[1])
        assert magnitude.GetSlabReconstructionEnabled() and not ph.GetSlabReconstructionEnabled()
    np.testing.assert_allclose(matrix(scene.GetSingletonNode("phase-Red", "vtkMRMLSliceNode"))[:3, 3],
                               ctl.current().ras, atol=1e-3)
    ui.caseFolderPathLineEdit.currentPathChanged.emit(str(worklist / "case02"))  # no phase: the row goes (the
    # mock logic gives each folder a scene of its own: the first scene loses its phase row, the second has none)
    assert not review.phase.shown and scene.GetSingletonNode("phase-Red", "vtkMRMLSliceNode") is None
    assert review.controller.ctx.scene.GetSingletonNode("phase-Red", "vtkMRMLSliceNode") is None
    assert layout_node_arrangement(scene) != PHASE_LAYOUT_ID
