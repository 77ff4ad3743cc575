"""FreeSurfer/SynthSeg label -> MARS region, sub-region (lobe) and side, read from a CSV the user can replace.

The table is data, not code, so a site can change a contestable choice (ventral DC, hippocampus) without a release.
Cerebral white matter is ``white_matter`` in the table: which MARS region it belongs to (juxtacortical = lobar,
capsules, corpus callosum, deep white matter) depends on where it is, so ``parcellation.py`` decides it by distance.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAPPING = Path(__file__).with_name("mars_mapping.csv")

REGIONS = ("lobar", "deep", "infratentorial")
TABLE_REGIONS = REGIONS + ("white_matter", "none")
LOBES = ("frontal", "parietal", "temporal", "occipital", "insula")
DEEP = ("basal_ganglia", "thalamus", "internal_capsule", "external_capsule", "corpus_callosum", "deep_white_matter")
INFRA = ("brainstem", "cerebellum")
SIDES = ("L", "R", "M", "")
UNASSIGNED = "unassigned"

# One integer code per (region, sub-region). Codes 1-13 are the MARS atlas's own k (Sundaresan et al.), so a
# label-derived map and the published atlas can be compared voxel by voxel; 14 is lobar with unknown lobe.
CODES: dict[int, tuple[str, str]] = {
    1: ("infratentorial", "brainstem"),
    2: ("infratentorial", "cerebellum"),
    3: ("deep", "basal_ganglia"),
    4: ("deep", "thalamus"),
    5: ("deep", "internal_capsule"),
    6: ("deep", "external_capsule"),
    7: ("deep", "corpus_callosum"),
    8: ("deep", "deep_white_matter"),
    9: ("lobar", "frontal"),
    10: ("lobar", "parietal"),
    11: ("lobar", "temporal"),
    12: ("lobar", "occipital"),
    13: ("lobar", "insula"),
    14: ("lobar", ""),
}
CODE_OF = {v: k for k, v in CODES.items()}
SIDE_CODES = {0: "", 1: "L", 2: "R", 3: "M"}
SIDE_CODE_OF = {v: k for k, v in SIDE_CODES.items()}


class MappingError(ValueError):
    """The mapping table is malformed; the message names the file, row and allowed values."""


@dataclass(frozen=True)
class MarsEntry:
    """One row of the mapping table."""

    label: int
    name: str
    region: str  # lobar / deep / infratentorial / white_matter / none
    lobe: str  # sub-region; '' for lobar cortex whose lobe is unknown (aseg-only maps)
    side: str  # L / R / M, or '' = take the hemisphere of the nearest lateralised label

    @property
    def code(self) -> int:
        """Region code (see ``CODES``); 0 for non-brain and for white matter (decided by position)."""
        if self.region in REGIONS:
            return CODE_OF[(self.region, self.lobe)]
        return 0


def load_mapping(path: str | Path | None = None) -> dict[int, MarsEntry]:
    """Read a mapping CSV (columns ``label,name,region,lobe,side``); the packaged table when ``path`` is None.

    Labels absent from the table are treated as non-brain (``none``).
    """
    path = Path(path) if path is not None else DEFAULT_MAPPING
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError:
        raise MappingError(f"{path}: mapping table not found") from None
    need = {"label", "region", "lobe", "side"}
    if not rows or not need <= set(rows[0]):
        raise MappingError(f"{path}: needs columns {sorted(need)} (optional 'name')")
    table: dict[int, MarsEntry] = {}
    for n, row in enumerate(rows, start=2):
        entry = _entry(row, path, n)
        if entry.label in table:
            raise MappingError(f"{path}:{n}: label {entry.label} appears twice")
        table[entry.label] = entry
    return table


def _entry(row: dict[str, str], path: Path, line: int) -> MarsEntry:
    try:
        label = int(row["label"])
    except ValueError:
        raise MappingError(f"{path}:{line}: label '{row['label']}' is not an integer") from None
    region, lobe, side = (row[k].strip() for k in ("region", "lobe", "side"))
    if region not in TABLE_REGIONS:
        raise MappingError(f"{path}:{line}: region '{region}' not one of {TABLE_REGIONS}")
    allowed = {"lobar": LOBES + ("",), "deep": DEEP, "infratentorial": INFRA}.get(region, ("",))
    if lobe not in allowed:
        raise MappingError(f"{path}:{line}: lobe '{lobe}' not allowed for region '{region}' (use one of {allowed})")
    if side not in SIDES:
        raise MappingError(f"{path}:{line}: side '{side}' not one of L, R, M or empty")
    return MarsEntry(label, row.get("name", "").strip(), region, lobe, side)


def lookup_label(table: dict[int, MarsEntry], label: int) -> MarsEntry:
    """The entry of ``label``; unknown labels are non-brain."""
    return table.get(int(label), MarsEntry(int(label), "unknown", "none", "", ""))
