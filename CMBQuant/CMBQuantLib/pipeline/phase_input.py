"""Which phase image goes with which SWI: ``--phase`` (a file for one input, a folder of ``<case_id>*`` for many)
and, in a BIDS dataset, the ``part-phase`` file beside a ``part-mag`` magnitude.

Resolved and checked up front, so a missing or ambiguous phase fails before the model runs on any case.
"""
from __future__ import annotations

import re
from pathlib import Path

from CMBQuantLib.volumes.images import SUPPORTED, VolumeInputError

def is_bids_phase(path: Path) -> bool:
    """A BIDS phase component (``..._part-phase_...``): an input of its magnitude, never a case of its own."""
    return bool(re.search(r"_part-phase_", path.name, re.IGNORECASE))


def bids_phase_for(swi: Path) -> Path | None:
    """``sub-X[_ses-Y]_..._part-mag_..._swi.nii.gz`` -> the ``part-phase`` file with the same other entities in the
    same folder (any supported extension), or None (no part-mag entity, or no phase saved)."""
    if not re.search(r"_part-mag_", swi.name, re.IGNORECASE):
        return None
    stem = re.sub(r"_part-mag_", "_part-phase_", swi.name, flags=re.IGNORECASE)
    base = next((stem[: -len(ext)] for ext in sorted(SUPPORTED, key=len, reverse=True)
                 if stem.lower().endswith(ext)), stem)
    found = sorted(p for p in swi.parent.iterdir()
                   if p.is_file() and p.name.lower().startswith(base.lower() + ".") and p.name != swi.name)
    return found[0] if found else None


def strip_part_mag(case_id: str) -> str:
    """``sub-01_part-mag`` -> ``sub-01``: the magnitude and its phase are one case."""
    return re.sub(r"_part-mag(?=_|$)", "", case_id, flags=re.IGNORECASE)


def check_phase_option(phase: str | None, inputs: list[Path]) -> None:
    """A ``--phase`` that cannot serve these inputs fails at once, naming the file and the fix."""
    if not phase:
        return
    p = Path(phase)
    if not p.exists():
        raise VolumeInputError(f"{p}: phase image not found (--phase). Check the path, or run without --phase.")
    if p.is_file() and len(inputs) > 1:
        raise VolumeInputError(f"{p}: one phase file (--phase) for {len(inputs)} inputs. Run one input per phase "
                               "file, or pass a folder of phase images named <case_id>*.")


def phase_for_case(phase: str | None, case_id: str) -> Path | None:
    """The phase image of one case under ``--phase``: the file itself, or ``<case_id>*`` in a folder."""
    if not phase:
        return None
    p = Path(phase)
    if not p.is_dir():
        return p
    matches = sorted(x for x in p.iterdir() if x.is_file() and x.name.startswith(case_id))
    if not matches:
        raise VolumeInputError(f"{p}: no phase image named {case_id}* for case {case_id} (--phase). Name it after "
                               "the case, or run without --phase.")
    return matches[0]
