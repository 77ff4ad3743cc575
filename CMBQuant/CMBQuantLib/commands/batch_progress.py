"""The batch's terminal progress: a rich bar with cases done, elapsed time and ETA, or plain lines without rich."""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Progress = Callable[[int, int, str], None]  # (cases finished, cases to do, case id)


def _plain(n: int, total: int, case_id: str) -> None:
    if case_id:
        print(f"[{n}/{total}] {case_id}", file=sys.stderr)


@contextmanager
def progress_bar() -> Iterator[Progress]:
    """A callback for ``run_batch``/``run_batch_dask`` that drives one bar on stderr (stdout stays for results)."""
    try:
        from rich import progress as rp
        from rich.console import Console
    except ImportError:  # rich is in the optional `batch` extra
        yield _plain
        return
    columns = (rp.TextColumn("{task.description:<24}"), rp.BarColumn(), rp.MofNCompleteColumn(),
               rp.TimeElapsedColumn(), rp.TextColumn("ETA"), rp.TimeRemainingColumn())
    with rp.Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("cases", total=None)

        def update(n: int, total: int, case_id: str) -> None:
            bar.update(task, completed=n, total=total, description=case_id or "cases")

        yield update
