"""Affine registration of the SWI to the ICBM152 2009a template (nilearn's copy), to count CMBs in an MNI atlas.

Fixed image: the ICBM 2009a symmetric T1 (whole head) shipped in the nilearn wheel; its brain mask is GM + WM
probability > 0.25 (nilearn's own maps). SWI and T1 contrasts differ (CSF bright vs dark, deep grey dark on SWI), so
the metric is Mattes mutual information. Both images are first reduced to a ~2 mm working grid (averaging), then:
rigid on the whole head (4 then 2 mm), affine restricted to the template brain mask (4 then 2 mm). CMB centres are
mapped to template space by transforming the points: the image is never resampled for counting.

A failed registration must not produce counts: ``check_registration`` raises ``RegistrationError`` when the scales
or shears are implausible, the template brain falls outside the SWI's field of view or its head, or MI is near zero.
"""
from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from CMBQuantLib.core.geometry import Geometry, sitk_from_array

T1_FILE = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
GM_FILE = "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz"
WM_FILE = "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz"
LPS = np.array([-1.0, -1.0, 1.0])


class RegistrationError(RuntimeError):
    """Registration to the template failed; the message says which check and how to proceed."""


@dataclass(frozen=True)
class RegistrationConfig:
    """Schedule and failure thresholds. Defaults keep a 512x512x160 SWI under ~20 s on 2 cores."""

    working_spacing_mm: float = 2.0
    shrink: tuple[int, ...] = (2, 1)  # per level, relative to the working grid
    smooth_mm: tuple[float, ...] = (2.0, 1.0)
    rigid_iterations: int = 100
    affine_iterations: int = 100
    bins: int = 32
    sampling: tuple[float, ...] = (0.1, 0.03)  # fraction of template voxels sampled per level
    seed: int = 7
    pitch_starts_deg: tuple[float, ...] = (0.0,)  # rigid starts (rotation about left-right); the best MI is kept
    max_scale_change: float = 0.35  # singular values of the linear part within [1/(1+x), 1+x]
    max_shear: float = 0.15  # largest normalised off-diagonal of the rotation-free stretch
    min_brain_in_head: float = 0.90  # fraction of the warped template brain (inside the FOV) on SWI head voxels
    min_brain_in_fov: float = 0.50  # fraction of the warped template brain inside the SWI field of view
    max_metric: float = -0.05  # Mattes MI is negative; values near 0 mean no shared information


@dataclass
class TemplateRegistration:
    """Result: ``transform`` maps template points to SWI points (LPS, SimpleITK convention)."""

    transform: object  # SimpleITK.AffineTransform
    metric: float
    brain_in_head: float
    brain_in_fov: float
    singular_values: np.ndarray
    seconds: float
    stop: str

    def to_template(self, ras: np.ndarray) -> np.ndarray:
        """(N, 3) SWI RAS points to template RAS (MNI) points."""
        inv = self.transform.GetInverse()
        pts = np.atleast_2d(np.asarray(ras, float)) * LPS
        return np.array([inv.TransformPoint(tuple(map(float, p))) for p in pts]).reshape(-1, 3) * LPS


def template_files() -> dict[str, Path]:
    """Paths of the ICBM152 2009a T1/GM/WM in the installed nilearn wheel (without importing nilearn)."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise RegistrationError("nilearn is not installed: `pip install nilearn` provides the ICBM152 template")
    data = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    files = {"t1": data / T1_FILE, "gm": data / GM_FILE, "wm": data / WM_FILE}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise RegistrationError(f"template files missing from nilearn: {missing}; reinstall nilearn")
    return files


def load_template(spacing_mm: float = 2.0):
    """(T1, brain mask) as SimpleITK images on a ~``spacing_mm`` grid."""

    f = template_files()
    t1 = sitk.ReadImage(str(f["t1"]), sitk.sitkFloat32)
    brain = sitk.ReadImage(str(f["gm"]), sitk.sitkFloat32) + sitk.ReadImage(str(f["wm"]), sitk.sitkFloat32)
    factor = _factors(t1, spacing_mm)
    t1 = sitk.BinShrink(t1, factor)
    mask = sitk.BinShrink(brain, factor) > 0.25
    return t1, sitk.Cast(mask, sitk.sitkUInt8)


def _factors(image, spacing_mm: float) -> list[int]:
    return [max(1, int(round(spacing_mm / s))) for s in image.GetSpacing()]


def working_image(swi: np.ndarray, geometry: Geometry, spacing_mm: float = 2.0):
    """The SWI as a float SimpleITK image averaged down to ~``spacing_mm`` (the transform is in world space)."""

    img = sitk.Cast(sitk_from_array(np.asarray(swi, np.float32), geometry), sitk.sitkFloat32)
    return sitk.BinShrink(img, _factors(img, spacing_mm))


def register_to_template(swi: np.ndarray, geometry: Geometry, config: RegistrationConfig | None = None,
                         check: bool = True) -> TemplateRegistration:
    """Rigid then affine registration of the SWI to ICBM152 2009a (Mattes MI, multi-resolution, brain mask)."""

    cfg = config or RegistrationConfig()
    t0 = time.perf_counter()
    fixed, mask = load_template(cfg.working_spacing_mm)
    moving = working_image(swi, geometry, cfg.working_spacing_mm)
    rigid = _best_rigid(fixed, moving, cfg)
    affine = sitk.AffineTransform(3)
    affine.SetCenter(rigid.GetCenter())
    affine.SetMatrix(rigid.GetMatrix())
    affine.SetTranslation(rigid.GetTranslation())
    reg = _method(cfg, cfg.affine_iterations, mask)
    reg.SetInitialTransform(affine, inPlace=True)
    reg.Execute(fixed, moving)
    result = _summarise(affine, reg, fixed, mask, moving, time.perf_counter() - t0)
    if check:
        check_registration(result, cfg)
    return result


def _best_rigid(fixed, moving, cfg: RegistrationConfig):
    """Rigid registration from each pitch start (head tilts of +-20 deg trap a single start: docs/regions.md)."""
    best, best_metric = None, np.inf
    for pitch in cfg.pitch_starts_deg:
        init = sitk.CenteredTransformInitializer(fixed, moving, sitk.Euler3DTransform(),
                                                 sitk.CenteredTransformInitializerFilter.MOMENTS)
        rigid = sitk.Euler3DTransform(init)
        rigid.SetRotation(float(np.deg2rad(pitch)), 0.0, 0.0)
        reg = _method(cfg, cfg.rigid_iterations, None)
        reg.SetInitialTransform(rigid, inPlace=True)
        reg.Execute(fixed, moving)
        if reg.GetMetricValue() < best_metric:
            best, best_metric = rigid, reg.GetMetricValue()
    return best


def _method(cfg: RegistrationConfig, iterations: int, mask):

    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=cfg.bins)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentagePerLevel(list(cfg.sampling), cfg.seed)
    if mask is not None:
        reg.SetMetricFixedMask(mask)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(learningRate=2.0, minStep=0.01, numberOfIterations=iterations,
                                                 relaxationFactor=0.5, gradientMagnitudeTolerance=1e-6)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel(list(cfg.shrink))
    reg.SetSmoothingSigmasPerLevel(list(cfg.smooth_mm))
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    return reg


def _summarise(transform, reg, fixed, mask, moving, seconds: float) -> TemplateRegistration:

    warped = sitk.Resample(mask, moving, transform.GetInverse(), sitk.sitkNearestNeighbor, 0)
    w = sitk.GetArrayViewFromImage(warped) > 0
    head = _head_mask(moving)
    n_brain = int(sitk.GetArrayViewFromImage(mask).sum())
    n_warped = w.sum()
    vox_ratio = np.prod(moving.GetSpacing()) / np.prod(fixed.GetSpacing())
    in_fov = float(n_warped * vox_ratio / max(n_brain, 1))
    in_head = float((w & head).sum() / n_warped) if n_warped else 0.0
    sv = np.linalg.svd(np.array(transform.GetMatrix()).reshape(3, 3), compute_uv=False)
    return TemplateRegistration(transform, float(reg.GetMetricValue()), in_head, min(in_fov, 1.0), sv, seconds,
                                reg.GetOptimizerStopConditionDescription())


def _head_mask(moving) -> np.ndarray:
    """Head voxels of the SWI: above 15 % of the 98th percentile, largest component, closed and holes filled."""

    arr = sitk.GetArrayViewFromImage(moving)
    fg = moving > float(0.15 * np.percentile(arr, 98))
    cc = sitk.RelabelComponent(sitk.ConnectedComponent(fg), sortByObjectSize=True) == 1
    filled = sitk.BinaryFillhole(sitk.BinaryMorphologicalClosing(cc, [2, 2, 2]))
    return sitk.GetArrayFromImage(filled) > 0


def check_registration(result: TemplateRegistration, config: RegistrationConfig | None = None) -> None:
    """Raise ``RegistrationError`` naming the failed check; counts from a bad registration would be wrong."""
    cfg = config or RegistrationConfig()
    hint = (" Check that the input is a brain SWI with the head in the field of view, or pass a label map "
            "registered to the SWI with --parcellation.")
    lo, hi = 1.0 / (1.0 + cfg.max_scale_change), 1.0 + cfg.max_scale_change
    m = np.array(result.transform.GetMatrix()).reshape(3, 3)
    if np.linalg.det(m) <= 0:
        raise RegistrationError("registration to the template flipped the image (negative determinant)." + hint)
    sv = result.singular_values
    if sv.min() < lo or sv.max() > hi:
        raise RegistrationError(f"registration to the template did not converge: scale factors {np.round(sv, 2)} "
                                f"outside [{lo:.2f}, {hi:.2f}]." + hint)
    _, s, vt = np.linalg.svd(m)
    stretch = vt.T @ np.diag(s) @ vt
    shear = np.abs(stretch / np.sqrt(np.outer(np.diag(stretch), np.diag(stretch))) - np.eye(3)).max()
    if shear > cfg.max_shear:
        raise RegistrationError(f"registration to the template did not converge: shear {shear:.2f}." + hint)
    if result.metric > cfg.max_metric:
        raise RegistrationError(f"registration to the template failed: mutual information {result.metric:.3f} "
                                f"(needs < {cfg.max_metric})." + hint)
    if result.brain_in_fov < cfg.min_brain_in_fov:
        raise RegistrationError(f"registration to the template failed: only {result.brain_in_fov:.0%} of the "
                                "template brain lands inside the SWI field of view." + hint)
    if result.brain_in_head < cfg.min_brain_in_head:
        raise RegistrationError(f"registration to the template failed: only {result.brain_in_head:.0%} of the "
                                "warped template brain lies on the SWI's head." + hint)
