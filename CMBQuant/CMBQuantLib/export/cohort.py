"""The cohort table: one row per case folder (counts by MARS region x status, model, reviewers, the automated
counts ``<region>_auto``: the pipeline's own result before review, and the provenance ``model_version`` /
``filter_version`` that made the case, so statistics can refuse or stratify a mixed cohort), read from the folders."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from CMBQuantLib.core.atomic import atomic_write_text
from CMBQuantLib.core.case_folder import CASE_JSON, read_case_json
from CMBQuantLib.core.counts import AUTO_COLUMNS, COUNT_COLUMNS, auto_section, case_counts, read_auto_section
from CMBQuantLib.review.decision_log import log_reviewers
from CMBQuantLib.review.replay import effective_records

PROVENANCE_COLUMNS = ["model_version", "filter_version"]  # "" for case folders made before provenance was recorded
COHORT_COLUMNS = ["case_id"] + COUNT_COLUMNS + ["model", "reviewers"] + AUTO_COLUMNS + PROVENANCE_COLUMNS


def is_case_folder(path: Path) -> bool:

    return path.is_dir() and (path / CASE_JSON).exists()


def case_folders(root: str | Path) -> list[Path]:
    """Case folders directly under ``root`` (or ``root`` itself), sorted by name; hidden ones (a batch's
    ``.<case>.partial-*`` staging folders) are never cases."""
    root = Path(root)
    if is_case_folder(root):
        return [root]
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if not p.name.startswith(".") and is_case_folder(p))


def cohort_row(folder: str | Path) -> dict[str, Any]:
    """One cohort row from a case folder: ``cmbs.csv`` with ``review.jsonl`` replayed over it (the log wins); the
    automated counts from the CMB set stored in ``counts.json`` (inferred from the records in older folders)."""

    folder = Path(folder)
    info = read_case_json(folder)
    records = effective_records(folder)
    row: dict[str, Any] = {"case_id": info.case_id, **case_counts(records)}
    row["model"] = str(info.model.get("name", "")) if isinstance(info.model, dict) else ""
    row["reviewers"] = ";".join(log_reviewers(folder))
    row.update(auto_section(records, read_auto_section(folder))["counts"])
    row["model_version"], row["filter_version"] = info.model_version, info.filter_version
    return row


def write_cohort(folders: Iterable[str | Path], path: str | Path) -> Path:
    """``cohort.csv``: one row per case, columns exactly ``COHORT_COLUMNS``, sorted by case id, atomic."""
    rows = sorted((cohort_row(f) for f in folders), key=lambda r: r["case_id"])
    ids = [r["case_id"] for r in rows]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ValueError(f"{path}: case ids {dup} appear in more than one case folder; rename or remove duplicates.")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COHORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(r)
    return atomic_write_text(Path(path), buf.getvalue())

