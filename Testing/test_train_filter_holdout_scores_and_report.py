"""The before/after numbers of filter learning on a tiny hand-made held-out set (known blobs, truths and
p_cmb): lesion-level hits, false positives per scan, missed CMBs, reliability bins, Brier and ECE; the weighting
rule; the hold-out split; and the HTML report showing those numbers with its reliability plot embedded."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from CMBQuantLib.detection.nnunet.model_versions import ModelVersion
from CMBQuantLib.training.filter_relearn import MAX_READER_WEIGHT, reader_weight, reader_weights, split_cases
from CMBQuantLib.training.learning_report import write_report
from CMBQuantLib.training.learning_scores import holdout_scores, reliability
from CMBQuantLib.training.reviewed_labels import IGNORED, NEGATIVE, POSITIVE, CandidateLabel, CaseLabels


def _blob(centre_kji: tuple[int, int, int]) -> SimpleNamespace:
    """What duplicate suppression reads of a blob: its voxels."""
    return SimpleNamespace(voxels=np.array([centre_kji]))


def _case(case_id: str, p: list[float], truth: list[int], candidates: list[CandidateLabel]) -> tuple[CaseLabels, list]:
    """Blobs 10 voxels apart (never duplicates); feature 0 of each row is its p, so ``predict`` = column 0."""
    X = np.zeros((len(p), 25))
    X[:, 0] = p
    blobs = [_blob((0, 0, 10 * n)) for n in range(len(p))]
    return CaseLabels(case_id, Path(case_id), candidates, X, np.array(truth, np.int32), blobs, np.ones(3)), p


def held_out_set() -> list[CaseLabels]:
    # case A: CMB 1 on blob 0 (p .95), CMB 2 on blob 1 (p .4), a vessel rejection on blob 2 (p .92), noise blob 3
    # (p .97), a pending candidate on blob 4 (p .99, not counted); CMB 3 added, not screened.
    a, _ = _case("A", [0.95, 0.4, 0.92, 0.97, 0.99], [1, 2, 0, 0, -1], [
        CandidateLabel(1, POSITIVE, "definite", 0), CandidateLabel(2, POSITIVE, "definite", 1),
        CandidateLabel(5, NEGATIVE, "rejected:vessel", 2), CandidateLabel(6, IGNORED, "pending", 4),
        CandidateLabel(3, POSITIVE, "added", -1)])
    # case B: CMB 7 on blob 0 (p .91), a calcification rejection on blob 1 (p .3)
    b, _ = _case("B", [0.91, 0.3], [7, 0], [
        CandidateLabel(7, POSITIVE, "definite", 0), CandidateLabel(8, NEGATIVE, "rejected:calcification", 1)])
    return [a, b]


def predict(X: np.ndarray) -> np.ndarray:
    return X[:, 0]


def test_lesion_counts_on_the_held_out_set():
    s = holdout_scores(held_out_set(), predict, 0.9)
    # kept: A blobs 0 (hit 1), 2 (vessel: FP), 3 (noise: FP), 4 (pending: not counted); B blob 0 (hit 7)
    assert (s["tp"], s["fp"], s["fn"], s["scans"]) == (2, 2, 2, 2)  # missed: CMB 2 (p .4), CMB 3 (not screened)
    assert s["sensitivity"] == 0.5 and s["fp_per_scan"] == 1.0
    assert s["kept_rejections_by_kind"] == {"rejected:vessel": 1}
    s5 = holdout_scores(held_out_set(), predict, 0.35)
    assert (s5["tp"], s5["fp"], s5["fn"]) == (3, 2, 1)


def test_calibration_of_the_labelled_rows():
    cal = holdout_scores(held_out_set(), predict, 0.9)["calibration"]
    # labelled rows with a blob: A (.95,1) (.4,1) (.92,0); B (.91,1) (.3,0)
    p = np.array([0.95, 0.4, 0.92, 0.91, 0.3])
    y = np.array([1, 1, 0, 1, 0])
    assert cal["n"] == 5 and cal["brier"] == pytest.approx(float(np.mean((p - y) ** 2)), abs=1e-4)
    bins = [(b["lo"], b["n"], b["fraction_cmb"]) for b in cal["bins"]]
    assert bins == [(0.3, 1, 0.0), (0.4, 1, 1.0), (0.9, 3, 0.667)]
    # ECE: |.3-0|*1/5 + |.4-1|*1/5 + |mean(.95,.92,.91) - 2/3|*3/5
    assert cal["ece"] == pytest.approx(0.3 / 5 + 0.6 / 5 + abs(np.mean([0.95, 0.92, 0.91]) - 2 / 3) * 3 / 5, abs=1e-4)
    assert reliability(np.zeros(0), np.zeros(0))["bins"] == []


def test_duplicates_on_one_cmb_count_once_as_inference_does():
    case, _ = _case("D", [0.95, 0.93], [1, 1], [CandidateLabel(1, POSITIVE, "definite", 0)])
    case.blobs = [_blob((0, 0, 0)), _blob((0, 0, 1))]  # 1 voxel apart: suppressed as one CMB seen twice
    s = holdout_scores([case], predict, 0.9)
    assert (s["tp"], s["fp"], s["fn"]) == (1, 0, 0)


def test_reader_rows_weigh_as_much_as_the_synthetic_rows_of_their_class_capped():
    assert reader_weight(6000, 300) == 10.0 == MAX_READER_WEIGHT
    assert reader_weight(6000, 1200) == 5.0
    assert reader_weight(100, 400) == 1.0  # never below one synthetic row
    assert reader_weight(6000, 0) == 0.0
    synthetic = np.array([1] * 60 + [0] * 5940)
    reader = np.array([1] * 40 + [0] * 30)
    assert reader_weights(synthetic, reader) == (1.5, 10.0)  # 60/40 per CMB; 5940/30 capped at 10 per non-CMB
    assert reader_weights(np.zeros(0), reader) == (1.0, 1.0)


def test_holdout_split_is_seeded_named_or_a_fraction():
    ids = [f"c{n}" for n in range(10)]
    train, held = split_cases(ids, 0.3, None, seed=1)
    assert len(held) == 3 and sorted(train + held) == sorted(ids) and split_cases(ids, 0.3, None, 1) == (train, held)
    assert split_cases(ids, 0.0) == (ids, [])
    assert split_cases(["a", "b"], 0.1) == (["a"], ["b"]) or split_cases(["a", "b"], 0.1) == (["b"], ["a"])
    assert split_cases(ids, 0.3, ["c4", "c7"]) == ([c for c in ids if c not in ("c4", "c7")], ["c4", "c7"])
    with pytest.raises(ValueError, match="c99"):
        split_cases(ids, 0.3, ["c99"])


def test_report_shows_the_numbers_and_embeds_the_reliability_plot(tmp_path):
    pytest.importorskip("matplotlib")
    cases = held_out_set()
    before = holdout_scores(cases, predict, 0.9)
    after = holdout_scores(cases, lambda X: np.where(X[:, 0] == 0.92, 0.1, X[:, 0]), 0.9)
    assert after["fp"] == 1 and after["kept_rejections_by_kind"] == {}
    version = ModelVersion("Child", "CMBQuantDemo", "2026-12-02T00:00:00+00:00", "filter", ["t1"], notes={"k": 1})
    result = SimpleNamespace(before=before, after=after, version=version, train_cases=["t1"], holdout_cases=["A", "B"],
                             labels={"train": {"rows": 3}, "holdout": {"rows": 5}}, seconds=1.0,
                             seconds_by_step={"fit": 0.5})
    html_path = write_report(result, tmp_path, "CMBQuantDemo")
    text = html_path.read_text()
    assert "<td>FP per scan</td><td>1.0</td><td>0.5</td>" in text
    assert "<td>sensitivity</td><td>0.5</td><td>0.5</td>" in text
    assert "kept although the reader said rejected:vessel</td><td>1</td><td>0</td>" in text
    assert "<td>parent</td><td>0.9-1.0</td><td>3</td><td>0.927</td><td>0.667</td>" in text  # the bins as numbers
    png = base64.b64decode(re.search(r'src="data:image/png;base64,([^"]+)"', text).group(1))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png == (tmp_path / "reliability.png").read_bytes()
    saved = json.loads((tmp_path / "learning.json").read_text())
    assert saved["before"]["fp"] == 2 and saved["after"]["fp"] == 1 and saved["holdout_cases"] == ["A", "B"]


def test_report_without_held_out_cases_says_so(tmp_path):
    version = ModelVersion("Child", "CMBQuantDemo", "2026-12-02T00:00:00+00:00", "filter", ["t1", "t2"])
    result = SimpleNamespace(before={}, after={}, version=version, train_cases=["t1", "t2"], holdout_cases=[],
                             labels={"train": {"rows": 7}, "holdout": {}}, seconds=2.0, seconds_by_step={})
    text = write_report(result, tmp_path, "CMBQuantDemo").read_text()
    assert "No held-out cases: nothing to compare" in text and not (tmp_path / "reliability.png").exists()
    assert "<td>rows</td><td>7</td>" in text
