"""Latency of the browser review: key press (N, next CMB) -> the next CMB's centred view decoded in the page.

Run: ``python benchmarks/bench_web_latency.py [--presses 10] [--folder CASES]`` (needs /usr/bin/chromium).
Builds a phantom worklist when no folder is given; works on a copy, so no case is changed. Target: median <= 300 ms.
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

TARGET_MS = 300.0


def main(argv: list[str] | None = None) -> int:
    from web_case import make_worklist
    from web_harness import (
        browser_page,
        frame_number,
        open_page,
        review_server,
        wait_frame_after,
    )

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--presses", type=int, default=10)
    ap.add_argument("--folder", type=Path, default=None, help="a worklist folder (copied first)")
    ap.add_argument("--views", default="axial", help="passed to the server (e.g. axial,coronal,sagittal)")
    ap.add_argument("--image-format", default="jpeg", choices=("jpeg", "png"))
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cmbquant-bench-") as tmp:
        tmp = Path(tmp)
        if args.folder:
            cases = tmp / "cases"
            shutil.copytree(args.folder, cases)
        else:
            cases = make_worklist(tmp, n_cmbs=(8, 9))
        times = []
        server = review_server(cases, "bench", tmp / "server.log",
                               extra_args=("--views", args.views, "--image-format", args.image_format))
        with server as url, browser_page() as page:
            open_page(page, url)
            for _ in range(args.presses):
                before_cmb = page.get_attribute("#cmb-view", "data-cmb")
                n = frame_number(page)
                t0 = time.perf_counter()
                page.keyboard.press("n")
                wait_frame_after(page, n)
                times.append((time.perf_counter() - t0) * 1000)
                if page.get_attribute("#cmb-view", "data-cmb") == before_cmb:
                    print("warning: the frame shows the same CMB (only one pending?)")
    med = statistics.median(times)
    print(f"views {args.views}, {args.image_format} frames, load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs")
    print("key N -> next CMB's view decoded in the browser (ms):", " ".join(f"{t:.0f}" for t in times))
    print(f"median {med:.0f} ms, min {min(times):.0f}, max {max(times):.0f}; target <= {TARGET_MS:.0f} ms: "
          f"{'met' if med <= TARGET_MS else 'NOT met'}")
    return 0 if med <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
