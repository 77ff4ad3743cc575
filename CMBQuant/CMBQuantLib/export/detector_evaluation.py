"""Evaluate the detector from the Slicer panel: score predictions against reference labels, show the per-case table.

The scoring and the report are ``evaluate_folders`` (the same as ``cmbquant evaluate``); this adds where the files
go when the reader named no output folder, and the per-case results as a table node in the scene.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from CMBQuantLib.core.table_nodes import dataframe_to_table_node
from CMBQuantLib.detection.validation.evaluate import EvaluationOutput, evaluate_folders

TABLE_NAME = "CMB validation per case"
REPORT_FILE = "validation.html"


@dataclass
class DetectorEvaluation:
    output: EvaluationOutput
    out_dir: Path
    table_node: Any

    @property
    def report(self) -> Path:
        return self.out_dir / REPORT_FILE


def evaluation_dir(output_folder: str, temp_root: str | Path) -> Path:
    """``<output folder>/validation``, or ``<temp>/CMBQuant/validation`` when no output folder is chosen."""
    return Path(output_folder or Path(temp_root) / "CMBQuant") / "validation"


def evaluate_detector(scene: Any, predictions: str | Path, reference: str | Path, out_dir: str | Path,
                      distance_mm: float) -> DetectorEvaluation:
    """Score, write the tables and ``validation.html`` into ``out_dir``, and put the per-case rows in ``scene``."""
    out = Path(out_dir)
    result = evaluate_folders(Path(predictions), Path(reference), out, distance_mm=distance_mm)
    return DetectorEvaluation(result, out, dataframe_to_table_node(scene, result.per_case, name=TABLE_NAME))
