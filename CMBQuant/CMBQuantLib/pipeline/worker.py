"""The inference worker: a subprocess that loads the model once, runs one or many cases and reports JSON progress.

    python -m CMBQuantLib.pipeline.worker --result-file R.json [cmbquant run arguments]

Slicer starts it through :class:`InferenceClient` (the GUI never blocks, Stop kills the whole process tree); the CLI
calls :func:`run_job` in its own process. stdout carries only protocol lines (see ``progress.py``): anything else
libraries print is redirected to stderr.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any

from CMBQuantLib.core.atomic import atomic_write_json
from CMBQuantLib.detection.nnunet.model_store import ModelError
from CMBQuantLib.detection.nnunet.prediction import load_predictor, load_run_filter
from CMBQuantLib.pipeline.phase_input import check_phase_option
from CMBQuantLib.pipeline.progress import ProgressEvent, ProgressWriter, parse_line
from CMBQuantLib.pipeline.run_case import collect_inputs, process_case
from CMBQuantLib.pipeline.run_options import CaseResult, RunOptions, add_arguments, options_from_args
from CMBQuantLib.volumes.images import VolumeInputError

PACKAGE_PARENT = Path(__file__).resolve().parents[2]  # the folder holding CMBQuantLib/


def run_job(inputs: list[Path], out: Path, options, writer) -> dict[str, Any]:
    """Load the model once, run every case, never stop the batch for one bad case. Returns the result dict."""

    writer.n_cases = max(1, len(inputs))
    result: dict[str, Any] = {"ok": False, "cases": [], "model": None, "options": _jsonable(asdict(options))}
    try:
        check_phase_option(options.phase, inputs)  # a wrong --phase fails before the model loads
    except VolumeInputError as exc:
        writer.error(str(exc))
        result["error"] = str(exc)
        return result
    writer.emit("load_model", 0.0, "loading model")
    try:
        predictor, model = load_predictor(options)
        cmb_filter = load_run_filter(options, model)  # once per job, like the model (a broken filter fails here)
    except (ModelError, ValueError, OSError) as exc:
        writer.error(str(exc))
        result["error"] = str(exc)
        return result
    if model["device_warning"]:
        writer.log(model["device_warning"], "warning")
    result["model"] = model
    writer.emit("load_model", 5.0, f"model {model['dataset']} on {model['device']} (step {model['step_size']}, "
                                   f"mirroring {'on' if model['mirroring'] else 'off'})")
    ok = True
    for idx, path in enumerate(inputs):
        case = Path(path).name

        def stage(s: str, frac: float, msg: str, _i=idx, _c=case) -> None:
            writer.case_progress(_i, frac, s, msg, _c)

        try:
            res = process_case(predictor, model, path, out, options, stage=stage, cmb_filter=cmb_filter)
        except (VolumeInputError, ModelError, OSError, ValueError) as exc:
            ok = False
            writer.error(str(exc), case)
            res = CaseResult(case, str(path), "", error=str(exc))
        except Exception as exc:  # keep the batch going; the traceback goes to stderr
            ok = False
            traceback.print_exc(file=sys.stderr)
            writer.error(f"{path}: unexpected error {type(exc).__name__}: {exc}", case)
            res = CaseResult(case, str(path), "", error=f"{type(exc).__name__}: {exc}")
        result["cases"].append(asdict(res))
    result["ok"] = ok
    writer.emit("done", 100.0, f"{len(inputs)} case(s) done" + ("" if ok else " with errors"))
    return result


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def main(argv: list[str] | None = None) -> int:
    # Protocol lines go to the real stdout; everything else printed (nnU-Net, torch) goes to stderr.
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    parser = argparse.ArgumentParser(prog="python -m CMBQuantLib.pipeline.worker")
    add_arguments(parser)
    parser.add_argument("--result-file", required=True, help="JSON result written here at the end")
    parser.add_argument("--test-spawn-child", action="store_true", help=argparse.SUPPRESS)  # cancel tests
    args = parser.parse_args(argv)
    writer = ProgressWriter(proto)
    writer.emit("start", 0.0, f"worker pid {os.getpid()}", pid=os.getpid())
    if args.test_spawn_child:  # a grandchild that would outlive a naive kill
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        writer.emit("start", 0.0, "test child", child_pid=child.pid)
        time.sleep(600)
    try:
        inputs = collect_inputs(args.inputs)
    except ValueError as exc:
        writer.error(str(exc))
        result = {"ok": False, "cases": [], "error": str(exc)}
    else:
        result = run_job(inputs, Path(args.out), options_from_args(args), writer)
    _write_result(Path(args.result_file), result)
    writer.result(args.result_file, bool(result["ok"]))
    return 0 if result["ok"] else 2


def _write_result(path: Path, result: dict) -> None:

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, result)


# ------------------------------------------------------------------ client side (Slicer, tests, benchmarks)


def worker_command(inputs: list[str | Path], out: str | Path, result_file: str | Path, options=None,
                   python: str | None = None) -> list[str]:
    """argv that starts the worker for ``inputs`` with :class:`RunOptions` ``options``."""

    o = options or RunOptions()
    cmd = [python or sys.executable, "-m", "CMBQuantLib.pipeline.worker", *map(str, inputs), "--out", str(out),
           "--result-file", str(result_file), "--checkpoint", o.checkpoint, "--device", o.device,
           "--threshold", str(o.threshold), "--min-confidence", str(o.min_confidence)]
    if o.model:
        cmd += ["--model", str(o.model)]
    if o.folds:
        cmd += ["--folds", *map(str, o.folds)]
    if o.configuration:
        cmd += ["--configuration", o.configuration]
    if o.step_size is not None:
        cmd += ["--step-size", str(o.step_size)]
    if o.mirroring is not None:
        cmd += ["--mirroring" if o.mirroring else "--no-mirroring"]
    if not o.crop_to_head:
        cmd += ["--no-crop"]
    if not o.brain_mask:
        cmd += ["--no-brain-mask"]
    if o.trust_checkpoint:
        cmd += ["--trust-checkpoint"]
    cmd += ["--regions", o.regions, "--atlas-source", o.atlas_source, "--filter", o.filter]
    if o.filter_threshold is not None:
        cmd += ["--filter-threshold", str(o.filter_threshold)]
    if o.parcellation:
        cmd += ["--parcellation", str(o.parcellation)]
    if o.phase:
        cmd += ["--phase", str(o.phase)]
    return cmd


class InferenceClient:
    """Starts the worker, parses its progress on a reader thread, and cancels the whole process tree.

    Made for a GUI timer: call :meth:`poll` (non-blocking) every 100-200 ms; stderr is kept in a bounded buffer so a
    chatty library can never fill a pipe and hang the worker.
    """

    def __init__(self, inputs: list[str | Path], out: str | Path, options=None, result_file: str | Path | None = None,
                 python: str | None = None, env: dict[str, str] | None = None, extra_args: list[str] | None = None):
        self.out = Path(out)
        self.result_file = Path(result_file) if result_file else self.out / ".cmbquant_result.json"
        self.command = worker_command(inputs, out, self.result_file, options, python) + list(extra_args or [])
        self.env = dict(os.environ if env is None else env)
        self.env["PYTHONPATH"] = os.pathsep.join([str(PACKAGE_PARENT), *filter(None, [self.env.get("PYTHONPATH")])])
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.process: subprocess.Popen | None = None
        self.events: queue.Queue[ProgressEvent] = queue.Queue()
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=200)
        self.last: ProgressEvent | None = None
        self.cancelled = False
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        if self.result_file.exists():
            self.result_file.unlink()
        kw: dict[str, Any] = {}
        if os.name == "nt":
            kw["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        else:
            kw["start_new_session"] = True  # own process group: cancel reaches every descendant
        self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, env=self.env, text=True, bufsize=1, **kw)
        for stream, fn in ((self.process.stdout, self._read_stdout), (self.process.stderr, self._read_stderr)):
            t = threading.Thread(target=fn, args=(stream,), daemon=True)
            t.start()
            self._threads.append(t)

    def _read_stdout(self, stream) -> None:
        for line in stream:
            if line.strip():
                self.events.put(parse_line(line))

    def _read_stderr(self, stream) -> None:
        for line in stream:
            self.stderr_tail.append(line.rstrip("\n"))

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def poll(self) -> list[ProgressEvent]:
        """Events received since the last call (never blocks)."""
        out = []
        while True:
            try:
                ev = self.events.get_nowait()
            except queue.Empty:
                break
            if ev.type == "progress":
                self.last = ev
            out.append(ev)
        return out

    def wait(self, timeout: float | None = None) -> int:
        assert self.process is not None, "start() first"
        rc = self.process.wait(timeout)
        for t in self._threads:
            t.join(timeout=5)
        return rc

    def result(self) -> dict[str, Any] | None:
        """The worker's result file (None when it did not finish)."""
        if not self.result_file.is_file():
            return None
        return json.loads(self.result_file.read_text())

    def cancel(self, grace: float = 3.0) -> None:
        """End the worker and all its descendants: SIGTERM, then SIGKILL after ``grace`` seconds."""
        if self.process is None:
            return
        self.cancelled = True
        kill_tree(self.process.pid, grace)
        try:
            self.process.wait(timeout=grace + 5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def kill_tree(pid: int, grace: float = 3.0) -> None:
    """psutil when available (works across sessions and on Windows), else the process group (POSIX) or taskkill."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            root = psutil.Process(pid)
            procs = root.children(recursive=True) + [root]
        except psutil.NoSuchProcess:
            return
        for p in procs:
            try:
                p.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(procs, timeout=grace)
        for p in alive:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        return
    if os.name == "nt":
        subprocess.run(["taskkill", "/T", "/F", "/PID", str(pid)], capture_output=True)
        return
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


if __name__ == "__main__":
    sys.exit(main())
