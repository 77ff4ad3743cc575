"""The pip packages a detection run needs besides torch (which comes only through Slicer's PyTorch extension).

``core.dependencies.ensure`` installs the missing ones on first use, with the user's consent; the worker process
runs on the same Python, so what is installed here is what it imports.
"""
from __future__ import annotations

from CMBQuantLib.core.dependencies import Requirement

INFERENCE_REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement("nnunetv2", "nnunetv2==2.8.1"),
    Requirement("cc3d", "connected-components-3d>=3.12"),
    Requirement("lightgbm", "lightgbm>=4.3"),  # the CMB filter (stage 2), a LightGBM text model
)
INFERENCE_PURPOSE = "CMBQuant detection (nnU-Net v2 and the CMB filter)"
