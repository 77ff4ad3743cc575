"""Results into the MRML scene: table nodes and plot charts.

In Slicer the researcher looks at results in the Tables and Plots modules and saves them with the scene; the
functions here put a results DataFrame into a ``vtkMRMLTableNode`` and draw forest and scatter plots as
``vtkMRMLPlotSeriesNode`` + ``vtkMRMLPlotChartNode``. The scene is an argument (``slicer.mrmlScene`` inside
Slicer, ``headless_context().scene`` in tests), nodes are created through the scene, and no Qt is imported.
Passing an existing node refills it, so re-running an analysis does not pile up nodes.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from CMBQuantStatsLib.report import forest_rows, scatter_fit


def _vtk_column(name: str, values: pd.Series):
    """A VTK array for one DataFrame column: doubles for numbers/booleans, strings otherwise."""
    from vtkmodules.vtkCommonCore import vtkDoubleArray, vtkStringArray

    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        arr = vtkDoubleArray()
        arr.SetName(name)
        vals = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
        arr.SetNumberOfTuples(len(vals))
        for i, v in enumerate(vals):
            arr.SetValue(i, v)
        return arr
    arr = vtkStringArray()
    arr.SetName(name)
    arr.SetNumberOfValues(len(values))
    for i, v in enumerate(values.tolist()):
        arr.SetValue(i, "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    return arr


def dataframe_to_table_node(scene: Any, df: pd.DataFrame, name: str = "CMBQuant results", node: Any = None) -> Any:
    """Put ``df`` into a ``vtkMRMLTableNode`` (new, or ``node`` emptied and refilled); one column per df column."""
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    table = node.GetTable()
    was_modifying = node.StartModify()
    table.Initialize()
    for col in df.columns:
        table.AddColumn(_vtk_column(str(col), df[col]))
    node.EndModify(was_modifying)
    table.Modified()
    node.Modified()
    return node


def table_node_to_dataframe(node: Any) -> pd.DataFrame:
    """Read a table node back (round trip check, and for tables the user edited in Slicer)."""
    table = node.GetTable()
    data = {}
    for c in range(table.GetNumberOfColumns()):
        arr = table.GetColumn(c)
        n = arr.GetNumberOfTuples() if hasattr(arr, "GetNumberOfTuples") else arr.GetNumberOfValues()
        data[arr.GetName()] = [arr.GetValue(i) for i in range(n)]
    return pd.DataFrame(data)


def _series(scene: Any, table_node: Any, name: str, x: str, y: str, points: bool, color=(0.12, 0.31, 0.47)) -> Any:
    s = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", name)
    s.SetAndObserveTableNodeID(table_node.GetID())
    s.SetXColumnName(x)
    s.SetYColumnName(y)
    s.SetPlotType(s.PlotTypeScatter)
    if points:
        s.SetLineStyle(s.LineStyleNone)
        s.SetMarkerStyle(s.MarkerStyleCircle)
        s.SetMarkerSize(6)
    else:
        s.SetMarkerStyle(s.MarkerStyleNone)
        s.SetLineWidth(2)
    s.SetColor(*color)
    return s


def _chart(scene: Any, name: str, title: str, x_title: str, y_title: str, chart: Any = None) -> Any:
    if chart is None:
        chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", name)
    else:  # refill: drop the old series and the tables they drew from
        old = [chart.GetNthPlotSeriesNode(i) for i in range(chart.GetNumberOfPlotSeriesNodes())]
        chart.RemoveAllPlotSeriesNodeIDs()
        tables = {s.GetTableNode().GetID(): s.GetTableNode() for s in old if s and s.GetTableNode()}
        for s in old:
            if s is not None:
                scene.RemoveNode(s)
        for t in tables.values():
            scene.RemoveNode(t)
    chart.SetTitle(title)
    chart.SetXAxisTitle(x_title)
    chart.SetYAxisTitle(y_title)
    return chart


def forest_plot_chart(scene: Any, results: pd.DataFrame, family: str = "seed_counts", ratio: bool | None = None,
                      name: str = "CMBQuant forest", chart: Any = None) -> Any:
    """Forest plot of a family's focal coefficients: one point series (estimates) and one line series per CI,
    named "<outcome> · <term>" so the legend reads like the y axis of the HTML forest plot."""
    r = forest_rows(results, family, ratio)
    if r.empty:
        raise ValueError(f"no focal coefficients for family {family!r} in the results")
    y = np.arange(len(r), 0, -1, dtype=float)
    pts = pd.DataFrame({"label": r["label"], "y": y, "estimate": r["x"], "ci_low": r["x_low"],
                        "ci_high": r["x_high"], "p": r["p"]})
    pts_node = dataframe_to_table_node(scene, pts, f"{name} estimates")
    ci = {}
    for i in range(len(r)):
        ci[f"x{i}"] = [r["x_low"].iat[i], r["x_high"].iat[i]]
        ci[f"y{i}"] = [y[i], y[i]]
    ci_node = dataframe_to_table_node(scene, pd.DataFrame(ci), f"{name} CIs")
    is_ratio = r["measure"].iat[0] != "beta" if ratio is None else ratio
    chart = _chart(scene, name, f"{family}: estimate and 95% CI", r["measure"].iat[0] if is_ratio else "beta",
                   "coefficient (see legend)", chart)
    chart.AddAndObservePlotSeriesNodeID(_series(scene, pts_node, f"{name}: estimates", "estimate", "y", True).GetID())
    for i, label in enumerate(r["label"]):
        chart.AddAndObservePlotSeriesNodeID(
            _series(scene, ci_node, label, f"x{i}", f"y{i}", False, (0.42, 0.56, 0.75)).GetID())
    return chart


def scatter_chart(scene: Any, data: pd.DataFrame, x: str = "wmh_burden", y: str = "total", log1p: bool = True,
                  name: str = "CMBQuant scatter", chart: Any = None) -> Any:
    """Scatter of log(count+1) against WMH burden with its least-squares line (two series)."""
    xv, yv, b0, b1 = scatter_fit(data, x, y, log1p)
    ylab = f"log({y}+1)" if log1p else y
    pts_node = dataframe_to_table_node(scene, pd.DataFrame({x: xv, ylab: yv}), f"{name} points")
    xs = np.array([xv.min(), xv.max()]) if len(xv) else np.array([0.0, 0.0])
    fit_node = dataframe_to_table_node(scene, pd.DataFrame({x: xs, "fit": b0 + b1 * xs}), f"{name} fit")
    chart = _chart(scene, name, f"{y} CMB vs {x} (n = {len(xv)})", x, ylab, chart)
    chart.AddAndObservePlotSeriesNodeID(_series(scene, pts_node, f"{ylab}", x, ylab, True).GetID())
    chart.AddAndObservePlotSeriesNodeID(
        _series(scene, fit_node, f"fit {b0:.2f} + {b1:.3f}·x", x, "fit", False, (0.75, 0.22, 0.17)).GetID())
    return chart
