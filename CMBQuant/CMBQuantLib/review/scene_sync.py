"""The review state made visible and saved: segments and tags in the MRML scene, then the case folder's files.

Step 2 of every decision (step 1 is the log line): the scene is brought to the replayed state, and only when
something changed are ``cmbs.seg.nrrd``, ``cmbs.csv`` and the counts rewritten, each atomically. The log is never
written here, so a crash in this step loses nothing: the next open replays the log and lands here again.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from CMBQuantLib.core.case_folder import REVIEW_LOG, SEG_FILE, CaseFolderError, read_cmbs_csv, write_cmbs_csv
from CMBQuantLib.core.counts import write_counts
from CMBQuantLib.core.records import CMBRecord
from CMBQuantLib.core.segments import (
    add_cmb_segment,
    remove_cmb_segment,
    save_segmentation,
    segment_id_of,
    update_record,
)
from CMBQuantLib.review.replay import ReplayState
from CMBQuantLib.volumes.case_open import OpenCase


class SceneSync:
    """Keeps one open case's segmentation node and files equal to a review state."""

    def __init__(self, case: OpenCase):
        self.case = case

    def sync(self, state: ReplayState, old: dict[int, dict[str, str]]) -> bool:
        """Make segments and tags match ``state`` (``old``: rows the scene holds now); True when the files must be
        rewritten (``save``): something changed, or ``cmbs.csv`` disagrees with the state."""
        seg_node = self.case.seg_node
        changed = False
        for cmb_id in sorted(set(old) - set(state.records)):
            remove_cmb_segment(seg_node, cmb_id)
            changed = True
        for cmb_id, rec in sorted(state.records.items()):
            if cmb_id not in old:
                add_cmb_segment(seg_node, self._mask(state, cmb_id), self.case.volume_node, rec)
                changed = True
            elif old[cmb_id] != rec.to_row():
                update_record(seg_node, rec)
                changed = True
        return changed or self._csv_stale(state)

    def _mask(self, state: ReplayState, cmb_id: int) -> np.ndarray:
        vox = state.voxels.get(cmb_id)
        if vox is None or not len(vox):
            raise CaseFolderError(f"{self.case.folder / REVIEW_LOG}: CMB {cmb_id} was added but its voxels are not "
                                  "in the log; restore cmbs.seg.nrrd from a backup.")
        mask = np.zeros(self.case.geometry.shape, bool)
        mask[vox[:, 0], vox[:, 1], vox[:, 2]] = True
        return mask

    def _csv_stale(self, state: ReplayState) -> bool:
        try:
            on_disk = {r.cmb_id: r.to_row() for r in read_cmbs_csv(self.case.folder)}
        except CaseFolderError:
            return True
        return on_disk != {i: r.to_row() for i, r in state.records.items()}

    def segment_voxels(self, cmb_id: int) -> np.ndarray:
        """[k, j, i] voxels of one CMB's segment (what a delete logs, so its undo can restore the segment)."""
        import slicer
        import vtk

        seg_id = segment_id_of(self.case.seg_node, cmb_id)
        if seg_id is None:
            return np.zeros((0, 3), int)
        ids = vtk.vtkStringArray()
        ids.InsertNextValue(seg_id)
        scene = self.case.ctx.scene
        label = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "__CMBQuantVoxels__")
        try:
            if not self.case.ctx.segmentations_logic.ExportSegmentsToLabelmapNode(self.case.seg_node, ids, label,
                                                                                  self.case.volume_node):
                raise RuntimeError(f"Slicer could not export segment {seg_id}")
            return np.argwhere(slicer.util.arrayFromVolume(label) > 0)
        finally:
            scene.RemoveNode(label)

    def set_regions(self, records: Iterable[CMBRecord], assigned: list[CMBRecord]) -> None:
        """Copy region, lobe, side and source from ``assigned`` (by cmb_id) onto ``records`` and their tags, then
        save. Regions are anatomy, not reader decisions: they live in the tags, and a replay of the log keeps them."""
        records = list(records)
        by_id = {r.cmb_id: r for r in assigned}
        for rec in records:
            src = by_id.get(rec.cmb_id)
            if src is not None:
                rec.region, rec.lobe, rec.side, rec.region_source = src.region, src.lobe, src.side, src.region_source
                update_record(self.case.seg_node, rec)
        self.save(records)

    def save(self, records: Iterable[CMBRecord]) -> None:
        """Rewrite ``cmbs.seg.nrrd``, ``cmbs.csv`` and the counts atomically from ``records``."""
        ordered = sorted(records, key=lambda r: r.cmb_id)
        folder = self.case.folder
        save_segmentation(self.case.seg_node, folder / SEG_FILE)
        write_cmbs_csv(folder, ordered)
        write_counts(folder, ordered, self.case.case_id)
