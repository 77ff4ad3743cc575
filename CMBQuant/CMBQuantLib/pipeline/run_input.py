"""Where a run from Slicer reads its SWI and writes its case: the volume's own file, else a temporary save.

The worker runs in a separate process and reads files, not scene nodes. A volume loaded from disk is run from that
file (exact bytes, no re-save); one made in Slicer (or whose file is gone) is saved first as NIfTI beside the output.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INPUT_FILE = "input.nii.gz"


@dataclass(frozen=True)
class RunInput:
    image: Path  # the SWI file the worker reads
    out_dir: Path  # the output root of this volume's run
    saved: bool  # True when ``image`` was written here (the volume had no file on disk)


def save_with_storage_node(node: Any, path: str) -> bool:
    """Write ``node`` through its default storage node (what ``slicer.util.saveNode`` does, without the app)."""
    storage = node.GetStorageNode()
    if storage is None:
        node.AddDefaultStorageNode()
        storage = node.GetStorageNode()
    storage.SetFileName(path)
    return bool(storage.WriteData(node))


def volume_file(node: Any) -> str | None:
    """The existing file the volume was read from, or None."""
    storage = node.GetStorageNode()
    path = storage.GetFileName() if storage else None
    return path if path and os.path.exists(path) else None


def prepare_run_input(node: Any, temp_root: str | Path,
                      save: Callable[[Any, str], bool] = save_with_storage_node) -> RunInput:
    """The input file and output folder for running ``node``; ``<temp_root>/<volume name>`` is the output folder."""
    out = Path(temp_root) / node.GetName()
    path = volume_file(node)
    if path is not None:
        return RunInput(Path(path), out, saved=False)
    target = out / INPUT_FILE
    out.mkdir(parents=True, exist_ok=True)
    if not save(node, str(target)):
        raise OSError(f"{target}: could not save the volume '{node.GetName()}' for the run. Check free disk space.")
    return RunInput(target, out, saved=True)
