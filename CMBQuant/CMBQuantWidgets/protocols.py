"""What each panel needs from the module logic, as Protocols: the Slicer logic provides them, tests pass mocks."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.pipeline.parameters import CMBQuantParameters
from CMBQuantLib.pipeline.run_options import RunOptions


class Parameters(Protocol):
    """The parameter pack bound to the GUI and the parameter node."""

    def save(self) -> CMBQuantParameters:
        """Read the GUI into the pack, store it in the scene and the machine settings, return it."""


class InferenceRun(Protocol):
    """A detection run in a worker process (``pipeline.worker.InferenceClient``)."""

    cancelled: bool
    stderr_tail: Any

    def poll(self) -> list[Any]: ...

    def running(self) -> bool: ...

    def result(self) -> dict[str, Any] | None: ...

    def cancel(self) -> None: ...


class DetectionLogic(Protocol):
    def model_choices(self) -> list[tuple[str, str]]: ...

    def import_model(self, path: str) -> None: ...

    def delete_model(self, name: str) -> None: ...

    def start_detection(self, volume: Any, options: RunOptions) -> InferenceRun | None:
        """The started run, or None when the user declined installing what it needs."""


class ReviewLogic(Protocol):
    def open_controller(self, folder: str, reviewer: str) -> Any:
        """The one ``review.controller.ReviewController`` on a case folder (or a batch output), in this scene."""

    def show_case(self, case: Any) -> None:
        """Show the opened case's SWI and segmentation (``OpenCase``) in the views."""

    def jump_to(self, record: CMBRecord, fov_mm: float) -> None: ...

    def crosshair_ras(self) -> list[float]: ...


class RegionsLogic(Protocol):
    def assign_regions(self, session: Any, parcellation_node: Any | None) -> list[CMBRecord]:
        """Region fields for the session's CMBs (the subject's parcellation when given, else the template)."""


class ExportLogic(Protocol):
    def export_case(self, folder: Path, out: str) -> Path: ...

    def model_choices(self) -> list[tuple[str, str]]:
        """The model picker's (label, name) pairs, refreshed after learning adds a model version."""

    def export_nnunet(self, root: str, out: str) -> Path: ...

    def export_dicom(self, folder: Path, out: str) -> list[Path]:
        """DICOM SEG + SR of the case's accepted CMBs (``export.dicom_export``); the files written."""

    def evaluate_detector(self, predictions: str, reference: str, output_folder: str, distance_mm: float) -> Path:
        """Score predictions against reference labels; returns the report's path."""
