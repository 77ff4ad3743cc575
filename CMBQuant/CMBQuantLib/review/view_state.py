"""What the review views show, as one value: overlay style, field of view, window/level, the minIP slab, the views.

A reader tells a CMB from a vein with a thin-slab minimum-intensity projection (a vein becomes a line, a CMB stays
a dot) and needs the anatomy around the spot, with the voxels under the segment visible. Both UIs hold this one
frozen value in the review controller, change it only through ``view_action`` (keys) or ``dragged`` / ``replace``
(mouse, widgets), and draw it with ``slice_view_setup.apply_view_state``, so the browser and Slicer show the same.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from CMBQuantLib.review.navigation import DEFAULT_FOV_MM

OVERLAYS = ("outline", "fill", "off")
FOV_RANGE_MM = (20.0, 300.0)
ZOOM_STEP = 1.25  # one key press or one ctrl+wheel notch
SLAB_RANGE_MM = (4.0, 16.0)
DEFAULT_SLAB_MM = 8.0
SLAB_STEP_MM = 2.0
WINDOW_STEP = 1.2  # factor per key press
LEVEL_STEP = 0.1  # fraction of the window per key press
DEFAULT_VIEWS = ("Red", "Green", "Yellow")  # axial, coronal, sagittal
VIEW_LABELS = {"Red": "axial", "Green": "coronal", "Yellow": "sagittal"}
AUTO_PERCENTILES = (1.0, 99.0)


@dataclass(frozen=True)
class ViewState:
    """The review views' settings. ``window``/``level`` 0 mean "not set yet": the case's robust window applies."""

    overlay: str = "outline"  # outline | fill | off
    overlay_style: str = "outline"  # what O brings back after "off" (outline or fill)
    fov_mm: float = DEFAULT_FOV_MM
    window: float = 0.0
    level: float = 0.0
    auto: tuple[float, float] = (0.0, 0.0)  # (window, level) from the open case's image
    minip: bool = False
    slab_mm: float = DEFAULT_SLAB_MM
    views: tuple[str, ...] = DEFAULT_VIEWS

    def __post_init__(self) -> None:
        if self.overlay not in OVERLAYS:
            raise ValueError(f"overlay must be one of {OVERLAYS}, got {self.overlay!r}")
        if not self.views:
            raise ValueError("at least one view is needed (e.g. Red, the axial view)")

    def with_fov(self, fov_mm: float) -> ViewState:
        return replace(self, fov_mm=float(np.clip(fov_mm, *FOV_RANGE_MM)))

    def with_slab(self, slab_mm: float) -> ViewState:
        return replace(self, slab_mm=float(np.clip(slab_mm, *SLAB_RANGE_MM)))

    def with_window(self, window: float, level: float) -> ViewState:
        return replace(self, window=max(float(window), 1e-6), level=float(level))

    def with_auto(self, window: float, level: float) -> ViewState:
        """The window of a newly opened case: it becomes the current window, and what ``Q`` goes back to."""
        return replace(self, auto=(float(window), float(level))).with_window(window, level)

    def window_level(self) -> tuple[float, float]:
        return (self.window, self.level) if self.window > 0 else self.auto

    def dragged(self, dx: float, dy: float) -> ViewState:
        """A mouse drag over a view, as fractions of its size: right widens the window, down raises the level
        (darker image), as in Slicer's window/level mode."""
        w, lev = self.window_level()
        if w <= 0:
            return self
        return self.with_window(w * float(np.exp(2.0 * dx)), lev + dy * w)

    def toggled_overlay(self) -> ViewState:
        return replace(self, overlay="off" if self.overlay != "off" else self.overlay_style)

    def switched_overlay_style(self) -> ViewState:
        style = "fill" if self.overlay_style == "outline" else "outline"
        return replace(self, overlay_style=style, overlay=style)

    def reset(self) -> ViewState:
        """The default zoom and the case's robust window; overlay, slab and views stay as the reader set them."""
        return replace(self, fov_mm=DEFAULT_FOV_MM, window=self.auto[0], level=self.auto[1])

    def as_dict(self) -> dict[str, Any]:
        w, lev = self.window_level()
        return {**asdict(self), "views": list(self.views), "auto": list(self.auto), "window": round(w, 4),
                "level": round(lev, 4)}

    def describe(self) -> str:
        """One line for the message bar."""
        w, lev = self.window_level()
        slab = f"minIP {self.slab_mm:g} mm" if self.minip else "minIP off"
        return f"View: {self.fov_mm:.0f} mm field, overlay {self.overlay}, {slab}, window {w:.3g} / level {lev:.3g}"


def _wl(factor: float = 1.0, shift: float = 0.0) -> Callable[[ViewState], ViewState]:
    def change(v: ViewState) -> ViewState:
        w, lev = v.window_level()
        return v.with_window(w * factor, lev + shift * w) if w > 0 else v
    return change


VIEW_ACTIONS: dict[str, Callable[[ViewState], ViewState]] = {
    "zoom_in": lambda v: v.with_fov(v.fov_mm / ZOOM_STEP),
    "zoom_out": lambda v: v.with_fov(v.fov_mm * ZOOM_STEP),
    "toggle_overlay": ViewState.toggled_overlay,
    "overlay_style": ViewState.switched_overlay_style,
    "toggle_minip": lambda v: replace(v, minip=not v.minip),
    "slab_thinner": lambda v: v.with_slab(v.slab_mm - SLAB_STEP_MM),
    "slab_thicker": lambda v: v.with_slab(v.slab_mm + SLAB_STEP_MM),
    "window_wider": _wl(WINDOW_STEP),
    "window_narrower": _wl(1.0 / WINDOW_STEP),
    "level_up": _wl(shift=LEVEL_STEP),
    "level_down": _wl(shift=-LEVEL_STEP),
    "view_reset": ViewState.reset,
}


def view_action(view: ViewState, action: str) -> ViewState:
    """The view after one keymap action of ``VIEW_ACTIONS``."""
    if action not in VIEW_ACTIONS:
        raise ValueError(f"not a view action: {action!r} (one of {sorted(VIEW_ACTIONS)})")
    return VIEW_ACTIONS[action](view)


def robust_window(image: np.ndarray | None, percentiles: tuple[float, float] = AUTO_PERCENTILES,
                  head_only: bool = True) -> tuple[float, float]:
    """(window, level) spanning the 1st-99th percentile of the head's voxels: air (below a tenth of the 99.5th
    percentile of the whole image) is left out, so a big field of air cannot wash the brain out; an outlier
    voxel (a bright vessel, a dead pixel) cannot either. ``head_only=False`` for a signed image (phase).
    (1, 0.5) for an empty or flat image."""
    if image is None or image.size == 0:
        return 1.0, 0.5
    values = np.asarray(image, dtype=np.float32)
    values = values[np.isfinite(values)]
    if values.size > 2_000_000:  # percentiles of a strided sample: same window, a tenth of the time
        values = values[:: values.size // 1_000_000]
    top = float(np.percentile(values, 99.5)) if values.size else 0.0
    head = values[values > 0.1 * top] if head_only and top > 0 else values
    if head.size < 10:
        head = values
    lo, hi = (float(v) for v in np.percentile(head, percentiles)) if head.size else (0.0, 1.0)
    if hi <= lo:
        return 1.0, lo + 0.5
    return hi - lo, (hi + lo) / 2
