"""Input problems: every bad cell is named by file, row and column, with how to fix it.

The users are clinicians, not Python programmers: an unusable table must say exactly where it is wrong, and all of
its problems are collected before anything is raised so one run lists them all.
Row numbers follow the spreadsheet convention: the header is row 1, the first data row is row 2.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InputProblem:
    """One bad cell (or missing column when ``row`` is None)."""

    file: str
    row: int | None
    column: str | None
    problem: str
    fix: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column '{self.column}'"
        return f"{where}: {self.problem}. Fix: {self.fix}"


class StatsInputError(ValueError):
    """Raised for unusable input; ``problems`` holds every bad cell found, the message lists the first ones."""

    def __init__(self, problems: list[InputProblem]):
        self.problems = list(problems)
        head = [str(p) for p in self.problems[:10]]
        more = len(self.problems) - len(head)
        msg = "\n".join(head) + (f"\n... and {more} more problem(s)" if more > 0 else "")
        super().__init__(msg)

    @property
    def first(self) -> InputProblem:
        return self.problems[0]


def sheet_row(i: int) -> int:
    """Spreadsheet row number of data index ``i`` (header = row 1)."""
    return int(i) + 2
