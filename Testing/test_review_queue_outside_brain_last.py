"""The first candidate a reader is shown lies in the head: in the confidence order a candidate the domain rules
flagged ``outside_brain`` comes last, even when no CMB filter ran and the segmenter was most confident about it."""
from __future__ import annotations

from CMBQuantLib.core.records import FLAG_OUTSIDE_BRAIN, CMBRecord
from CMBQuantLib.review.filtered import queue_order


def test_an_outside_brain_candidate_is_never_first_in_the_confidence_order():
    air = CMBRecord(cmb_id=1, confidence_mean=0.99, flags=[FLAG_OUTSIDE_BRAIN])
    brain = [CMBRecord(cmb_id=2, confidence_mean=0.6), CMBRecord(cmb_id=3, confidence_mean=0.8)]
    assert queue_order([air, *brain], "confidence") == [3, 2, 1]
    filtered = [CMBRecord(cmb_id=4, p_cmb=0.99, flags=[FLAG_OUTSIDE_BRAIN]), CMBRecord(cmb_id=5, p_cmb=0.4)]
    assert queue_order(filtered, "confidence") == [5, 4]
