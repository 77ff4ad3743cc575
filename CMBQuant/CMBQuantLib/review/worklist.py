"""The worklist: the case folders under a batch output folder, with each case's review progress.

Progress comes from the files (``cmbs.csv`` + ``review.jsonl`` replayed), so it is right whoever reviewed the case,
in Slicer or in the browser. The review controller walks it; Slicer and the web list it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from CMBQuantLib.core.case_folder import CASE_JSON, CaseFolderError, read_case_json
from CMBQuantLib.review.replay import effective_records


@dataclass(frozen=True)
class CaseEntry:
    case_id: str
    folder: Path
    decided: int
    total: int
    error: str = ""  # a case that cannot be read is listed with the reason, not hidden

    @property
    def label(self) -> str:
        if self.error:
            return f"{self.case_id} (cannot open)"
        return f"{self.case_id}  {self.decided}/{self.total}"


def case_entry(folder: Path) -> CaseEntry:
    try:
        case_id = read_case_json(folder).case_id
        records = effective_records(folder)
    except (CaseFolderError, OSError) as exc:
        return CaseEntry(folder.name, folder, 0, 0, str(exc))
    return CaseEntry(case_id, folder, sum(r.status != "pending" for r in records), len(records))


def list_cases(root: str | Path) -> list[CaseEntry]:
    """Cases of ``root``: every subfolder holding ``case.json`` (sorted), or ``root`` itself when it is a case."""
    root = Path(root)
    if not root.is_dir():
        raise CaseFolderError(f"{root}: not a folder. Pass the output folder of `cmbquant batch` (it holds one "
                              "subfolder per case) or one case folder.")
    if (root / CASE_JSON).exists():
        return [case_entry(root)]
    folders = sorted(p for p in root.iterdir() if p.is_dir() and (p / CASE_JSON).exists())
    if not folders:
        raise CaseFolderError(f"{root}: no case folders (subfolders with {CASE_JSON}). Point to the output folder "
                              "of `cmbquant batch`, or run `cmbquant batch` first.")
    return [case_entry(f) for f in folders]
