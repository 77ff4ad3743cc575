"""A Dask worker plugin that builds the segmenter (and region assigner) once per worker process, not once per case.

Registered by ``dask_batch`` with the picklable ``CaseToolsSpec``; Dask also sets it up on every worker that joins
later, including one a nanny restarts after a crash. A worker with several threads shares its one model: calls to
``segment`` are serialised, so extra threads only overlap reading, post-processing and writing with inference.
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np
from distributed import WorkerPlugin, get_worker

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.pipeline.case_tools import CaseTools, CaseToolsSpec
from CMBQuantLib.pipeline.process_case import Segmenter

PLUGIN_NAME = "cmbquant-case-tools"


class SerialisedSegmenter:
    """One segmenter shared by a worker's threads, one ``segment`` call at a time; other attributes pass through."""

    def __init__(self, inner: Segmenter):
        self._inner = inner
        self._lock = threading.Lock()

    def segment(self, image: np.ndarray, geometry: Geometry) -> np.ndarray:
        with self._lock:
            return self._inner.segment(image, geometry)

    def __getattr__(self, name: str) -> Any:  # model_info, cmb_filter, ...
        return getattr(self._inner, name)


class CaseToolsPlugin(WorkerPlugin):
    """Holds this worker's ``CaseTools``, built from ``spec`` when the plugin is attached to the worker."""

    name = PLUGIN_NAME

    def __init__(self, spec: CaseToolsSpec):
        self.spec = spec
        self.tools: CaseTools | None = None

    def setup(self, worker: Any) -> None:
        tools = self.spec.build()
        self.tools = CaseTools(SerialisedSegmenter(tools.segmenter), tools.regions)

    def teardown(self, worker: Any) -> None:
        self.tools = None


def worker_tools() -> CaseTools:
    """The tools of the worker this task runs on (inside a Dask task only)."""
    plugin = get_worker().plugins.get(PLUGIN_NAME)
    if plugin is None or plugin.tools is None:
        raise RuntimeError("this Dask worker has no CMBQuant case tools: register CaseToolsPlugin before submitting")
    return plugin.tools
