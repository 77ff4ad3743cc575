"""Start the review server in a subprocess on a free loopback port and a headless Debian Chromium against it.

Shared by the end-to-end test and the latency benchmark. Loopback only; Chromium from /usr/bin (never downloaded).
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def review_server(folder: Path, reviewer: str | None, log_path: Path, timeout_s: float = 120.0,
                  extra_args: tuple[str, ...] = ()) -> Iterator[str]:
    """Yields the page URL; the server (its whole process group) is stopped on exit, even on failure."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "CMBQuant") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    log = open(log_path, "w")  # noqa: SIM115 - closed in the finally below, after the server is gone
    cmd = [sys.executable, "-m", "CMBQuantLib.web.serve", str(folder), "--port", str(port), *extra_args]
    if reviewer is not None:
        cmd += ["--reviewer", reviewer]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://{HOST}:{port}/"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"review server exited with {proc.returncode}: {Path(log_path).read_text()[-2000:]}")
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"review server not up after {timeout_s} s") from None
                time.sleep(0.3)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        log.close()


@contextlib.contextmanager
def browser_page(width: int = 1300, height: int = 900) -> Iterator[object]:
    """A Playwright page in headless Debian Chromium with a throw-away profile."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="cmbquant-chromium-") as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                   headless=True, viewport={"width": width, "height": height})
        try:
            yield ctx.pages[0] if ctx.pages else ctx.new_page()
        finally:
            ctx.close()


def frame_number(page) -> int:
    return int(page.get_attribute("#cmb-view", "data-frame") or 0)


def wait_frame_after(page, number: int, timeout_ms: float = 20000) -> int:
    """Wait until a frame newer than ``number`` is in the <img> and decoded; returns its number."""
    page.wait_for_function(
        "n => { const e = document.querySelector('#cmb-view'); "
        "return e && Number(e.dataset.frame) > n && e.complete && e.naturalWidth > 0; }",
        arg=number, timeout=timeout_ms)
    return frame_number(page)


def press_key(page, key: str) -> int:
    """Press ``key`` and wait for the frame it causes; returns that frame's number."""
    n = frame_number(page)
    page.keyboard.press(key)
    return wait_frame_after(page, n)


def current_cmb(page) -> int:
    """The id of the CMB the main view shows."""
    return int(page.get_attribute("#cmb-view", "data-cmb"))


def open_page(page, url: str) -> int:
    page.goto(url)
    page.wait_for_selector("#cmb-view", timeout=60000)
    n = wait_frame_after(page, 0, 60000)
    page.locator("#message").click()  # focus the document, not a field: keys go to the review
    return n
