"""One slice view rendered off screen by trame-slicer's ``SliceView`` (Slicer's own displayable managers), shipped
to the page as a JPEG/PNG data URL, and the page-pixel -> RAS mapping that click-to-add needs.

We ship whole frames ourselves (not trame-rca's stream) so a frame carries the id of the CMB it shows: the page,
the tests and the latency benchmark can tell exactly when the view for a CMB has arrived.
"""
from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from PIL import Image

from CMBQuantLib.review.navigation import DEFAULT_FOV_MM, centre_slice
from CMBQuantLib.review.slice_view_setup import apply_view_state
from CMBQuantLib.review.view_state import ViewState

ORIENTATIONS = {"Red": "Axial", "Yellow": "Sagittal", "Green": "Coronal"}


def pixel_to_ras(xy_to_ras: np.ndarray, px: float, py: float, height: int) -> np.ndarray:
    """RAS (mm) under an image pixel: page images run top-down, VTK's XY bottom-up (row 0 of the page is XY
    row ``height - 1``)."""
    x, y = px, height - 1 - py
    return (np.asarray(xy_to_ras, float) @ np.array([x, y, 0.0, 1.0]))[:3]


def ras_to_pixel(xy_to_ras: np.ndarray, ras: np.ndarray, height: int) -> tuple[float, float]:
    """Inverse of ``pixel_to_ras`` on the slice plane (tests use it to find a CMB on screen)."""
    xy = np.linalg.inv(np.asarray(xy_to_ras, float)) @ np.append(np.asarray(ras, float), 1.0)
    return float(xy[0]), float(height - 1 - xy[1])


def matrix_of(vtk_matrix: Any) -> np.ndarray:
    return np.array([[vtk_matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


class SliceViewport:
    """A trame-slicer ``SliceView`` of a fixed pixel size showing a volume with its segmentation overlay."""

    def __init__(self, scene: Any, app_logic: Any, name: str = "Red", size: tuple[int, int] = (512, 512),
                 orientation: str | None = None):
        from trame_slicer.views import SliceView
        from trame_slicer.views.render_scheduler import NoScheduleRendering

        self.name = name
        # No render per MRML event (a jump fires ~10): we render once per frame we ship.
        self.view = SliceView(scene, app_logic, name, scheduled_render_strategy=NoScheduleRendering())
        self.orientation = orientation or ORIENTATIONS.get(name, "Axial")
        self.view.set_orientation(self.orientation)
        self.size = size
        self.view.render_window().SetMultiSamples(0)  # like Slicer's slice views: crisp voxels, 2x faster here
        self.view.render_window().SetSize(*size)
        self.view.render_window().Render()
        self.view._update_slice_size()  # trame-slicer sizes the slice node on the interactor's resize event only

    @property
    def node(self) -> Any:
        return self.view._view_node

    def show(self, volume_node: Any | None) -> None:
        self.view.set_background_volume_id(volume_node.GetID() if volume_node is not None else None)
        if volume_node is not None:
            self.view.fit_view_to_content()

    def centre(self, ras: Any, fov_mm: float = DEFAULT_FOV_MM) -> None:
        """Jump-to, through the same navigation call the Slicer module uses."""
        centre_slice(self.node, ras, fov_mm)

    def apply(self, view: ViewState, ras: Any = None, volume_node: Any = None, seg_node: Any = None,
              slab: bool = True) -> None:
        """The review's view state, through the same MRML call the Slicer panel makes."""
        apply_view_state([self.node], view, ras, volume_node, seg_node, slab)

    def scroll(self, steps: int) -> None:
        """Move the slice by ``steps`` voxel spacings (mouse wheel)."""
        self.view.set_slice_value(self.view.get_slice_value() + steps * self.view.get_slice_step())

    def follow(self, other: SliceViewport) -> None:
        """Show the slice ``other`` shows (a phase view linked to its magnitude view)."""
        self.view.set_slice_value(other.view.get_slice_value())

    def xy_to_ras(self) -> np.ndarray:
        return matrix_of(self.node.GetXYToRAS())

    def pixel_to_ras(self, px: float, py: float) -> np.ndarray:
        return pixel_to_ras(self.xy_to_ras(), px, py, self.size[1])

    def frame(self) -> np.ndarray:
        """The rendered view as an [h, w, 3] uint8 array, top row first."""
        from slicer import vtkMRMLLayerDisplayableManager
        from vtkmodules.util.numpy_support import vtk_to_numpy
        from vtkmodules.vtkCommonDataModel import vtkImageData

        window = self.view.render_window()
        window.Render()
        image = vtkImageData()
        vtkMRMLLayerDisplayableManager.RenderWindowBufferToImage(window, image)
        w, h, _ = image.GetDimensions()
        pixels = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(h, w, -1)
        return np.ascontiguousarray(pixels[::-1, :, :3])

    def data_url(self, image_format: str = "jpeg") -> str:
        """The frame as a ``data:`` URL. JPEG (quality 92, no chroma subsampling, so thin coloured outlines keep
        their colour) encodes ~10x faster and ships ~4x smaller than PNG; ``png`` is exact."""
        buf = io.BytesIO()
        if image_format == "png":
            Image.fromarray(self.frame()).save(buf, format="PNG", compress_level=1)
        else:
            Image.fromarray(self.frame()).save(buf, format="JPEG", quality=92, subsampling=0)
        return f"data:image/{image_format};base64," + base64.b64encode(buf.getvalue()).decode("ascii")
