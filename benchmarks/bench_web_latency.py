"""Latency of the browser review: key press (N, next CMB) -> the next CMB's centred views decoded in the page.

Run: ``python benchmarks/bench_web_latency.py [--presses 10] [--folder CASES]`` (needs /usr/bin/chromium).
Measures, in one run on the same worklist: 1 view (axial), then the default review (axial, coronal, sagittal) with
the 8 mm minIP on; prints both medians side by side. Builds a phantom worklist when no folder is given; works on a
copy, so no case is changed. Target: median <= 150 ms for the 3-view minIP review (the machine's load is printed:
on a shared machine the figure is an upper bound).

A press counts as done only when EVERY view <img> on the page (main and side views) shows the new frame number
and is decoded, and the minIP is checked to be on in the 3-view run. The CPU time each process spent per press
(review server, session launcher, Chromium, Playwright driver; from /proc) is printed too: on a shared 2-CPU
machine those numbers, not the wall clock, say where the time goes.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "Testing"), str(HERE.parent / "CMBQuant")]

TARGET_MS = 150.0
SETUPS = (("1 view (axial)", "axial", ()), ("3 views + minIP", "axial,coronal,sagittal", ("m",)))


# every view <img> shows the frame newer than `n` (the same number on all) and is decoded
ALL_VIEWS_DECODED = """([n, count]) => {
  const main = document.querySelector('#cmb-view');
  const imgs = Array.from(document.querySelectorAll('img.cmb-img'));
  if (!main || imgs.length < count) { return false; }
  const f = Number(main.dataset.frame);
  return f > n && imgs.every(e => Number(e.dataset.frame) === f && e.complete && e.naturalWidth > 0);
}"""


def wait_all_views(page: Any, number: int, count: int, timeout_ms: float = 20000) -> None:
    page.wait_for_function(ALL_VIEWS_DECODED, arg=[number, count], timeout=timeout_ms)


def process_kind(cmdline: str) -> str | None:
    """Which part of the review a descendant process of this benchmark is."""
    if "CMBQuantLib.web.serve" in cmdline:
        return "review server" if "--single-session" in cmdline else "session launcher"
    if "chromium" in cmdline:
        return "chromium"
    if "playwright" in cmdline or "node" in cmdline.split(" ")[0]:
        return "playwright driver"
    return None


def cpu_seconds_by_kind() -> dict[str, float]:
    """User+system CPU seconds of this benchmark's descendant processes, by ``process_kind`` (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    parent, info = {}, {}
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        parent[int(pid)] = int(stat[1])
        info[int(pid)] = (cmd, (int(stat[11]) + int(stat[12])) / tick)
    out: dict[str, float] = {}
    for pid, (cmd, cpu) in info.items():
        up = parent.get(pid)
        while up and up != os.getpid():
            up = parent.get(up)
        kind = process_kind(cmd)
        if up == os.getpid() and kind:
            out[kind] = out.get(kind, 0.0) + cpu
    return out


@dataclass
class Run:
    times_ms: list[float]
    cpu_ms_per_press: dict[str, float]
    load: float


def measure(cases: Path, log: Path, views: str, setup_keys: tuple[str, ...], presses: int,
            image_format: str) -> Run:
    """Milliseconds from pressing N to all views of the new frame decoded, ``presses`` times."""
    from web_harness import browser_page, frame_number, open_page, review_server

    n_views = len(views.split(","))
    times = []
    load = os.getloadavg()[0]
    server = review_server(cases, "bench", log, extra_args=("--views", views, "--image-format", image_format))
    with server as url, browser_page() as page:
        open_page(page, url)
        wait_all_views(page, 0, n_views, 60000)
        for key in setup_keys:
            n = frame_number(page)
            page.keyboard.press(key)
            wait_all_views(page, n, n_views)
        if "m" in setup_keys and not page.is_checked("#minip"):
            raise RuntimeError("the minIP is not on after pressing M")
        cpu0 = cpu_seconds_by_kind()
        for _ in range(presses):
            before_cmb = page.get_attribute("#cmb-view", "data-cmb")
            n = frame_number(page)
            t0 = time.perf_counter()
            page.keyboard.press("n")
            wait_all_views(page, n, n_views)
            times.append((time.perf_counter() - t0) * 1000)
            if page.get_attribute("#cmb-view", "data-cmb") == before_cmb:
                print("warning: the frame shows the same CMB (only one pending?)")
        cpu1 = cpu_seconds_by_kind()
    cpu = {k: (cpu1[k] - cpu0.get(k, 0.0)) * 1000 / presses for k in cpu1}
    return Run(times, cpu, load)


def main(argv: list[str] | None = None) -> int:
    from web_case import make_worklist

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--presses", type=int, default=10)
    ap.add_argument("--folder", type=Path, default=None, help="a worklist folder (copied first)")
    ap.add_argument("--image-format", default="jpeg", choices=("jpeg", "png"))
    args = ap.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(prefix="cmbquant-bench-") as tmp:
        tmp = Path(tmp)
        if args.folder:
            cases = tmp / "cases"
            shutil.copytree(args.folder, cases)
        else:
            cases = make_worklist(tmp, n_cmbs=(8, 9))
        for label, views, keys in SETUPS:
            results[label] = measure(cases, tmp / "server.log", views, keys, args.presses, args.image_format)
    print(f"{args.image_format} frames, {os.cpu_count()} CPUs; key N -> all of the next CMB's views decoded in the "
          "browser (ms)")
    for label, run in results.items():
        times = run.times_ms
        print(f"  {label:18s} median {statistics.median(times):5.0f}  min {min(times):4.0f}  max {max(times):4.0f}"
              f"  (load average {run.load:.1f} at start): " + " ".join(f"{t:.0f}" for t in times))
        cpu = ", ".join(f"{k} {v:.0f}" for k, v in sorted(run.cpu_ms_per_press.items()))
        print(f"  {'':18s} CPU ms per press: {cpu} (total {sum(run.cpu_ms_per_press.values()):.0f})")
    print(f"load average now {os.getloadavg()[0]:.1f}")
    med = statistics.median(results[SETUPS[-1][0]].times_ms)
    verdict = "met" if med <= TARGET_MS else "NOT met"
    print(f"3 views + minIP: median {med:.0f} ms; target <= {TARGET_MS:.0f} ms: {verdict}")
    return 0 if med <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
