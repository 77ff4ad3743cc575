"""A pandas table into a ``vtkMRMLTableNode``, so results show in Slicer's Tables module and save with the scene.

Numbers and booleans become double columns, everything else strings (missing values as ""). Passing an existing
node refills it, so running again does not pile up nodes. The scene is an argument; no Qt.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def _vtk_column(name: str, values: pd.Series) -> Any:
    from vtkmodules.vtkCommonCore import vtkDoubleArray, vtkStringArray

    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        arr = vtkDoubleArray()
        vals = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
        arr.SetName(name)
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


def dataframe_to_table_node(scene: Any, df: pd.DataFrame, name: str, node: Any = None) -> Any:
    """``df`` in a table node (new, or ``node`` emptied and refilled), one column per DataFrame column."""
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    table = node.GetTable()
    was = node.StartModify()
    table.Initialize()
    for col in df.columns:
        table.AddColumn(_vtk_column(str(col), df[col]))
    node.EndModify(was)
    table.Modified()
    node.Modified()
    return node
