"""One review server per browser session, behind one address: two readers never share a reviewer name or position.

A trame server has one state shared by every tab connected to it, so one server cannot give two readers their own
current CMB. ``cmbquant review-web`` therefore listens with this small launcher: opening ``/`` (optionally
``/?reviewer=NAME``) starts a private review server (``serve.py --single-session``, its own process, scene and
controller) on a free loopback port, and the browser is sent to ``/s/<id>/``, which this launcher forwards, HTTP
and websocket, to that server. Reloading ``/s/<id>/`` keeps the session; a new tab on ``/`` gets a new one. Decisions
of two sessions on one case both reach ``review.jsonl``: each server reloads a case another one changed before
acting, and ``ReviewSession`` refuses a write over a log that changed under it, telling that reader.

A session whose browser has been gone for ``idle_s`` is stopped; at most ``max_sessions`` run at once.
"""
from __future__ import annotations

import asyncio
import contextlib
import html
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, WSMsgType, web

LOOPBACK = "127.0.0.1"
PACKAGE_PARENT = Path(__file__).resolve().parents[2]  # the folder holding CMBQuantLib/
HOP_HEADERS = {"host", "connection", "keep-alive", "transfer-encoding", "upgrade", "content-length",
               "content-encoding", "proxy-connection", "te", "trailer"}
LANDING = """<!doctype html><html><head><meta charset="utf-8"><title>CMBQuant review</title></head>
<body style="font-family: sans-serif"><p id="starting">Starting your review session&hellip;</p>
<script>location.replace('new' + location.search);</script></body></html>"""


@dataclass
class ChildServer:
    """One reader's review server."""

    sid: str
    port: int
    proc: subprocess.Popen
    log_path: Path
    reviewer: str = ""
    sockets: int = 0  # open browser websockets
    idle_since: float = field(default_factory=time.monotonic)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, n: int = 1500) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-n:]
        except OSError:
            return ""


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


class SessionLauncher:
    """The landing page, the per-session servers and the forwarding to them (one aiohttp app)."""

    def __init__(self, folder: Path, child_args: list[str], max_sessions: int = 8, idle_s: float = 1800.0,
                 start_timeout_s: float = 180.0, python: str | None = None):
        self.folder = Path(folder)
        self.child_args = list(child_args)  # --views, --fov, --image-format, --reviewer ... passed on as given
        self.max_sessions = max_sessions
        self.idle_s = idle_s
        self.start_timeout_s = start_timeout_s
        self.python = python or sys.executable
        self.sessions: dict[str, ChildServer] = {}
        self.log_dir = Path(tempfile.mkdtemp(prefix="cmbquant-review-sessions-"))
        self._client: ClientSession | None = None
        self._reaper: asyncio.Task | None = None

    # -- app -------------------------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.landing)
        app.router.add_get("/new", self.new_session)
        app.router.add_route("*", "/s/{sid}/{tail:.*}", self.forward)
        app.router.add_get("/s/{sid}", self.add_slash)
        app.on_startup.append(self._startup)
        app.on_cleanup.append(self._cleanup)
        return app

    async def _startup(self, app: web.Application) -> None:
        self._client = ClientSession(timeout=ClientTimeout(total=None, sock_connect=10), auto_decompress=False)
        self._reaper = asyncio.create_task(self._reap_loop())

    async def _cleanup(self, app: web.Application) -> None:
        self._reaper.cancel()
        self.stop_all()
        if self._client is not None:
            await self._client.close()

    # -- sessions --------------------------------------------------------------------------------------------
    async def landing(self, request: web.Request) -> web.Response:
        """A page that starts nothing by itself (a health check or a crawler costs no process), then asks for one."""
        return web.Response(text=LANDING, content_type="text/html")

    async def add_slash(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(f"/s/{request.match_info['sid']}/")

    async def new_session(self, request: web.Request) -> web.Response:
        self.reap()
        if len(self.sessions) >= self.max_sessions:
            return _page(503, f"{len(self.sessions)} review sessions are open, the most this server runs "
                              f"(--max-sessions {self.max_sessions}). Close a review tab, wait for it to time out, "
                              "or restart `cmbquant review-web` with a higher --max-sessions.")
        reviewer = request.query.get("reviewer", "").strip()
        child = self.spawn(reviewer)
        try:
            await self._wait_ready(child)
        except RuntimeError as exc:
            self.stop(child.sid)
            return _page(500, str(exc))
        raise web.HTTPFound(f"/s/{child.sid}/")

    def spawn(self, reviewer: str = "") -> ChildServer:
        """Start one private review server (its own process) on a free loopback port."""
        sid = secrets.token_urlsafe(12)
        port = free_loopback_port()
        args = list(self.child_args)
        if reviewer:  # the session's own name wins over the launcher's --reviewer
            args = _without_option(args, "--reviewer") + ["--reviewer", reviewer]
        cmd = [self.python, "-m", "CMBQuantLib.web.serve", str(self.folder), "--single-session", "--host", LOOPBACK,
               "--port", str(port), *args]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_PARENT),
                                                                         os.environ.get("PYTHONPATH", "")]))}
        log_path = self.log_dir / f"session-{sid}.log"
        with open(log_path, "w", encoding="utf-8") as log:
            # same process group as the launcher: stopping the launcher's group (Ctrl+C, a test) stops every session
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        child = ChildServer(sid, port, proc, log_path, reviewer)
        self.sessions[sid] = child
        return child

    async def _wait_ready(self, child: ChildServer) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        url = f"http://{LOOPBACK}:{child.port}/"
        while True:
            if not child.alive():
                raise RuntimeError(f"the review server of this session stopped (exit {child.proc.returncode}): "
                                   f"{child.log_tail()}")
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                async with self._client.get(url, timeout=ClientTimeout(total=2)) as resp:
                    if resp.status == 200:
                        return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the review server of this session did not start in {self.start_timeout_s:.0f}"
                                   f" s; see {child.log_path}")
            await asyncio.sleep(0.25)

    def stop(self, sid: str) -> None:
        child = self.sessions.pop(sid, None)
        if child is None:
            return
        child.proc.terminate()
        try:
            child.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.proc.kill()
            child.proc.wait(timeout=5)

    def stop_all(self) -> None:
        for sid in list(self.sessions):
            self.stop(sid)

    def reap(self) -> list[str]:
        """Stop sessions whose server died, or whose browser has been gone for ``idle_s``; returns their ids."""
        now = time.monotonic()
        gone = [sid for sid, c in self.sessions.items()
                if not c.alive() or (c.sockets == 0 and now - c.idle_since > self.idle_s)]
        for sid in gone:
            self.stop(sid)
        return gone

    async def _reap_loop(self) -> None:
        while True:
            await asyncio.sleep(min(60.0, max(1.0, self.idle_s / 4)))
            self.reap()

    # -- forwarding ------------------------------------------------------------------------------------------
    async def forward(self, request: web.Request) -> web.StreamResponse:
        child = self.sessions.get(request.match_info["sid"])
        if child is None or not child.alive():
            return _page(404, "This review session has ended (closed, timed out or the server restarted). "
                              "Open the review address again for a new session: your decisions are saved.")
        target = f"http://{LOOPBACK}:{child.port}/{request.match_info['tail']}"
        if request.query_string:
            target += "?" + request.query_string
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._bridge(request, child, target.replace("http://", "ws://", 1))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        body = await request.read()
        async with self._client.request(request.method, target, headers=headers, data=body or None,
                                        allow_redirects=False) as resp:
            payload = await resp.read()
            out = {k: v for k, v in resp.headers.items() if k.lower() not in HOP_HEADERS - {"content-encoding"}}
            return web.Response(status=resp.status, body=payload, headers=out)

    async def _bridge(self, request: web.Request, child: ChildServer, target: str) -> web.WebSocketResponse:
        """Browser websocket <-> the session server's websocket, message for message."""
        protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        browser = web.WebSocketResponse(protocols=protocols, max_msg_size=0, autoping=True)
        await browser.prepare(request)
        child.sockets += 1
        try:
            async with self._client.ws_connect(target, protocols=protocols, max_msg_size=0) as server:
                pumps = [asyncio.create_task(_pump(browser, server)), asyncio.create_task(_pump(server, browser))]
                _, pending = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()
        except OSError:
            pass
        finally:
            child.sockets -= 1
            child.idle_since = time.monotonic()
            await browser.close()
        return browser


async def _pump(src: Any, dst: Any) -> None:
    async for msg in src:
        if msg.type == WSMsgType.TEXT:
            await dst.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await dst.send_bytes(msg.data)
        else:  # close / error: end both directions
            break


def _without_option(args: list[str], name: str) -> list[str]:
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == name:
            skip = True
        elif not a.startswith(name + "="):
            out.append(a)
    return out


def _page(status: int, text: str) -> web.Response:
    return web.Response(status=status, content_type="text/html",
                        text=f"<!doctype html><html><body><p id='error'>{html.escape(text)}</p></body></html>")


def serve_sessions(launcher: SessionLauncher, host: str, port: int) -> None:
    """Run the launcher until interrupted; every session server is stopped on the way out."""
    try:
        web.run_app(launcher.app(), host=host, port=port, print=None, handle_signals=True)
    finally:
        launcher.stop_all()
