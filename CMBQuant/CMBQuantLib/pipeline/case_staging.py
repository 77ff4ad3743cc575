"""A case folder appears whole or not at all: a case is written into a hidden sibling folder and renamed into place.

A worker killed mid-case (Dask, SLURM pre-emption, a power cut) leaves only a hidden ``.<case>.partial-*`` folder,
never a half case folder; the next attempt at that case clears it. Files of an earlier folder that the new run does
not write (``review.jsonl``, a reader's notes, an older ``prob.nii.gz``) are carried over by hard link, so rewriting a
case into an existing folder keeps what it kept when it wrote in place, and the old folder stays whole until the swap.
"""
from __future__ import annotations

import glob
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PARTIAL = "partial"  # being written
REPLACED = "replaced"  # the previous folder, between the two renames of a swap


def _sibling(final: Path, kind: str) -> Path:
    return final.parent / f".{final.name}.{kind}-{uuid.uuid4().hex[:12]}"


def _siblings(final: Path, kind: str) -> list[Path]:
    return sorted(final.parent.glob(f".{glob.escape(final.name)}.{kind}-*"))


def recover_case_folder(final: Path) -> None:
    """Undo what a killed writer left: a swap cut between its renames is finished backwards (the previous folder
    returns), a leftover previous folder of a finished swap and stale partial folders are removed."""
    for old in _siblings(final, REPLACED):
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(old, final)
    for stale in _siblings(final, PARTIAL):
        shutil.rmtree(stale, ignore_errors=True)


def _carry_over(old: Path, new: Path) -> None:
    """Entries of ``old`` that ``new`` lacks, linked (files) or copied (folders) into ``new``; ``old`` stays whole."""
    for entry in old.iterdir():
        target = new / entry.name
        if target.exists():
            continue
        if entry.is_dir():
            shutil.copytree(entry, target)
            continue
        try:
            os.link(entry, target)
        except OSError:  # a file system without hard links
            shutil.copy2(entry, target)


def commit_case_folder(staging: Path, final: Path) -> Path:
    """Rename the finished ``staging`` folder to ``final``, replacing (and carrying over from) a previous one."""
    if not final.exists():
        os.rename(staging, final)
        return final
    _carry_over(final, staging)
    previous = _sibling(final, REPLACED)
    os.rename(final, previous)
    os.rename(staging, final)
    shutil.rmtree(previous, ignore_errors=True)
    return final


@contextmanager
def staged_case_folder(final: str | Path) -> Iterator[Path]:
    """Yield an empty hidden folder beside ``final`` to write the case into; on success it becomes ``final``, on an
    error it is removed and ``final`` is left as it was."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    recover_case_folder(final)
    staging = _sibling(final, PARTIAL)
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    commit_case_folder(staging, final)
