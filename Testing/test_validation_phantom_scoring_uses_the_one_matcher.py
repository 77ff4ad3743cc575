"""The demo recipe's held-out scoring (training.evaluate.score_scan) pairs lesions with the one matcher's overlap
rule: one-to-one, so a component spanning two true CMBs finds one, and two components on one CMB give one FP."""
import numpy as np
import pytest

from CMBQuantLib.training.evaluate import score_scan, summarise

DIAMETERS = {1: 1.0, 2: 2.0, 3: 3.0, 7: 7.0, 9: 9.0}


def scan():
    """Truth ids 1, 2, 3, 7, 9 (not contiguous) and a probability map of five predicted components A-E."""
    truth = np.zeros((20, 20, 20), np.int32)
    prob = np.zeros((20, 20, 20), np.float32)
    truth[2:4, 2:4, 2:4] = 1  # 8 voxels, found exactly by A
    prob[2:4, 2:4, 2:4] = 0.9
    truth[8:10, 2:4, 2:4] = 2  # 8 voxels  } B spans both: IoU 8/16 with 2, 4/16 with 3 -> pairs with 2
    truth[8:10, 5:6, 2:4] = 3  # 4 voxels  }
    prob[8:10, 2:6, 2:4] = 0.9  # B, 16 voxels
    truth[14:16, 14:16, 14:16] = 7  # 8 voxels, missed
    prob[14:16, 2:4, 2:4] = 0.55  # C, 8 voxels on no CMB, mean probability below 0.6
    truth[2:4, 10:16, 10:12] = 9  # 24 voxels, hit by D and E
    prob[2:4, 10:12, 10:12] = 0.9  # D
    prob[2:4, 14:16, 10:12] = 0.9  # E
    return prob, truth


def test_score_scan_counts_one_to_one_matches_on_a_hand_built_scan():
    prob, truth = scan()
    s = score_scan("c", prob, truth, 0.5, 1.0, DIAMETERS)
    assert (s.n_true, s.n_pred, s.tp_true, s.tp_pred) == (5, 5, 3, 3)
    assert (s.inter, s.sum_true, s.sum_pred) == (8 + 12 + 8 + 8, 52, 48)
    assert s.missed_diameters == [3.0, 7.0]  # the id's own diameter, though ids 7 and 9 are relabelled 4 and 5
    m = summarise([s])
    assert m["sensitivity"] == pytest.approx(0.6) and m["precision"] == pytest.approx(0.6)
    assert m["fp_per_scan"] == 2.0  # C, and the second component on CMB 9


def test_score_scan_min_confidence_and_keep_drop_components_before_matching():
    prob, truth = scan()
    s = score_scan("c", prob, truth, 0.5, 1.0, DIAMETERS, min_confidence=0.6)
    assert (s.n_pred, s.tp_pred, s.sum_pred) == (4, 3, 40)  # C (mean 0.55) dropped
    keep = np.ones(truth.shape, bool)
    keep[8:10] = False  # without B, CMBs 2 and 3 are missed
    s = score_scan("c", prob, truth, 0.5, 1.0, DIAMETERS, keep=keep)
    assert (s.n_pred, s.tp_true) == (4, 2)
    assert s.missed_diameters == [2.0, 3.0, 7.0]
