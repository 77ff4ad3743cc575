"""Results land in a real MRML scene (slicer-core): a table node with every row, plot charts with series."""
import warnings

import numpy as np
import pytest

pytest.importorskip("slicer")
from CMBQuantLib.core.scene import headless_context
from CMBQuantStatsLib.models import run_analysis
from CMBQuantStatsLib.nodes import dataframe_to_table_node, forest_plot_chart, scatter_chart, table_node_to_dataframe
from CMBQuantStatsLib.options import AnalysisOptions
from CMBQuantStatsLib.pooling import pool_tables
from CMBQuantStatsLib.simulate import simulate_cohort


@pytest.fixture(scope="module")
def analysis():
    s = simulate_cohort(300, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_analysis(pool_tables(s.cohort, s.clinical, s.wmh), AnalysisOptions())


@pytest.fixture()
def scene():
    return headless_context().scene


def test_results_table_node_rows_and_values(scene, analysis):
    res = analysis.results
    node = dataframe_to_table_node(scene, res, "CMBQuant results")
    assert node.IsA("vtkMRMLTableNode") and scene.GetNodeByID(node.GetID()) is node
    assert node.GetNumberOfRows() == len(res) and node.GetNumberOfColumns() == res.shape[1]
    table = node.GetTable()
    i = int(np.flatnonzero((res["model_id"] == "negbin:deep") & (res["term"] == "hypertension"))[0])
    assert table.GetColumnByName("model_id").GetValue(i) == "negbin:deep"
    assert table.GetColumnByName("estimate").GetValue(i) == pytest.approx(res["estimate"].iat[i], abs=1e-12)
    assert table.GetColumnByName("ratio").GetValue(i) == pytest.approx(res["ratio"].iat[i], abs=1e-12)
    back = table_node_to_dataframe(node)
    np.testing.assert_allclose(back["p"].to_numpy(float), res["p"].to_numpy(float), atol=1e-15)
    assert back["term"].tolist() == res["term"].tolist()


def test_refilling_a_table_node_replaces_its_rows(scene, analysis):
    node = dataframe_to_table_node(scene, analysis.results)
    n_nodes = scene.GetNumberOfNodesByClass("vtkMRMLTableNode")
    same = dataframe_to_table_node(scene, analysis.vif, node=node)
    assert same is node and node.GetNumberOfRows() == len(analysis.vif)
    assert scene.GetNumberOfNodesByClass("vtkMRMLTableNode") == n_nodes


def test_forest_chart_has_point_and_ci_series(scene, analysis):
    chart = forest_plot_chart(scene, analysis.results, "negbin_counts")
    k = int((analysis.results["family"] == "negbin_counts").sum() - 2 * 5)  # minus Intercept and alpha per model
    assert chart.IsA("vtkMRMLPlotChartNode")
    assert chart.GetNumberOfPlotSeriesNodes() == k + 1
    pts = chart.GetNthPlotSeriesNode(0)
    tnode = pts.GetTableNode()
    assert tnode.GetNumberOfRows() == k and pts.GetXColumnName() == "estimate"
    ci = chart.GetNthPlotSeriesNode(1)
    assert ci.GetName() == "total · age"
    row = analysis.results[(analysis.results["model_id"] == "negbin:total") & (analysis.results["term"] == "age")]
    x = ci.GetTableNode().GetTable().GetColumnByName(ci.GetXColumnName())
    assert x.GetValue(0) == pytest.approx(row["ratio_low"].iat[0]) and x.GetValue(1) == pytest.approx(
        row["ratio_high"].iat[0])
    again = forest_plot_chart(scene, analysis.results, "seed_counts", chart=chart)
    assert again is chart and chart.GetNumberOfPlotSeriesNodes() == 5 * 7 + 1
    assert scene.GetNumberOfNodesByClass("vtkMRMLPlotSeriesNode") == 5 * 7 + 1  # old series removed


def test_scatter_chart_points_and_fit(scene, analysis):
    chart = scatter_chart(scene, analysis.data, "wmh_burden", "total")
    assert chart.GetNumberOfPlotSeriesNodes() == 2
    pts = chart.GetNthPlotSeriesNode(0).GetTableNode()
    assert pts.GetNumberOfRows() == 300
    ycol = pts.GetTable().GetColumnByName("log(total+1)")
    assert ycol.GetValue(0) == pytest.approx(np.log1p(analysis.data["total"].iat[0]))
    assert chart.GetXAxisTitle() == "wmh_burden"
