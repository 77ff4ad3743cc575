"""CMB records: one row per candidate (the columns of ``cmbs.csv`` and the segment tags), the review statuses,
the flags, and reading and writing the records table.

Every stage passes ``CMBRecord`` along; this file holds the record and nothing that computes one.
"""
from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from CMBQuantLib.core.atomic import atomic_write_text

STATUSES = ("pending", "definite", "possible", "rejected")


FLAG_TOO_BIG = "exceeds_cmb_size"


FLAG_TOO_SMALL = "below_min_size"


FLAG_LOW_CONF = "low_confidence"


FLAG_ADDED = "added_by_reader"


FLAG_TUBULAR = "tubular"


FLAG_OUTSIDE_BRAIN = "outside_brain"


RULE_FLAGS = (FLAG_TUBULAR, FLAG_OUTSIDE_BRAIN)


FILTER_REASON = "filter"  # status rejected set by the CMB filter (p_cmb below its threshold), never by a reader


PIPELINE_DECIDER = "cmbquant"  # ``decided_by`` of a status the pipeline set; "" is the reader  # domain-rule flags: not CMB-like by shape or position


@dataclass
class CMBRecord:
    """One microbleed: the row of ``cmbs.csv`` and the tags of its segment."""

    cmb_id: int
    status: str = "pending"
    reason: str = ""
    confidence_mean: float | None = None
    confidence_max: float | None = None
    n_voxels: int = 0
    volume_mm3: float = 0.0
    diameter_eq_mm: float = 0.0
    diameter_max_mm: float = 0.0
    r: float = 0.0
    a: float = 0.0
    s: float = 0.0
    i: float = 0.0
    j: float = 0.0
    k: float = 0.0
    intensity_mean: float | None = None
    intensity_min: float | None = None
    region: str = ""
    lobe: str = ""
    side: str = ""
    region_source: str = ""
    flags: list[str] = field(default_factory=list)
    # Two-stage detector: the CMB filter's probability that this spot is a CMB (None: no filter ran), and who set
    # the status ("" for pending/the reader, "cmbquant" when the filter rejected it: reason ``filter``).
    p_cmb: float | None = None
    decided_by: str = ""
    source: str = ""  # which screen found it: nnunet, dark_spot, nnunet+dark_spot, reader

    @property
    def ras(self) -> np.ndarray:
        return np.array([self.r, self.a, self.s])

    def to_row(self) -> dict[str, str]:
        row = {}
        for k, v in asdict(self).items():
            if k == "flags":
                row[k] = ";".join(v)
            elif v is None:
                row[k] = ""
            elif isinstance(v, float):
                row[k] = f"{v:.6g}"
            else:
                row[k] = str(v)
        return row

    @classmethod
    def from_row(cls, row: dict[str, str]) -> "CMBRecord":
        kw: dict = {}
        for f in fields(cls):
            raw = row.get(f.name, "")
            if f.name == "flags":
                kw[f.name] = [x for x in raw.split(";") if x]
            elif f.name in ("cmb_id", "n_voxels"):
                kw[f.name] = int(float(raw)) if raw != "" else 0
            elif f.name in ("status", "reason", "region", "lobe", "side", "region_source", "decided_by", "source"):
                kw[f.name] = raw
            elif f.name in ("confidence_mean", "confidence_max", "intensity_mean", "intensity_min", "p_cmb"):
                kw[f.name] = float(raw) if raw not in ("", None) else None
            else:
                kw[f.name] = float(raw) if raw not in ("", None) else 0.0
        return cls(**kw)


CSV_COLUMNS = [f.name for f in fields(CMBRecord)]


def write_records_csv(records: list[CMBRecord], path: str | Path) -> Path:
    """Write ``cmbs.csv`` atomically (temp file + rename), so a crash never leaves half a table."""


    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for rec in records:
        writer.writerow(rec.to_row())
    return atomic_write_text(Path(path), buf.getvalue())


def read_records_csv(path: str | Path) -> list[CMBRecord]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [CMBRecord.from_row(row) for row in csv.DictReader(fh)]

