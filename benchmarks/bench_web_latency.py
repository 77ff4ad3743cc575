"""Latency of the browser review: key press (N, next CMB) -> the next CMB's centred views decoded in the page.

Run: ``python benchmarks/bench_web_latency.py [--presses 10] [--folder CASES]`` (needs /usr/bin/chromium).
Measures, in one run on the same worklist: 1 view (axial), then the default review (axial, coronal, sagittal) with
the 8 mm minIP on; prints both medians side by side. Builds a phantom worklist when no folder is given; works on a
copy, so no case is changed. Target: median <= 150 ms for the 3-view minIP review (the machine's load is printed:
on a shared machine the figure is an upper bound).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "Testing"), str(HERE.parent / "CMBQuant")]

TARGET_MS = 150.0
SETUPS = (("1 view (axial)", "axial", ()), ("3 views + minIP", "axial,coronal,sagittal", ("m",)))


def measure(cases: Path, log: Path, views: str, setup_keys: tuple[str, ...], presses: int,
            image_format: str) -> list[float]:
    """Milliseconds from pressing N to the new frame decoded, ``presses`` times."""
    from web_harness import browser_page, frame_number, open_page, review_server, wait_frame_after

    times = []
    server = review_server(cases, "bench", log, extra_args=("--views", views, "--image-format", image_format))
    with server as url, browser_page() as page:
        open_page(page, url)
        for key in setup_keys:
            n = frame_number(page)
            page.keyboard.press(key)
            wait_frame_after(page, n)
        for _ in range(presses):
            before_cmb = page.get_attribute("#cmb-view", "data-cmb")
            n = frame_number(page)
            t0 = time.perf_counter()
            page.keyboard.press("n")
            wait_frame_after(page, n)
            times.append((time.perf_counter() - t0) * 1000)
            if page.get_attribute("#cmb-view", "data-cmb") == before_cmb:
                print("warning: the frame shows the same CMB (only one pending?)")
    return times


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
            load = os.getloadavg()[0]
            times = measure(cases, tmp / "server.log", views, keys, args.presses, args.image_format)
            results[label] = (times, load)
    print(f"{args.image_format} frames, {os.cpu_count()} CPUs; key N -> next CMB's views decoded in the browser (ms)")
    for label, (times, load) in results.items():
        print(f"  {label:18s} median {statistics.median(times):5.0f}  min {min(times):4.0f}  max {max(times):4.0f}"
              f"  (load average {load:.1f} at start): " + " ".join(f"{t:.0f}" for t in times))
    med = statistics.median(results[SETUPS[-1][0]][0])
    verdict = "met" if med <= TARGET_MS else "NOT met"
    print(f"3 views + minIP: median {med:.0f} ms; target <= {TARGET_MS:.0f} ms: {verdict}")
    return 0 if med <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
