"""ANTs SyN from the label template to the SWI's brain, after the affine of ``template.register_to_template``.

Fixed image: the brain-extracted SWI on the 2 mm working grid; moving: the T1-like label template. The affine
(ICBM152, SimpleITK, already checked for failure) starts an ANTs affine refinement to the label template, then SyN
(Mattes MI, 8 -> 4 -> 2 mm) follows the subject's cortex, ventricles and tentorium. The transforms map subject
points to template points, which is what pulling the template's labels onto a subject grid needs: the labels are
moved, never the CMBs. ``antspyx`` is imported inside the functions (optional, the ``regions`` extra); its ITK
threads are set from ``threads`` through ``ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS`` for the call's duration.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk


class DeformableUnavailable(RuntimeError):
    """antspyx is not installed; the message says how to get it (or to use the affine path)."""


@dataclass(frozen=True)
class SynConfig:
    """ANTs schedule. Defaults keep a 512 x 512 x 160 SWI well under 60 s on 2 cores (docs/regions.md)."""

    affine_iterations: tuple[int, ...] = (100, 50, 25)
    affine_shrink: tuple[int, ...] = (4, 2, 1)
    affine_smoothing: tuple[float, ...] = (2.0, 1.0, 0.0)
    syn_iterations: tuple[int, ...] = (60, 40, 20)  # shrink 4, 2, 1 of the 2 mm working grid
    grad_step: float = 0.2
    flow_sigma: float = 3.0
    total_sigma: float = 0.0
    bins: int = 32
    sampling: float = 0.25
    threads: int = 2


@dataclass
class SynResult:
    """Transform files (subject -> template points; deleted with ``folder``) and timing."""

    transforms: list[str]
    folder: Path
    seconds: float
    notes: dict = field(default_factory=dict)

    def pull(self, moving: sitk.Image, reference: sitk.Image, labels: bool) -> sitk.Image:
        """``moving`` (template space) resampled onto ``reference`` (a subject grid) through the transforms."""
        return warp_to(moving, reference, self, labels)

    def displacement_mm(self, mask: sitk.Image) -> np.ndarray:
        """Length of the SyN displacement (beyond the affine) at the voxels of ``mask`` (the fixed grid)."""
        ants = _ants()
        field = ants.image_read(next(t for t in self.transforms if t.endswith("Warp.nii.gz"))).numpy()
        mag = np.linalg.norm(field, axis=-1).transpose(2, 1, 0)
        inside = sitk.GetArrayViewFromImage(mask) > 0
        return mag[inside] if mag.shape == inside.shape else mag.ravel()

    def close(self) -> None:
        """Delete the transform files."""
        shutil.rmtree(self.folder, ignore_errors=True)


def ants_available() -> bool:
    """True when antspyx can be imported (checked without importing it)."""
    import importlib.util

    return importlib.util.find_spec("ants") is not None


def _ants():
    try:
        import ants
    except ImportError:
        raise DeformableUnavailable("deformable registration needs antspyx (`pip install antspyx`, the 'regions' "
                                    "extra); without it use the affine path (`--atlas-source aparcaseg`)") from None
    return ants


@contextmanager
def _threads(n: int):
    key = "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"
    old = os.environ.get(key)
    os.environ[key] = str(n)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


def to_ants(image: sitk.Image):
    """A SimpleITK image as an ANTsImage (same physical space: both are ITK, LPS)."""
    ants = _ants()
    arr = sitk.GetArrayFromImage(image).transpose(2, 1, 0)
    return ants.from_numpy(np.ascontiguousarray(arr), origin=tuple(image.GetOrigin()),
                           spacing=tuple(image.GetSpacing()),
                           direction=np.array(image.GetDirection()).reshape(3, 3))


def to_sitk(image, reference: sitk.Image) -> sitk.Image:
    """An ANTsImage on ``reference``'s grid back to SimpleITK."""
    out = sitk.GetImageFromArray(np.ascontiguousarray(image.numpy().transpose(2, 1, 0)))
    out.CopyInformation(reference)
    return out


def register_syn(fixed: sitk.Image, moving: sitk.Image, initial: sitk.Transform | None,
                 config: SynConfig | None = None, folder: Path | None = None) -> SynResult:
    """SyN of ``moving`` (template) onto ``fixed`` (subject). ``initial`` maps subject points to template points."""
    ants = _ants()
    cfg = config or SynConfig()
    folder = Path(folder or tempfile.mkdtemp(prefix="cmbquant_syn_"))
    t0 = time.perf_counter()
    init = None
    if initial is not None:
        init = str(folder / "initial.mat")
        sitk.WriteTransform(initial, init)
    with _threads(cfg.threads):
        out = ants.registration(
            to_ants(fixed), to_ants(moving), type_of_transform="SyN", initial_transform=[init] if init else None,
            outprefix=str(folder / "syn_"), aff_metric="mattes", aff_sampling=cfg.bins,
            aff_random_sampling_rate=cfg.sampling, aff_iterations=cfg.affine_iterations,
            aff_shrink_factors=cfg.affine_shrink, aff_smoothing_sigmas=cfg.affine_smoothing,
            syn_metric="mattes", syn_sampling=cfg.bins, reg_iterations=cfg.syn_iterations,
            grad_step=cfg.grad_step, flow_sigma=cfg.flow_sigma, total_sigma=cfg.total_sigma)
    return SynResult(list(out["fwdtransforms"]), folder, time.perf_counter() - t0)


def warp_to(moving: sitk.Image, reference: sitk.Image, result: SynResult, labels: bool) -> sitk.Image:
    """``moving`` (template space) pulled onto ``reference`` (a subject grid) through the SyN transforms."""
    ants = _ants()
    with _threads(2):
        warped = ants.apply_transforms(to_ants(sitk.Cast(reference, sitk.sitkFloat32)),
                                       to_ants(sitk.Cast(moving, sitk.sitkFloat32)), result.transforms,
                                       interpolator="nearestNeighbor" if labels else "linear")
    out = to_sitk(warped, reference)
    return sitk.Cast(out, sitk.sitkInt32) if labels else out
