"""Compute device choice: CUDA, else Apple MPS, else CPU. An explicit choice that is not available falls back with a
warning that is returned (for the UI) and logged, never silently (a user who asked for a GPU must learn they got
a CPU, and why inference will take minutes)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)
CHOICES = ("auto", "cuda", "mps", "cpu")


@dataclass(frozen=True)
class DeviceChoice:
    name: str  # the device used: cuda / mps / cpu
    requested: str
    warning: str = ""  # non-empty when the request could not be honoured


@dataclass(frozen=True)
class TorchInfo:
    torch_version: str
    cuda_version: str  # "" for CPU builds
    cuda_available: bool
    mps_available: bool
    gpu_name: str


def torch_info() -> TorchInfo:
    """Versions to show in the UI: a CPU-only or mismatched torch is the usual reason a GPU goes unused."""
    import torch

    cuda = bool(torch.cuda.is_available())
    return TorchInfo(
        torch_version=torch.__version__,
        cuda_version=torch.version.cuda or "",
        cuda_available=cuda,
        mps_available=_mps_available(torch),
        gpu_name=torch.cuda.get_device_name(0) if cuda else "",
    )


def _mps_available(torch) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available_devices() -> list[str]:
    """Devices usable now, best first (always ends with 'cpu')."""
    info = torch_info()
    return [d for d, ok in (("cuda", info.cuda_available), ("mps", info.mps_available)) if ok] + ["cpu"]


def choose_device(requested: str = "auto") -> DeviceChoice:
    """``auto``: the best available. An unavailable explicit choice falls back to the best available + warning."""
    req = (requested or "auto").lower()
    if req.startswith("cuda:"):
        req_base = "cuda"
    else:
        req_base = req
    if req_base not in CHOICES:
        raise ValueError(f"unknown device {requested!r}: use one of {', '.join(CHOICES)}")
    avail = available_devices()
    if req_base == "auto":
        return DeviceChoice(avail[0], requested)
    if req_base in avail:
        return DeviceChoice(req if req_base == "cuda" else req_base, requested)
    info = torch_info()
    why = {"cuda": f"torch {info.torch_version} sees no CUDA GPU (CUDA build: {info.cuda_version or 'none, CPU-only torch'})",
           "mps": "Apple Metal (MPS) is not available on this machine"}[req_base]
    msg = f"Device '{requested}' is not available: {why}. Falling back to '{avail[0]}'" + (
        " (inference will be much slower)." if avail[0] == "cpu" else ".")
    log.warning(msg)
    return DeviceChoice(avail[0], requested, msg)
