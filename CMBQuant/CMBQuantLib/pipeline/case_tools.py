"""What a batch needs to process a case (a segmenter, a region assigner), described by picklable factory specs.

The spec, not the model, travels to the Dask workers: each worker builds its own tools once (``model_plugin``), and
the serial batch builds the same tools from the same spec, so both paths write the same case folders.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from CMBQuantLib.pipeline.process_case import RegionAssigner, Segmenter
from CMBQuantLib.regions.assign import region_assigner

DEFAULT_SEGMENTER = "CMBQuantLib.pipeline.segmenter_factory:create_segmenter"  # factory(model=, device=) -> Segmenter


def load_factory(spec: str, what: str) -> Callable[..., Any]:
    """``MODULE:FACTORY`` -> the callable (``create`` when no attribute is named); a clear error when it is absent."""
    module, _, attr = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), attr or "create")
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"{what} {spec!r} cannot be loaded ({exc}). Install the module, or pass MODULE:FACTORY.") \
            from None


@dataclass
class CaseTools:
    segmenter: Segmenter
    regions: RegionAssigner | None = None


@dataclass(frozen=True)
class CaseToolsSpec:
    """``segmenter``: MODULE:FACTORY called with ``segmenter_kwargs``; ``regions``: 'template' (register to MNI,
    look up ``atlas_source``), 'none', or MODULE:FACTORY returning a region assigner."""

    segmenter: str = DEFAULT_SEGMENTER
    segmenter_kwargs: dict[str, Any] = field(default_factory=dict)
    regions: str = "template"
    atlas_source: str = "auto"

    def check(self) -> None:
        """Import the factories without calling them: a typo fails here, before any cluster starts."""
        load_factory(self.segmenter, "--segmenter")
        if self.regions not in ("", "none", "template"):
            load_factory(self.regions, "--regions")

    def build_segmenter(self) -> Segmenter:
        return load_factory(self.segmenter, "--segmenter")(**self.segmenter_kwargs)

    def build_regions(self) -> RegionAssigner | None:
        if self.regions == "template":
            return region_assigner(atlas=self.atlas_source, on_failure="unassigned")
        if self.regions in ("", "none"):
            return None
        return load_factory(self.regions, "--regions")()

    def build(self) -> CaseTools:
        return CaseTools(self.build_segmenter(), self.build_regions())
