"""The warped template's cortex re-drawn from the subject's intensities (regions/tissue_refine.py)."""
import numpy as np

from CMBQuantLib.regions.tissue_refine import RefineConfig, refine_cortex


def _slab(shift: int = 3, contrast: float = 0.12, bias: bool = False):
    """A left-hemisphere block: cortex (parcel 1028) above white matter. The labels put the grey/white boundary at
    k = 20, the image puts it ``shift`` voxels deeper (the subject's cortex is thicker than the template's)."""
    shape = (40, 60, 60)
    labels = np.full(shape, 2, np.int32)
    labels[20:] = 1028
    labels[36:] = 0
    image = np.full(shape, 0.62, np.float32)
    image[20 - shift:36] += contrast  # grey matter is brighter than white matter on SWI
    image[36:] = 0.95
    if bias:  # a smooth +-30 % bias field along j
        image *= (1.0 + 0.3 * np.sin(np.linspace(0, np.pi, shape[1])))[None, :, None].astype(np.float32)
    noise = np.random.default_rng(0).normal(0, 0.02, shape).astype(np.float32)
    return labels, image + noise


def test_refinement_moves_the_cortex_to_the_subjects_grey_white_boundary():
    labels, image = _slab(shift=3)
    out = refine_cortex(labels, image, (1.0, 1.0, 1.0)).labels
    column = out[:, 30, 30]
    assert (column[17:36] == 1028).all()  # the 3 mm the template called white matter are cortex now, with its parcel
    assert (column[5:16] == 2).all()  # deeper white matter stays white matter
    assert (column[36:] == 0).all()  # CSF untouched
    assert (labels[:, 30, 30][17:20] == 2).all()  # input not modified


def test_refinement_follows_a_bias_field_and_returns_cortex_to_white_matter():
    labels, image = _slab(shift=-2, bias=True)  # the subject's cortex is thinner: 2 mm of 'cortex' are white matter
    res = refine_cortex(labels, image, (1.0, 1.0, 1.0))
    for j in (10, 30, 50):  # bias low, high, low
        column = res.labels[:, j, 30]
        assert (column[5:21] == 2).all() and (column[23:36] == 1028).all(), j  # the boundary voxel may go either way
    assert res.notes["refined"] and res.notes["to_wm_ml"] > 5


def test_dark_spots_keep_their_warped_label_and_no_contrast_means_no_refinement():
    labels, image = _slab(shift=0)
    image[26:31, 28:33, 28:33] = 0.2  # a CMB in the cortex: darker than white matter
    out = refine_cortex(labels, image, (1.0, 1.0, 1.0)).labels
    assert (out[26:31, 28:33, 28:33] == 1028).all()
    flat_labels, flat = _slab(shift=3, contrast=0.0)
    res = refine_cortex(flat_labels, flat, (1.0, 1.0, 1.0))
    assert not res.notes["refined"] and "no grey/white contrast" in res.notes["why"]
    assert np.array_equal(res.labels, flat_labels)
    assert refine_cortex(labels, image, (1, 1, 1), RefineConfig(enabled=False)).labels is labels


def test_a_bias_field_is_not_counted_as_noise_when_the_contrast_is_low():
    """Grey/white contrast 0.05 under a +-30 % bias: the white matter varies by ~0.19 across the slab, but only by
    the noise about its local level, so the refinement goes ahead (unseen phantom 10 was vetoed this way)."""
    labels, image = _slab(shift=3, contrast=0.05, bias=True)
    res = refine_cortex(labels, image, (1.0, 1.0, 1.0))
    global_spread = np.subtract(*np.percentile(image[5:15], [75, 25])) / 1.349  # about one level: a veto
    assert res.notes["refined"] and res.notes["wm_spread"] < res.notes["gm_minus_wm"] < global_spread, (
        res.notes, global_spread)
    for j in (10, 30, 50):
        assert (res.labels[18:36, j, 30] == 1028).all(), j  # the 3 mm of subject cortex found under the bias
