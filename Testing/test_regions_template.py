"""Path 2: SWI -> ICBM152 registration (points mapped, failure detected) and region accuracy in the MARS atlas."""
import numpy as np
import pytest
from conftest import SHARED

from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.phantoms.phantom import PhantomConfig, load_label_map, synthesize
from CMBQuantLib.regions.assign import assign_in_template, assign_regions
from CMBQuantLib.regions.atlas import MARS_FILENAME, aparcaseg_path, load_aparcaseg_atlas, load_mars_atlas
from CMBQuantLib.regions.template import (
    RegistrationConfig,
    RegistrationError,
    TemplateRegistration,
    check_registration,
    register_to_template,
)

SYNTHSEG = SHARED / "data" / "synthseg"
MARS = SHARED / "data" / "mars" / MARS_FILENAME
needs_shared = pytest.mark.skipif(not (SYNTHSEG / "training_seg_01.nii.gz").is_file() or not MARS.is_file(),
                                  reason=f"SynthSeg maps / MARS atlas not found under {SHARED / 'data'}")


def _truth(p):
    return "lobar" if p in ("lobar", "juxtacortical") else p


def _phantom(map_id: str, **cfg):
    labels, geom = load_label_map(SYNTHSEG / f"training_seg_{map_id}.nii.gz")
    return synthesize(labels, geom, seed=int(map_id), config=PhantomConfig(**cfg))


def _path2(ph, mars):
    reg = register_to_template(ph.image, ph.geometry)
    recs = [CMBRecord(cmb_id=c.cmb_id, r=c.r, a=c.a, s=c.s, status="definite") for c in ph.cmbs]
    out = assign_in_template(recs, reg, mars)
    return reg, [r.region == _truth(c.placement) for r, c in zip(out, ph.cmbs)], out


@needs_shared
def test_registration_and_path2_on_a_synthseg_phantom():
    ph = _phantom("01", n_cmbs=20, spacing=(1.2, 1.2, 2.0), n_sulcal_veins=10, n_medullary_veins=10)
    reg, ok, out = _path2(ph, load_mars_atlas(MARS))
    print(f"registration {reg.seconds:.1f} s, MI {reg.metric:.3f}, scales {np.round(reg.singular_values, 3)}, "
          f"path 2 accuracy {np.mean(ok):.3f} on {len(ok)}")
    assert 0.85 <= reg.singular_values.min() and reg.singular_values.max() <= 1.15
    assert reg.brain_in_head >= 0.95
    assert np.mean(ok) >= 0.85
    assert {r.region_source for r in out} == {"template:mars"}
    # Points, not images: the brain centre of the SWI maps near the MNI brain centre.
    anat = ph.anatomy
    kji = np.argwhere(np.isin(anat, [10, 49])).mean(axis=0)  # thalami
    mni = reg.to_template(ph.geometry.ijk_to_ras_points(kji[::-1]))[0]
    assert np.linalg.norm(mni - np.array([0.0, -18.0, 7.0])) < 8.0


def _fake(matrix, metric=-0.3, in_head=1.0, in_fov=1.0):
    import SimpleITK as sitk

    t = sitk.AffineTransform(3)
    t.SetMatrix(tuple(np.asarray(matrix, float).ravel()))
    return TemplateRegistration(t, metric, in_head, in_fov, np.linalg.svd(matrix, compute_uv=False), 0.0, "")


@pytest.mark.parametrize("result, msg", [
    (_fake(np.diag([1.8, 1.0, 1.0])), "scale factors"),
    (_fake(np.diag([-1.0, 1.0, 1.0])), "flipped"),
    (_fake([[1, 0.5, 0], [0, 1, 0], [0, 0, 1]]), "shear"),
    (_fake(np.eye(3), metric=-0.01), "mutual information"),
    (_fake(np.eye(3), in_fov=0.3), "field of view"),
    (_fake(np.eye(3), in_head=0.6), "head"),
])
def test_failed_registration_is_refused(result, msg):
    with pytest.raises(RegistrationError, match=msg):
        check_registration(result)
    check_registration(_fake(np.eye(3)))


def test_registration_of_a_non_brain_image_fails_loudly(tmp_path):
    rng = np.random.default_rng(0)
    img = np.zeros((40, 128, 128), np.float32)
    img[10:30, 20:40, 90:120] = 1.0  # a bright box off-centre: nothing brain-like to align
    img += rng.random(img.shape, dtype=np.float32) * 0.05
    geom = Geometry(np.diag([1.5, 1.5, 4.0, 1.0]), img.shape)
    with pytest.raises(RegistrationError):
        register_to_template(img, geom, RegistrationConfig(rigid_iterations=30, affine_iterations=30))
    with pytest.raises(RegistrationError):  # and no counts come out of assign_regions either
        assign_regions([CMBRecord(cmb_id=1)], swi_image=img, swi_geometry=geom, atlas_path=MARS,
                       registration=RegistrationConfig(rigid_iterations=30, affine_iterations=30))


@pytest.mark.slow
@needs_shared
def test_path2_accuracy_several_maps():
    """Both template maps on the same registrations. Measured on all 14 maps (docs/regions.md): MARS atlas 88.8 %,
    aparc+aseg map 93.6 %: only the latter meets the 90 % target, hence the 'auto' default."""
    maps = {"mars": load_mars_atlas(MARS)}
    if aparcaseg_path() is not None:
        maps["aparcaseg"] = load_aparcaseg_atlas()
    oks = {k: [] for k in maps}
    for m in ("03", "08", "12"):
        ph = _phantom(m, n_cmbs=30)
        reg = register_to_template(ph.image, ph.geometry)
        recs = [CMBRecord(cmb_id=c.cmb_id, r=c.r, a=c.a, s=c.s) for c in ph.cmbs]
        for k, rm in maps.items():
            out = assign_in_template(recs, reg, rm)
            oks[k] += [r.region == _truth(c.placement) for r, c in zip(out, ph.cmbs)]
    print({k: f"path 2 accuracy on {len(v)} CMBs: {np.mean(v):.3f}" for k, v in oks.items()})
    assert np.mean(oks["mars"]) >= 0.80
    if "aparcaseg" in oks:
        assert np.mean(oks["aparcaseg"]) >= 0.90
