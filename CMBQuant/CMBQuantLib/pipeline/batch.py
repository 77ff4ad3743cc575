"""Headless batch: a folder or BIDS dataset of SWI volumes -> one case folder each, awaiting review.

Shardable across machines (``--shard I/N`` over the sorted case ids); the cohort table is rebuilt from the case
folders by ``merge``: the folders stay the single source of truth, a shard never writes a shared file.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from CMBQuantLib.core.atomic import sha256_file
from CMBQuantLib.core.case_folder import (
    REVIEW_LOG,
    STATUS_COMPLETE,
    CaseFolderError,
    read_case_json,
)
from CMBQuantLib.detection.candidates import CandidateLimits
from CMBQuantLib.export.cohort import case_folders
from CMBQuantLib.export.cohort import write_cohort as write
from CMBQuantLib.pipeline.phase_input import bids_phase_for, is_bids_phase, strip_part_mag
from CMBQuantLib.pipeline.process_case import (
    BatchInput,
    RegionAssigner,
    Segmenter,
    _has_decisions,
    is_finished,
    process_case,
)
from CMBQuantLib.volumes.images import SUPPORTED, case_id_from_path

COHORT_FILE = "cohort.csv"


def _is_image(p: Path) -> bool:
    name = p.name.lower()
    return p.is_file() and any(name.endswith(ext) for ext in SUPPORTED) and not name.startswith(".")


def is_bids(root: Path) -> bool:
    return (root / "dataset_description.json").exists() or any(p.is_dir() for p in root.glob("sub-*"))


def bids_case_id(path: Path) -> str:
    """``sub-01_ses-2_swi.nii.gz`` -> ``sub-01_ses-2`` (acq-/run- entities kept, so two SWIs never collide)."""
    stem = case_id_from_path(path)
    return re.sub(r"_swi$", "", stem, flags=re.IGNORECASE)


PARCELLATION_PATTERNS = ("*_dseg.nii.gz", "*_dseg.nii", "*aparc+aseg*.nii.gz", "*aparc+aseg*.nii")


def find_parcellation(root: Path, swi: Path) -> Path | None:
    """The subject's SynthSeg / FastSurfer / FreeSurfer label map in BIDS derivatives, for this SWI:
    ``derivatives/*/sub-X/[ses-Y/]anat/*_dseg.nii[.gz]`` or ``*aparc+aseg*.nii[.gz]``, same subject and session.
    Preference: a map made on the SWI itself (name holds ``swi``), then one with cortical parcels (``aparc``),
    then any; ties by path. None when there is none (the case takes the template path)."""
    ents = dict(re.findall(r"(sub|ses)-([A-Za-z0-9]+)", swi.name))
    if "sub" not in ents:
        return None
    folders = [f"sub-{ents['sub']}/ses-{ents['ses']}/anat", f"sub-{ents['sub']}/anat"] if "ses" in ents else [
        f"sub-{ents['sub']}/anat"]
    for folder in folders:  # the session's own map first; a session-less derivative serves every session
        found = sorted({p for pat in PARCELLATION_PATTERNS for p in root.glob(f"derivatives/*/{folder}/{pat}")
                        if p.is_file() and _same_session(p.name, ents)})
        if found:
            return min(found, key=lambda p: ("swi" not in p.name.lower(), "aparc" not in p.name.lower(), str(p)))
    return None


def _same_session(name: str, ents: dict[str, str]) -> bool:
    own = dict(re.findall(r"(sub|ses)-([A-Za-z0-9]+)", name))
    return all(own.get(k, v) == v for k, v in ents.items())


def discover_inputs(root: str | Path) -> list[BatchInput]:
    """SWI inputs sorted by case id: a BIDS dataset (``sub-*/[ses-*/]anat/*_swi.nii.gz`` or names holding ``SWI``,
    each with its parcellation from ``derivatives/`` when there is one: ``find_parcellation``) or a plain folder of
    image files; duplicate case ids are an error (they would share one case folder)."""
    root = Path(root)
    if not root.is_dir():
        raise CaseFolderError(f"{root}: not a folder. Pass a folder of SWI NIfTI/NRRD files or a BIDS dataset.")
    if is_bids(root):
        found = [p for pat in ("sub-*/anat/*", "sub-*/ses-*/anat/*") for p in root.glob(pat)
                 if _is_image(p) and ("_swi." in p.name.lower() or "swi" in p.name.lower()) and not is_bids_phase(p)]
        inputs = [BatchInput(strip_part_mag(bids_case_id(p)), p, find_parcellation(root, p), bids_phase_for(p))
                  for p in found]  # a part-phase file rides with its part-mag magnitude: phase.nii.gz
    else:
        inputs = [BatchInput(case_id_from_path(p), p) for p in root.iterdir() if _is_image(p)]
    inputs.sort(key=lambda x: x.case_id)
    ids = [x.case_id for x in inputs]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise CaseFolderError(f"{root}: case ids {dup} occur more than once (same file name in two places). "
                              "Rename the files so each case id is unique.")
    return inputs


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` (I counts from 1) -> (I, N)."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ValueError(f"--shard must be I/N with 1 <= I <= N (e.g. 2/4), got {text!r}")
    return int(m.group(1)), int(m.group(2))


def shard(inputs: list[BatchInput], index: int, count: int) -> list[BatchInput]:
    """Cases of shard ``index`` of ``count`` (1-based): every count-th case of the sorted ids, so shards are
    disjoint, cover everything, and are the same on every machine."""
    ordered = sorted(inputs, key=lambda x: x.case_id)
    return [x for n, x in enumerate(ordered) if n % count == index - 1]


@dataclass
class BatchReport:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already finished for the same input
    failed: dict[str, str] = field(default_factory=dict)  # case_id -> message
    cohort: Path | None = None
    seconds: float = 0.0
    case_seconds: dict[str, float] = field(default_factory=dict)  # case_id -> time spent processing it


def plan_batch(root: str | Path, out_root: str | Path, shard_spec: tuple[int, int] = (1, 1),
               force: bool = False) -> tuple[list[BatchInput], BatchReport]:
    """The (shard's) inputs still to process, and a report already holding the finished (skipped) and the refused
    ones: a case with review decisions is never redone (its decisions would no longer match), even with ``force``.
    Every executor (this process, a Dask cluster) plans with this, so a rerun skips the same cases."""
    out_root = Path(out_root)
    report, todo = BatchReport(), []
    for inp in shard(discover_inputs(root), *shard_spec):
        folder = out_root / inp.case_id
        try:
            if is_finished(folder, sha256_file(inp.path)) and not force:
                report.skipped.append(inp.case_id)
                continue
            if _has_decisions(folder):
                raise CaseFolderError(f"{folder / REVIEW_LOG}: the case has review decisions but its input changed "
                                      "or the run was forced. Move the case folder away to redo it.")
            todo.append(inp)
        except Exception as exc:  # noqa: BLE001 - a batch reports every failure and goes on
            report.failed[inp.case_id] = str(exc)
    return todo, report


def run_batch(root: str | Path, out_root: str | Path, segmenter: Segmenter, shard_spec: tuple[int, int] = (1, 1),
              regions: RegionAssigner | None = None, limits: CandidateLimits | None = None, force: bool = False,
              progress: Callable[[int, int, str], None] | None = None, write_cohort: bool | None = None,
              copy_image: bool = True) -> BatchReport:
    """Process every (shard's) input not already finished; one case failing never stops the others.

    The cohort table is written only by an unsharded run (``write_cohort`` None); shards leave it to ``merge``.
    Which cases run is decided by ``plan_batch``; ``dask_batch`` runs the same plan on a cluster.
    """
    t0 = time.monotonic()
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    todo, report = plan_batch(root, out_root, shard_spec, force)
    for n, inp in enumerate(todo):
        if progress:
            progress(n, len(todo), inp.case_id)
        started = time.monotonic()
        try:
            process_case(inp, out_root, segmenter, regions, limits, copy_image)
            report.done.append(inp.case_id)
        except Exception as exc:  # noqa: BLE001 - a batch reports every failure and goes on
            report.failed[inp.case_id] = str(exc)
        report.case_seconds[inp.case_id] = time.monotonic() - started
    if progress:
        progress(len(todo), len(todo), "")
    return finish_batch(report, out_root, shard_spec, write_cohort, t0)


def finish_batch(report: BatchReport, out_root: Path, shard_spec: tuple[int, int], write_cohort: bool | None,
                 started: float) -> BatchReport:
    """The cohort table (unsharded runs only, unless ``write_cohort`` says otherwise) and the run's duration."""
    if write_cohort if write_cohort is not None else shard_spec[1] == 1:
        report.cohort = merge(out_root)
    report.seconds = time.monotonic() - started
    return report


def merge(out_root: str | Path, cohort_path: str | Path | None = None) -> Path:
    """One ``cohort.csv`` from every complete case folder under ``out_root`` (after all shards finished)."""

    out_root = Path(out_root)
    folders = [f for f in case_folders(out_root) if _complete(f)]
    return write(folders, cohort_path or out_root / COHORT_FILE)


def _complete(folder: Path) -> bool:
    try:
        return read_case_json(folder).status == STATUS_COMPLETE
    except CaseFolderError:
        return False


def incomplete_cases(out_root: str | Path) -> list[str]:
    """Case folders a batch started but did not finish (crash, or still running in another shard)."""

    return [f.name for f in case_folders(out_root) if not _complete(f)]

