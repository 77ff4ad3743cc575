"""Reading one input table (CSV / TSV / Excel) as text, so IDs like ``007`` and odd cells survive to be checked."""
from __future__ import annotations

from pathlib import Path
from typing import Union

import pandas as pd

from CMBQuantStatsLib.problems import InputProblem, StatsInputError

TableSource = Union[str, Path, pd.DataFrame]  # noqa: UP007 - runtime alias, kept simple


def read_table(source: TableSource, name: str | None = None) -> tuple[pd.DataFrame, str]:
    """Read CSV / TSV / Excel as text (so IDs like ``007`` and odd cells survive) and return (frame, label).

    The label is the file name used in error messages; a DataFrame source is labelled ``name`` or "<table>".
    """
    if isinstance(source, pd.DataFrame):
        return source.astype(object).where(source.notna(), "").astype(str).reset_index(drop=True), name or "<table>"
    path = Path(source)
    label = path.name
    if not path.exists():
        raise StatsInputError([InputProblem(str(path), None, None, "file not found",
                                            "check the path (relative paths are relative to the working folder)")])
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            df = pd.read_excel(path, dtype=str, keep_default_na=False, engine="openpyxl")
        elif suffix in (".tsv", ".tab"):
            df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, skip_blank_lines=False)
        elif suffix in (".csv", ".txt"):
            # blank lines are kept (as rows with an empty ID, reported) so row numbers match the file
            df = pd.read_csv(path, sep=_sniff_sep(path), dtype=str, keep_default_na=False, skip_blank_lines=False)
        else:
            raise StatsInputError([InputProblem(label, None, None, f"unsupported file type '{suffix}'",
                                                "save the table as .csv, .tsv or .xlsx")])
    except StatsInputError:
        raise
    except Exception as exc:  # parser errors: report them in our format
        raise StatsInputError([InputProblem(label, None, None, f"cannot read table ({exc})",
                                            "save it as a plain .csv, .tsv or .xlsx with one header row")]) from exc
    df.columns = [str(c).strip() for c in df.columns]
    return df.fillna("").astype(str).reset_index(drop=True), label


def _sniff_sep(path: Path) -> str:
    """Comma, semicolon (European Excel exports) or tab, judged from the header line."""
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        header = fh.readline()
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    return max(counts, key=counts.get) if max(counts.values()) else ","
