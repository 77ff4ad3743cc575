"""Evaluate detector from the CMBQuant export panel: scores, report, and the per-case table in a real MRML scene."""
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from CMBQuantLib.core.scene import headless_context
from CMBQuantLib.core.table_nodes import dataframe_to_table_node
from CMBQuantLib.detection.nnunet.model_choices import DEMO_LABEL, model_choices
from CMBQuantLib.export.detector_evaluation import TABLE_NAME, evaluate_detector, evaluation_dir


def write(arr, path):
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.5, 0.5, 2.0))
    sitk.WriteImage(img, str(path))


def folders(root: Path):
    pred, ref = root / "pred", root / "ref"
    pred.mkdir()
    ref.mkdir()
    lab = np.zeros((10, 20, 20), np.uint8)
    lab[2:4, 2:5, 2:5] = 1
    lab[7, 15, 15] = 1
    write(lab, ref / "c1.nii.gz")
    write(lab, pred / "c1.nii.gz")  # both found
    write(lab, ref / "c2.nii.gz")
    only_first = lab.copy()
    only_first[7, 15, 15] = 0
    write(only_first, pred / "c2.nii.gz")  # one missed
    return pred, ref


def test_scores_land_in_a_table_node_and_the_report_is_written(tmp_path):
    ctx = headless_context()
    pred, ref = folders(tmp_path)
    out = evaluation_dir(str(tmp_path / "results"), "/unused")
    result = evaluate_detector(ctx.scene, pred, ref, out, distance_mm=5.0)
    assert result.report == tmp_path / "results" / "validation" / "validation.html" and result.report.is_file()
    node = result.table_node
    assert node.GetName() == TABLE_NAME and node.GetScene() is ctx.scene
    table = node.GetTable()
    assert table.GetNumberOfRows() == 2
    names = [table.GetColumn(c).GetName() for c in range(table.GetNumberOfColumns())]
    cases = table.GetColumnByName("case_id")
    assert [cases.GetValue(i) for i in range(2)] == ["c1", "c2"]
    assert list(result.output.per_case.columns) == names
    tp = result.output.per_case.set_index("case_id")["tp"]
    assert (tp["c1"], tp["c2"]) == (2, 1)


def test_without_an_output_folder_the_report_goes_to_the_temporary_folder():
    assert evaluation_dir("", "/tmp/slicer") == Path("/tmp/slicer/CMBQuant/validation")
    assert evaluation_dir("/data/out", "/tmp/slicer") == Path("/data/out/validation")


def test_table_node_holds_numbers_as_doubles_and_text_as_strings_and_refills():
    scene = headless_context().scene
    df = pd.DataFrame({"case_id": ["a", None], "tp": [2, 1], "ok": [True, False], "f1": [0.5, np.nan]})
    node = dataframe_to_table_node(scene, df, name="t")
    table = node.GetTable()
    assert [table.GetColumn(c).GetClassName() for c in range(4)] == [
        "vtkStringArray", "vtkDoubleArray", "vtkDoubleArray", "vtkDoubleArray"]
    assert table.GetColumn(0).GetValue(1) == "" and table.GetColumn(2).GetValue(0) == 1.0
    assert np.isnan(table.GetColumn(3).GetValue(1))
    again = dataframe_to_table_node(scene, df.iloc[:1], name="t", node=node)
    assert again is node and node.GetTable().GetNumberOfRows() == 1
    assert scene.GetNumberOfNodesByClass("vtkMRMLTableNode") == 1


def test_model_choices_list_the_demo_model_first_as_the_default(tmp_path):
    assert model_choices(tmp_path) == [(DEMO_LABEL, "")]
    (tmp_path / "models" / "Broken").mkdir(parents=True)
    choices = model_choices(tmp_path)
    assert choices[0] == (DEMO_LABEL, "") and choices[1][1] == "Broken" and "invalid" in choices[1][0]
