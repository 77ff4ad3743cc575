"""The synthetic rows a reader-taught filter keeps learning from, so a few reviewed cases cannot make it forget.

They are the parent filter's own training recipe, regenerated: the phantoms named in ``filter.json``
(``recipe.jobs``) whose anatomy is procedural (``builtin:N``, no data files needed) are synthesised from their
recorded seeds, screened with the parent's prescreen, and labelled against their known CMBs, exactly as
``filter_data.candidate_rows`` made them for the shipped filter. They are cached in
``<home>/filter_data/<prescreen sha256>/rows/`` (plain ``.npz``, read without pickles), so only the first
``train-filter`` pays for them (about 30 s per phantom on 2 cores).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from CMBQuantLib.detection.cmb_filter import CMBFilter
from CMBQuantLib.training.filter_data import PhantomJob, cache_phantom, candidate_rows, save_rows

DEFAULT_JOBS = tuple(PhantomJob(f"builtin:{200 + n}", 200 + n, "train") for n in range(4))  # the shipped recipe's
_JOB_NAME = re.compile(r"^(train|val|test|unseen)_(builtin|synthseg)(\d+)_s(\d+)$")


class LearningCancelled(RuntimeError):
    """The user cancelled filter learning; nothing was written to the model store."""


def recipe_jobs(cmb_filter: CMBFilter, shared: Path | None = None) -> list[PhantomJob]:
    """The parent's training phantoms that can be regenerated here: procedural ones always, SynthSeg ones only
    when ``shared`` holds the label maps. A filter without a recipe gets the shipped recipe's procedural heads."""
    jobs = []
    for name in cmb_filter.spec.recipe.get("jobs", []):
        m = _JOB_NAME.match(str(name))
        if not m or m.group(1) != "train":
            continue
        kind, num, seed = m.group(2), m.group(3), int(m.group(4))
        if kind == "builtin":
            jobs.append(PhantomJob(f"builtin:{int(num)}", seed, "train"))
        elif shared is not None and (shared / "data" / "synthseg" / f"training_seg_{num}.nii.gz").is_file():
            jobs.append(PhantomJob(f"synthseg:{num}", seed, "train"))
    return jobs or list(DEFAULT_JOBS)


def anchor_dir(cmb_filter: CMBFilter, home: Path) -> Path:
    """Rows depend on the prescreen that picked the blobs: one cache per prescreen."""
    key = (cmb_filter.spec.prescreen_sha256 or "no-prescreen")[:16]
    return home / "filter_data" / key


def synthetic_rows(cmb_filter: CMBFilter, home: Path, shared: Path | None = None,
                   progress: Callable[[str, float, str], None] | None = None,
                   cancel: Callable[[], bool] | None = None) -> tuple[list[dict[str, np.ndarray]], list[str]]:
    """Cached candidate rows of the parent's regenerable training phantoms, and the job names used."""
    work = anchor_dir(cmb_filter, home)
    jobs = recipe_jobs(cmb_filter, shared)
    out = []
    for n, job in enumerate(jobs):
        if cancel is not None and cancel():
            raise LearningCancelled("cancelled while preparing the synthetic rows")
        path = work / "rows" / f"{job.name}.npz"
        if not path.is_file():
            if progress:
                progress("synthetic", n / len(jobs), f"synthetic phantom {job.name} ({n + 1}/{len(jobs)})")
            phantom = cache_phantom(job, shared or Path("."), work)
            save_rows(candidate_rows(phantom, cmb_filter.prescreen), path)
            phantom.unlink(missing_ok=True)  # only its rows are needed
        with np.load(path, allow_pickle=False) as z:
            out.append({k: z[k] for k in ("X", "row_truth")})
    if progress:
        progress("synthetic", 1.0, f"{len(jobs)} synthetic phantoms ready")
    return out, [j.name for j in jobs]
