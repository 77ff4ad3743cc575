"""Per-case quality control of the deformable template path: numbers for case.json and the pass/fail decision.

A registration that failed must never produce regions: below any threshold the CMBs stay ``unassigned`` and the
reason is recorded. The values (docs/regions.md gives their spread on good and failed registrations):

- ``brain_dice``: Dice of the warped template brain against the SWI's own brain mask (working grid);
- ``similarity``: normalised mutual information (Studholme, 1..2) of the warped T1-like template and the SWI inside
  the brain: near 1 means the two images share no structure;
- ``affine_dice``: the same Dice after the affine alone (a deformable warp can bend any blob into a brain shape);
- ``warp_p95_mm``: 95th percentile of the deformable displacement beyond the affine inside the brain;
- ``brain_in_fov``: fraction of the template brain that the affine puts inside the SWI's field of view;
- ``cut_cm2``: the largest brain-mask area lying on a face of the field of view (a brain cut by a cropped FOV);
- ``brain_volume_ml``: the SWI's brain mask; above any adult intracranial volume (~1.1-2.1 l) it has leaked into the
  scalp, face or neck, and that mask then also touches the field of view's edge, so this check comes first and
  tells the real cause rather than "cropped field of view".
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import SimpleITK as sitk


@dataclass(frozen=True)
class QCThresholds:
    """Refuse the registration below/above these (docs/regions.md: how they were set)."""

    min_brain_dice: float = 0.90
    min_similarity: float = 1.01
    min_brain_in_fov: float = 0.75
    max_cut_cm2: float = 60.0
    max_brain_ml: float = 2300.0
    min_affine_dice: float = 0.85
    max_warp_p95_mm: float = 9.0


@dataclass
class RegistrationQC:
    """What case.json records about the region step of the template path."""

    method: str  # syn / bspline
    brain_dice: float = float("nan")
    similarity: float = float("nan")
    brain_in_fov: float = float("nan")
    affine_dice: float = float("nan")
    warp_p95_mm: float = float("nan")
    cut_cm2: float = 0.0
    brain_volume_ml: float = 0.0
    affine_scales: list[float] = field(default_factory=list)
    mask_prior: dict = field(default_factory=dict)  # ml added to / removed from the SWI mask by the prior
    refine: dict = field(default_factory=dict)  # cortex re-drawn from the SWI (tissue_refine): contrast, ml moved
    seconds: dict = field(default_factory=dict)
    passed: bool = False
    reason: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)  # JSON has no NaN: a value not measured (the path stopped earlier) is null
        return {k: ((round(v, 4) if np.isfinite(v) else None) if isinstance(v, float) else v) for k, v in d.items()}


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two boolean masks (0 when both are empty)."""
    n = int(a.sum()) + int(b.sum())
    return float(2.0 * np.logical_and(a, b).sum() / n) if n else 0.0


def normalised_mi(a: np.ndarray, b: np.ndarray, bins: int = 32) -> float:
    """(H(A) + H(B)) / H(A, B) of two samples: 2 for a one-to-one relation, 1 for independent ones."""
    if a.size < 100:
        return 1.0
    joint, _, _ = np.histogram2d(a, b, bins=bins)
    p = joint / joint.sum()

    def entropy(q: np.ndarray) -> float:
        q = q[q > 0]
        return float(-(q * np.log(q)).sum())

    h = entropy(p)
    return (entropy(p.sum(axis=0)) + entropy(p.sum(axis=1))) / h if h > 0 else 1.0


def image_agreement(subject: sitk.Image, subject_mask: sitk.Image, warped_image: sitk.Image,
                    warped_brain: sitk.Image) -> tuple[float, float]:
    """(brain Dice, normalised MI inside the subject's brain) on the working grid."""
    s_mask = sitk.GetArrayViewFromImage(subject_mask) > 0
    w_mask = sitk.GetArrayViewFromImage(warped_brain) > 0.5
    inside = s_mask | w_mask
    nmi = normalised_mi(sitk.GetArrayViewFromImage(subject)[inside], sitk.GetArrayViewFromImage(warped_image)[inside])
    return dice(s_mask, w_mask), nmi


def decide(qc: RegistrationQC, limits: QCThresholds | None = None) -> RegistrationQC:
    """Set ``passed`` and ``reason`` (the first failed check, with its value and threshold). Values not measured
    yet (NaN) are not checked, so the path can stop at the first stage that fails."""
    lim = limits or QCThresholds()
    checks = [
        (qc.brain_volume_ml > lim.max_brain_ml, f"the SWI's brain mask is {qc.brain_volume_ml:.0f} ml, more than any "
         f"intracranial volume (limit {lim.max_brain_ml:.0f}): it has leaked into the scalp, face or neck (thick or "
         f"oblique slices); give the subject's own parcellation (--parcellation, or SynthSeg/FastSurfer output in BIDS "
         f"derivatives) for regions"),
        (qc.cut_cm2 > lim.max_cut_cm2, f"the brain is cut by the field of view ({qc.cut_cm2:.0f} cm2 of brain on its "
         f"edge, limit {lim.max_cut_cm2:.0f}): cropped field of view?"),
        (qc.brain_in_fov < lim.min_brain_in_fov, f"only {qc.brain_in_fov:.0%} of the template brain lies inside the "
         f"field of view (needs {lim.min_brain_in_fov:.0%}): cropped field of view?"),
        (qc.affine_dice < lim.min_affine_dice, f"brain Dice {qc.affine_dice:.2f} after the affine (needs "
         f"{lim.min_affine_dice:.2f}): the image's brain does not have a brain's shape"),
        (qc.brain_dice < lim.min_brain_dice, f"brain Dice {qc.brain_dice:.2f} of the warped template (needs "
         f"{lim.min_brain_dice:.2f})"),
        (qc.similarity < lim.min_similarity, f"normalised mutual information {qc.similarity:.3f} (needs "
         f"{lim.min_similarity:.3f}): the image does not look like the template brain"),
        (qc.warp_p95_mm > lim.max_warp_p95_mm, f"the deformation is implausible (95th percentile "
         f"{qc.warp_p95_mm:.1f} mm beyond the affine, limit {lim.max_warp_p95_mm:.0f} mm)"),
    ]
    failed = [msg for bad, msg in checks if bad]  # comparisons with NaN are False: unmeasured values pass
    qc.passed = not failed
    qc.reason = failed[0] if failed else ""
    return qc
