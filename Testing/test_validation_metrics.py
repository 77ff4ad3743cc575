"""Per-case metrics of CMBQuantLib.detection.validation.metrics on hand-built volumes (expected values worked out by hand)."""
import math

import numpy as np
import pytest

from CMBQuantLib.detection.validation.matching import DetectionCounts, components
from CMBQuantLib.detection.validation.metrics import absolute_volume_difference, binarize, dice, evaluate_case

SHAPE = (20, 20, 20)


def vol():
    return np.zeros(SHAPE, dtype=np.uint8)


def cube(a, lo, size=2):
    a[lo:lo + size, lo:lo + size, lo:lo + size] = 1
    return a


def test_dice_of_hand_counted_masks():
    p, r = vol(), vol()
    p[0, 0, 0:4] = 1  # 4 voxels
    r[0, 0, 2:8] = 1  # 6 voxels, 2 shared
    assert dice(p, r) == pytest.approx(2 * 2 / (4 + 6))
    assert dice(r, r) == 1.0
    assert math.isnan(dice(vol(), vol()))
    assert dice(vol(), vol(), both_empty=1.0) == 1.0


def test_absolute_volume_difference_uses_voxel_volume():
    p, r = vol(), vol()
    p[0, 0, 0:4] = 1
    r[0, 0, 0:10] = 1
    assert absolute_volume_difference(p, r, spacing=(0.5, 0.5, 2.0)) == pytest.approx(6 * 0.5)


def test_one_cmb_missed():
    r = cube(vol(), 2)
    r[15, 15, 15] = 1
    p = cube(vol(), 2)
    c = evaluate_case(p, r, spacing=(1, 1, 1))
    assert (c.counts.tp, c.counts.fp, c.counts.fn) == (1, 0, 1)
    assert c.counts.sensitivity == 0.5
    assert c.counts.precision == 1.0
    assert c.counts.f1 == pytest.approx(2 / 3)
    assert c.counts.count_difference == -1 and c.counts.abs_count_difference == 1
    assert c.dice == pytest.approx(16 / 17)
    assert [m.status for m in c.matches] == ["TP", "FN"]


def test_one_false_positive():
    r = cube(vol(), 2)
    p = cube(vol(), 2)
    p[15, 15, 15] = 1
    c = evaluate_case(p, r, spacing=(1, 1, 1))
    assert (c.counts.tp, c.counts.fp, c.counts.fn) == (1, 1, 0)
    assert c.counts.sensitivity == 1.0
    assert c.counts.precision == 0.5
    assert c.counts.f1 == pytest.approx(2 / 3)
    assert c.counts.count_difference == 1
    assert c.dice == pytest.approx(16 / 17)


def test_cmbs_touching_at_a_corner_are_one_component():
    """26-connectivity: two 2x2x2 bleeds sharing only a corner are one CMB for the metric (a reader counts 2)."""
    r = cube(cube(vol(), 2), 4)
    labels, comps = components(r, spacing=(1, 1, 1))
    assert len(comps) == 1 and comps[0].n_voxels == 16
    assert comps[0].centroid_index == (3.5, 3.5, 3.5)
    c = evaluate_case(r.copy(), r, spacing=(1, 1, 1))
    assert (c.counts.tp, c.counts.fp, c.counts.fn, c.counts.n_ref) == (1, 0, 0, 1)


def test_prediction_merging_two_reference_cmbs_finds_only_one():
    """Reference: two separate cubes; prediction: one cube plus a corner-touching one -> one predicted component.

    Centroids: prediction (3.5,3.5,3.5); references (2.5,...) at 1.73 mm and (5.5,...) at 3.46 mm. One-to-one
    matching keeps the closer: TP 1, FN 1. Dice: |P|=16, |R|=16, overlap 8 + 1 -> 18/32.
    """
    r = cube(cube(vol(), 2), 5)
    p = cube(cube(vol(), 2), 4)
    c = evaluate_case(p, r, spacing=(1, 1, 1))
    assert (c.counts.tp, c.counts.fp, c.counts.fn) == (1, 0, 1)
    tp = c.matches[0]
    assert tp.status == "TP" and tp.ref.centroid_index == (2.5, 2.5, 2.5)
    assert tp.distance_mm == pytest.approx(math.sqrt(3))
    assert c.dice == pytest.approx(18 / 32)
    o = evaluate_case(p, r, spacing=(1, 1, 1), rule="overlap")
    assert (o.counts.tp, o.counts.fp, o.counts.fn) == (1, 0, 1)


def test_empty_reference_gives_nan_f1_and_the_count_difference():
    p = vol()
    p[1, 1, 1] = 1
    p[10, 10, 10] = 1
    c = evaluate_case(p, vol(), spacing=(1, 1, 1))
    assert (c.counts.tp, c.counts.fp, c.counts.fn) == (0, 2, 0)
    assert math.isnan(c.counts.f1) and math.isnan(c.counts.sensitivity)
    assert c.counts.precision == 0.0
    assert c.counts.abs_count_difference == 2
    assert c.dice == 0.0
    assert math.isnan(c.avd_percent)


def test_empty_prediction_gives_zero_f1_and_nan_precision():
    c = evaluate_case(vol(), cube(vol(), 2), spacing=(1, 1, 1))
    assert (c.counts.tp, c.counts.fp, c.counts.fn) == (0, 0, 1)
    assert c.counts.f1 == 0.0 and c.counts.sensitivity == 0.0
    assert math.isnan(c.counts.precision)
    assert c.counts.count_difference == -1
    assert c.dice == 0.0
    assert c.avd_percent == 100.0


def test_both_empty_gives_nan_dice_and_f1_and_zero_count_difference():
    c = evaluate_case(vol(), vol(), spacing=(1, 1, 1))
    assert (c.counts.tp, c.counts.fp, c.counts.fn) == (0, 0, 0)
    assert math.isnan(c.dice) and math.isnan(c.counts.f1)
    assert math.isnan(c.counts.sensitivity) and math.isnan(c.counts.precision)
    assert c.counts.abs_count_difference == 0
    assert c.matches == []


def _pair_at_distance(k_offset):
    r, p = vol(), vol()
    r[10, 10, 5] = 1
    p[10, 10, 5 + k_offset] = 1
    return p, r


def test_centroid_match_just_inside_distance_is_a_hit():
    p, r = _pair_at_distance(2)  # 2 voxels x 2.5 mm = 5.0 mm
    c = evaluate_case(p, r, spacing=(1, 1, 2.5), distance_mm=5.0)
    assert (c.counts.tp, c.counts.fp, c.counts.fn) == (1, 0, 0)
    assert c.matches[0].distance_mm == pytest.approx(5.0)


def test_centroid_match_just_outside_distance_is_a_miss_and_a_false_positive():
    p, r = _pair_at_distance(2)
    c = evaluate_case(p, r, spacing=(1, 1, 2.5), distance_mm=4.99)
    assert (c.counts.tp, c.counts.fp, c.counts.fn) == (0, 1, 1)
    # the same voxels on a finer grid are close enough: distances are in mm, not voxels
    c = evaluate_case(p, r, spacing=(1, 1, 2.4), distance_mm=4.99)
    assert c.counts.tp == 1


def test_matching_maximises_pairs_where_greedy_would_lose_one():
    """Refs at axis-0 = 2, 5; preds at 4, 7; D = 2 mm. Greedy takes (4,5) at 1 mm and then nothing; the rule
    (most pairs, then least distance) takes (4,2) and (7,5), both at 2 mm."""
    r, p = vol(), vol()
    r[2, 10, 10] = r[5, 10, 10] = 1
    p[4, 10, 10] = p[7, 10, 10] = 1
    c = evaluate_case(p, r, spacing=(1, 1, 1), distance_mm=2.0)
    assert (c.counts.tp, c.counts.fp, c.counts.fn) == (2, 0, 0)
    assert sorted(m.distance_mm for m in c.matches) == [2.0, 2.0]


def test_overlap_rule_ignores_distance_and_needs_a_shared_voxel():
    r, p = vol(), vol()
    r[10, 10, 2:12] = 1  # elongated: centroid at k = 6.5
    p[10, 10, 11] = 1  # touches the end: 4.5 mm from the centroid
    p[10, 12, 6] = 1  # 2 mm from the centroid but shares no voxel
    o = evaluate_case(p, r, spacing=(1, 1, 1), rule="overlap")
    assert (o.counts.tp, o.counts.fp, o.counts.fn) == (1, 1, 0)
    assert o.matches[0].pred.centroid_index == (10.0, 10.0, 11.0)
    c = evaluate_case(p, r, spacing=(1, 1, 1), rule="centroid", distance_mm=3.0)
    assert c.matches[0].pred.centroid_index == (10.0, 12.0, 6.0)


def test_probability_map_is_thresholded_strictly_above_half():
    r = vol()
    r[5, 5, 5] = 1
    p = np.zeros(SHAPE, dtype=np.float32)
    p[5, 5, 5] = 0.51
    p[15, 15, 15] = 0.5  # exactly 0.5 is background
    c = evaluate_case(p, r, spacing=(1, 1, 1))
    assert (c.counts.tp, c.counts.fp, c.counts.fn) == (1, 0, 0)
    assert evaluate_case(p, r, spacing=(1, 1, 1), threshold=0.6).counts.tp == 0


def test_float_maps_with_rounding_noise_are_probabilities_and_whole_numbers_are_labels():
    prob = np.array([[[0.0, 0.2, 0.7, 1.0000001]]])
    assert binarize(prob).tolist() == [[[False, False, True, True]]]
    labels_as_float = np.array([[[0.0, 2.0, 3.0]]])
    assert binarize(labels_as_float).tolist() == [[[False, True, True]]]
    assert binarize(np.array([[[0, 5]]], dtype=np.int16)).tolist() == [[[False, True]]]


def test_centroids_use_the_affine_in_mm():
    r = vol()
    r[1, 2, 3] = 1
    aff = np.array([[0, 0, -0.5, 10], [0, -0.5, 0, 20], [2, 0, 0, 30], [0, 0, 0, 1]], dtype=float)
    _, comps = components(r, affine=aff)
    assert comps[0].centroid_mm == pytest.approx((10 - 1.5, 20 - 1.0, 30 + 2.0))
    assert comps[0].volume_mm3 == pytest.approx(0.5)


def test_counts_per_region_from_a_label_array():
    regions = np.ones(SHAPE, dtype=np.int16)
    regions[:, :, 10:] = 2  # 1 = lobar (k < 10), 2 = deep
    r, p = vol(), vol()
    r[5, 5, 5] = p[5, 5, 5] = 1  # TP, lobar
    r[5, 5, 15] = 1  # FN, deep
    p[15, 15, 15] = 1  # FP, deep
    c = evaluate_case(p, r, spacing=(1, 1, 1), regions=regions, region_names={1: "lobar", 2: "deep"})
    assert c.regions == {"lobar": DetectionCounts(1, 0, 0), "deep": DetectionCounts(0, 1, 1)}
    row = c.row()
    assert (row["deep_tp"], row["deep_fp"], row["deep_fn"], row["lobar_tp"]) == (0, 1, 1, 1)


def test_counts_per_region_from_a_function_of_the_centroid():
    r = vol()
    r[5, 5, 5] = r[15, 5, 5] = 1
    c = evaluate_case(r.copy(), r, spacing=(1, 1, 1),
                        regions=lambda idx, mm: "infratentorial" if mm[0] > 10 else "lobar")
    assert c.regions == {"lobar": DetectionCounts(1, 0, 0), "infratentorial": DetectionCounts(1, 0, 0)}


def test_unknown_match_rule_is_rejected():
    with pytest.raises(ValueError, match="match rule"):
        evaluate_case(vol(), vol(), spacing=(1, 1, 1), rule="iou")
