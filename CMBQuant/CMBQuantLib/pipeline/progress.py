"""The worker's progress protocol: one JSON object per stdout line, so any client (Slicer's QProcess, the CLI, a
test) parses it without sharing code or a Python version.

Line kinds (``"type"``): ``progress`` {stage, percent, message, case}, ``log`` {level, message}, ``result``
{ok, result_file} and ``error`` {message, case}. Lines that are not JSON objects (stray prints of third-party
libraries) are reported as ``log``.
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from typing import IO, Any

STAGES = ("start", "load_model", "read", "preprocess", "predict", "postprocess", "write", "case_done", "done")


@dataclass
class ProgressEvent:
    """One line of the protocol. ``percent`` is overall progress (0-100) across all cases of the job."""

    type: str = "progress"
    stage: str = ""
    percent: float = 0.0
    message: str = ""
    case: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_line(self) -> str:
        d = asdict(self)
        if not d["extra"]:
            d.pop("extra")
        return json.dumps(d, separators=(",", ":"))


def parse_line(line: str) -> ProgressEvent:
    """Parse one stdout line; anything that is not a protocol object becomes a ``log`` event."""
    text = line.strip()
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    if not isinstance(obj, dict) or "type" not in obj:
        return ProgressEvent(type="log", message=text)
    known = {k: obj[k] for k in ("type", "stage", "percent", "message", "case", "extra") if k in obj}
    known["percent"] = float(known.get("percent", 0.0) or 0.0)
    return ProgressEvent(**known)


class ProgressWriter:
    """Writes protocol lines to a stream (the worker's real stdout), flushed at once; monotone percent."""

    def __init__(self, stream: IO[str] | None = None, n_cases: int = 1):
        self.stream = stream or sys.stdout
        self.n_cases = max(1, n_cases)
        self._last = 0.0

    def emit(self, stage: str, percent: float, message: str = "", case: str = "", **extra: Any) -> None:
        self._last = max(self._last, min(100.0, float(percent)))
        self._write(ProgressEvent("progress", stage, round(self._last, 1), message, case, extra))

    def case_progress(self, case_index: int, fraction: float, stage: str, message: str = "", case: str = "") -> None:
        """Progress inside case ``case_index`` (0-based), ``fraction`` of it done; 5 % reserved for model loading."""
        pct = 5.0 + 95.0 * (case_index + min(max(fraction, 0.0), 1.0)) / self.n_cases
        self.emit(stage, pct, message, case)

    def log(self, message: str, level: str = "info") -> None:
        self._write(ProgressEvent("log", level, self._last, message))

    def error(self, message: str, case: str = "") -> None:
        self._write(ProgressEvent("error", "error", self._last, message, case))

    def result(self, result_file: str, ok: bool) -> None:
        self._write(ProgressEvent("result", "done", 100.0 if ok else self._last, "ok" if ok else "failed", "",
                                  {"result_file": result_file, "ok": ok}))

    def _write(self, ev: ProgressEvent) -> None:
        self.stream.write(ev.to_line() + "\n")
        self.stream.flush()
