"""Column roles: which column of which table plays which role.

Clinical researchers bring spreadsheets in whatever shape their centre uses, so the user maps columns to roles
instead of renaming files.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from CMBQuantStatsLib.problems import InputProblem, StatsInputError

#: Regions of the cohort table (docs/case-folder.md).
REGIONS = (
    "total", "lobar", "frontal", "parietal", "temporal", "occipital", "insula",
    "deep", "infratentorial", "cerebellar", "brainstem", "unassigned",
)
#: ``definite`` / ``definite+possible``: the reader's counts (``<region>_definite`` [+ ``_possible``]); ``auto``: the
#: pipeline's own counts before review (``<region>_auto``).
COUNT_MODES = ("definite", "definite+possible", "auto")
DEFAULT_SEX = {"M": 1, "F": 0, "male": 1, "female": 0, "1": 1, "0": 0}
DEFAULT_BINARY = {"1": 1, "0": 0, "yes": 1, "no": 0, "y": 1, "n": 0, "true": 1, "false": 0}


@dataclass
class ColumnRoles:
    """Which column of which table plays which role.

    A role left at ``None`` means "use the canonical column name if the table has it, else leave that variable
    out (noted in the pooling report)"; a role set to a name means "this column must exist".
    Codings map cell text (case-insensitive) to 1/0; sex is coded male = 1, female = 0 by default.
    """

    cohort_id: str = "case_id"
    wmh_id: str = "case_id"
    clinical_id: str = "case_id"
    age: str | None = None
    sex: str | None = None
    sex_coding: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_SEX))
    hypertension: str | None = None
    diabetes: str | None = None
    hyperlipidemia: str | None = None
    binary_coding: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_BINARY))
    lipids: list[str] = field(default_factory=list)
    bmi: str | None = None
    mmse: str | None = None
    education: str | None = None
    wmh_burden: str | None = None
    wmh_volume: str | None = None
    icv: str | None = None
    extra_numeric: list[str] = field(default_factory=list)
    extra_categorical: list[str] = field(default_factory=list)
    count_mode: str = "definite+possible"
    require_review_complete: bool = False
    #: a cohort processed by more than one model/filter version (cohort.csv ``model_version``/``filter_version``):
    #: ``refuse`` (an input error naming the cases and versions), ``stratify`` (a version covariate) or ``allow``
    mixed_versions: str = "refuse"
    #: region -> a column holding that region's count as is (another tool's table, a rating sheet), e.g.
    #: ``{"total": "Total_CMB", "lobar": "Lobar"}``; given as ``total=Total_CMB`` like any other role.
    count_columns: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> ColumnRoles:
        """Build from a JSON-like dict, rejecting unknown keys (typos would otherwise be silently ignored).

        A region name as key (``total``, ``lobar`` ...) is a count column role (``count_columns``)."""
        d = dict(d)
        counts = dict(d.pop("count_columns", None) or {})
        counts.update({k: d.pop(k) for k in list(d) if k in REGIONS})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known) + sorted(set(counts) - set(REGIONS))
        if unknown:
            raise StatsInputError([InputProblem(
                "column roles", None, None, f"unknown role(s) {unknown}",
                f"use only {sorted(known - {'count_columns'})} or a region ({', '.join(REGIONS)}) for its count "
                "column")])
        return cls(**d, count_columns={str(k): str(v) for k, v in counts.items()})

    def to_dict(self) -> dict:
        return asdict(self)
