"""Filter-learning labels come exactly from the review statuses of a real case folder (two-stage detector on a
small phantom, review through the real session and log): definite -> CMB, possible only by option, a reader's
rejection -> non-CMB of its reason, pending / undone / the filter's own rejections left out, an added CMB a CMB
where the screen finds it and reported where it does not; rows are the features the filter scores at inference."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("lightgbm")
pytestmark = pytest.mark.slow  # the real screen on a small phantom, twice (about 30 s of CPU)

from train_filter_helpers import demo_filter, small_case  # noqa: E402

from CMBQuantLib.core.case_folder import read_cmbs_csv  # noqa: E402
from CMBQuantLib.review.session import ReviewSession  # noqa: E402
from CMBQuantLib.training.reviewed_labels import IGNORED, NEGATIVE, POSITIVE, case_labels, summarise  # noqa: E402


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory):
    """One case: 1 definite, 2 possible, 3 vessel, 4 other, 5 decided then undone, 7 calcification, 8 deleted and
    re-added by a click on its blob (-> added, on a blob), one added in air (no blob), the first filter rejection
    restored as definite, the other pending and filter-rejected ones untouched."""
    root = tmp_path_factory.mktemp("labels")
    home = root / "home"
    folder, _ = small_case(root, home, seed=1)
    before = {r.cmb_id: r for r in read_cmbs_csv(folder)}
    pending = sorted(i for i, r in before.items() if r.status == "pending")
    filtered = sorted(i for i, r in before.items() if r.status == "rejected")
    assert len(pending) >= 8 and len(filtered) >= 2
    s = ReviewSession.open(folder, reviewer="tester", auto_advance=False)
    p = pending
    s.decide("definite", cmb_id=p[0])
    s.decide("possible", cmb_id=p[1])
    s.decide("rejected", reason="vessel", cmb_id=p[2])
    s.decide("rejected", reason="other", cmb_id=p[3])
    s.decide("definite", cmb_id=p[4])
    s.undo()
    s.decide("rejected", reason="calcification", cmb_id=p[6])
    regrow = before[p[7]]
    s.delete(p[7])
    added_on_blob = s.add_at([regrow.r, regrow.a, regrow.s], method="grow").cmb_id
    corner = s.case.geometry.ijk_to_ras_points(np.array([[2.0, 2.0, 2.0]]))[0]
    added_in_air = s.add_at(corner, method="sphere", diameter_mm=3.0).cmb_id
    s.decide("definite", cmb_id=filtered[0])
    ids = {"p": p, "filtered": filtered, "added_on_blob": added_on_blob, "added_in_air": added_in_air}
    return folder, home, ids, before, case_labels(folder, demo_filter(home))


def test_each_status_gives_exactly_its_label(reviewed):
    _, _, ids, _, case = reviewed
    p, filtered = ids["p"], ids["filtered"]
    labels = {c.cmb_id: (c.label, c.kind) for c in case.candidates}
    assert labels[p[0]] == (POSITIVE, "definite")
    assert labels[p[1]] == (IGNORED, "possible_excluded")
    assert labels[p[2]] == (NEGATIVE, "rejected:vessel")
    assert labels[p[3]] == (NEGATIVE, "rejected:other")
    assert labels[p[4]] == (IGNORED, "pending")  # decided, then undone
    assert labels[p[5]] == (IGNORED, "pending")
    assert labels[p[6]] == (NEGATIVE, "rejected:calcification")
    assert p[7] not in labels  # deleted
    assert labels[ids["added_on_blob"]] == (POSITIVE, "added")
    assert labels[ids["added_in_air"]] == (POSITIVE, "added")
    assert labels[filtered[0]] == (POSITIVE, "definite")  # the reader restored the filter's rejection
    assert all(labels[i] == (IGNORED, "filter_unreviewed") for i in filtered[1:])


def test_possible_is_a_cmb_only_with_the_option(reviewed):
    folder, home, ids, _, _ = reviewed
    cases = case_labels(folder, demo_filter(home), include_possible=True)
    assert {c.cmb_id: (c.label, c.kind) for c in cases.candidates}[ids["p"][1]] == (POSITIVE, "possible")


def test_rows_are_the_inference_features_and_added_cmbs_outside_the_screen_are_reported(reviewed):
    _, home, ids, before, case = reviewed
    filt = demo_filter(home)
    p = ids["p"]
    X, y, kinds = case.rows()
    on_blob = {c.cmb_id: c for c in case.candidates if c.blob >= 0 and c.label != IGNORED}
    assert sorted(on_blob) == sorted([p[0], p[2], p[3], p[6], ids["added_on_blob"], ids["filtered"][0]])
    assert y.tolist() == [on_blob[i].label for i in sorted(on_blob)]
    assert kinds.count("added") == 1 and int(y.sum()) == 3
    # the filter scores the matched rows as it did when the detector wrote the case
    for cid in (p[0], p[2], p[3]):
        assert filt.predict(case.X[[on_blob[cid].blob]])[0] == pytest.approx(before[cid].p_cmb, abs=1e-3)
    assert case.added_missed() == [ids["added_in_air"]]
    summary = summarise([case])
    assert summary["added_missed_by_screen"] == {case.case_id: [ids["added_in_air"]]}
    assert summary["rows"] == 6 and summary["positive_rows"] == 3 and summary["negative_rows"] == 3
    assert summary["by_kind"]["added_not_screened"] == 1 and summary["by_kind"]["filter_unreviewed"] >= 1
