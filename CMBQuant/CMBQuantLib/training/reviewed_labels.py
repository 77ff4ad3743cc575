"""Reviewed case folders -> labelled CMB-filter rows: the reader's decisions as training labels.

The rule (docs/detection.md, "Learning from the reader"):
- ``definite`` (and ``possible`` with ``include_possible``) -> positive;
- ``rejected`` by the reader -> negative of the kind its reason names (``unspecified`` when none was given);
- a CMB the reader *added* -> a positive the screen missed: reported, and a row only if the screen finds it now;
- ``pending``, ``possible`` without the option, and the filter's own untouched rejections (``decided_by``
  ``cmbquant``: a machine decision, not a label) -> left out.

Rows are measured exactly as the filter sees them at inference: the case image is screened again with the
filter's screen settings and prescreen (no nnU-Net seeds, as in the synthetic training rows), and each candidate
takes the first screened blob that overlaps it (the one inference makes its record from).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from CMBQuantLib.core.case_folder import CaseFolderError
from CMBQuantLib.core.geometry import Geometry
from CMBQuantLib.core.records import FLAG_ADDED, PIPELINE_DECIDER, CMBRecord
from CMBQuantLib.core.scene import headless_context
from CMBQuantLib.core.segments import export_label_array, read_records
from CMBQuantLib.detection.cmb_filter import CMBFilter
from CMBQuantLib.detection.features import feature_matrix
from CMBQuantLib.detection.two_stage import Screened, screen
from CMBQuantLib.review.decision_log import read_log
from CMBQuantLib.review.replay import replay
from CMBQuantLib.volumes.case_open import open_case

POSITIVE, NEGATIVE, IGNORED = 1, 0, -1


@dataclass
class CandidateLabel:
    """One reviewed candidate: its label (1, 0 or -1 left out), why, and the screened blob it was matched to."""

    cmb_id: int
    label: int
    kind: str  # definite, possible, added, rejected:<reason>, pending, possible_excluded, filter_unreviewed
    blob: int = -1  # index into the case's screened blobs (-1: the screen does not find it now)


@dataclass
class CaseLabels:
    """A case's labels and its screened blobs (all of them: the held-out scoring needs the unlabelled ones too)."""

    case_id: str
    folder: Path
    candidates: list[CandidateLabel]
    X: np.ndarray  # (n_blobs, len(FEATURE_NAMES)) every screened blob's features
    blob_truth: np.ndarray  # per blob: the cmb_id of the positive it overlaps, 0 none/negative, -1 undecided
    blobs: list = field(default_factory=list)  # detection.blobs.Blob, for duplicate suppression when scoring
    spacing_kji: np.ndarray = field(default_factory=lambda: np.ones(3))

    def rows(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """The labelled rows (features, 0/1 labels, kinds) of the candidates that have a blob."""
        used = [c for c in self.candidates if c.label != IGNORED and c.blob >= 0]
        X = self.X[[c.blob for c in used]] if used else np.zeros((0, self.X.shape[1]))
        return X, np.array([c.label for c in used], np.int32), [c.kind for c in used]

    @property
    def n_positive_truth(self) -> int:
        """Every CMB the reader confirmed or added, found by the screen or not (the sensitivity denominator)."""
        return sum(c.label == POSITIVE for c in self.candidates)

    def counts(self) -> dict[str, int]:
        """Label counts by kind, plus how many of each the screen does not find now (``<kind>_not_screened``)."""
        out = Counter(c.kind for c in self.candidates)
        for c in self.candidates:
            if c.label != IGNORED and c.blob < 0:
                out[f"{c.kind.split(':')[0]}_not_screened"] += 1
        return dict(sorted(out.items()))

    def added_missed(self) -> list[int]:
        """CMBs the reader added that the screen still does not find (reported, not trained on)."""
        return [c.cmb_id for c in self.candidates if c.kind == "added" and c.blob < 0]


def label_of(rec: CMBRecord, include_possible: bool) -> tuple[int, str]:
    """The training label of one reviewed record, and its kind (the rule in the module docstring)."""
    added = FLAG_ADDED in rec.flags or rec.source == "reader"
    if rec.status == "pending":
        return IGNORED, "pending"
    if rec.status == "definite":
        return POSITIVE, "added" if added else "definite"
    if rec.status == "possible":
        if not include_possible:
            return IGNORED, "possible_excluded"
        return POSITIVE, "added" if added else "possible"
    if rec.status == "rejected":
        if rec.decided_by == PIPELINE_DECIDER:
            return IGNORED, "filter_unreviewed"
        return NEGATIVE, f"rejected:{rec.reason or 'unspecified'}"
    raise CaseFolderError(f"CMB {rec.cmb_id}: unknown status {rec.status!r}. Re-open the case in review.")


def reviewed_state(folder: Path) -> tuple[str, np.ndarray, Geometry, list[CMBRecord], np.ndarray]:
    """Read-only: the case image, its records with ``review.jsonl`` replayed, and a label map of every record."""
    case = open_case(folder, headless_context(), require_image=True)
    try:
        entries, _ = read_log(folder)
        state = replay(read_records(case.seg_node), entries)
        ids = export_label_array(case.ctx, case.seg_node, case.volume_node)
        present = set(np.unique(ids).tolist())
        for cmb_id, vox in state.voxels.items():  # an add the segmentation file does not hold yet (crash)
            if cmb_id in state.records and cmb_id not in present and len(vox):
                ids[tuple(vox.T)] = cmb_id
        for cmb_id in present - set(state.records) - {0}:  # deleted in the log
            ids[ids == cmb_id] = 0
        records = sorted(state.records.values(), key=lambda r: r.cmb_id)
        return case.case_id, np.asarray(case.image, np.float32), case.geometry, records, ids
    finally:
        case.ctx.scene.Clear(0)


def screened_blobs(image: np.ndarray, geometry: Geometry, cmb_filter: CMBFilter) -> tuple[Screened, np.ndarray]:
    """The screen as inference runs it for this filter (settings, prescreen), and every blob's features."""
    scr = screen(image, geometry, None, cmb_filter.screen_settings, prescreen=cmb_filter.prescreen)
    return scr, feature_matrix(scr.blobs, scr.context)


def case_labels(folder: str | Path, cmb_filter: CMBFilter, include_possible: bool = False) -> CaseLabels:
    """Labels of one reviewed case folder, matched to the blobs the screen finds in its image now."""
    folder = Path(folder)
    case_id, image, geometry, records, ids = reviewed_state(folder)
    scr, X = screened_blobs(image, geometry, cmb_filter)
    overlap = [_overlap_id(ids, b.voxels) for b in scr.blobs]
    first_blob: dict[int, int] = {}
    for n, cid in enumerate(overlap):
        if cid and cid not in first_blob:
            first_blob[cid] = n
    candidates = []
    for rec in records:
        label, kind = label_of(rec, include_possible)
        candidates.append(CandidateLabel(rec.cmb_id, label, kind, first_blob.get(rec.cmb_id, -1)))
    by_id = {c.cmb_id: c for c in candidates}
    truth = np.array([_blob_truth(by_id.get(cid)) if cid else 0 for cid in overlap], np.int32)
    return CaseLabels(case_id, folder, candidates, X, truth, list(scr.blobs), np.asarray(geometry.spacing[::-1]))


def _blob_truth(cand: CandidateLabel | None) -> int:
    """A blob on a positive carries its id; on a pending or left-out possible it is undecided (-1); else 0."""
    if cand is None:
        return 0
    if cand.label == POSITIVE:
        return cand.cmb_id
    return -1 if cand.kind in ("pending", "possible_excluded") else 0


def _overlap_id(ids: np.ndarray, voxels: np.ndarray) -> int:
    vals = ids[tuple(np.asarray(voxels).T)]
    vals = vals[vals > 0]
    return int(np.bincount(vals).argmax()) if vals.size else 0


def summarise(cases: list[CaseLabels]) -> dict:
    """Label counts over cases (what ``version.json`` and the report record), and the added CMBs still missed."""
    total: Counter = Counter()
    for c in cases:
        total.update(c.counts())
    rows = [c.rows()[1] for c in cases]
    y = np.concatenate(rows) if rows else np.zeros(0)
    return {"cases": len(cases), "rows": int(len(y)), "positive_rows": int(y.sum()),
            "negative_rows": int(len(y) - y.sum()), "by_kind": dict(sorted(total.items())),
            "added_missed_by_screen": {c.case_id: c.added_missed() for c in cases if c.added_missed()}}
