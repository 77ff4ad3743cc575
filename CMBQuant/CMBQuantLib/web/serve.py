"""``cmbquant review-web FOLDER``: serve the browser review of a batch output folder (or one case folder).

Bound to 127.0.0.1 unless ``--host`` says otherwise: the page shows patient images and writes decisions without
any login, so exposing it to a network is an explicit, warned choice.
"""
from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

from CMBQuantLib.core.case_folder import CaseFolderError
from CMBQuantLib.review.navigation import DEFAULT_FOV_MM
from CMBQuantLib.review.worklist import list_cases
from CMBQuantLib.web.controller import WebReviewController
from CMBQuantLib.web.page import ReviewPage

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8080


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("folder", type=Path,
                        help="output folder of `cmbquant batch` (one subfolder per case) or one case folder")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free)")
    parser.add_argument("--host", default=LOOPBACK,
                        help=f"interface to bind (default {LOOPBACK}: this computer only). Any other value exposes "
                             "the images and the review, without a login, to that network")
    parser.add_argument("--reviewer", default="",
                        help="your name, recorded with every decision (else asked for in the page)")
    parser.add_argument("--fov", type=float, default=None, help="field of view in mm when jumping to a CMB")
    parser.add_argument("--views", default="axial,coronal,sagittal",
                        help="comma-separated views (default all three): axial (always first) plus coronal, "
                             "sagittal; each view adds one render per key press (and one more with phase)")
    parser.add_argument("--image-format", choices=("jpeg", "png"), default="jpeg",
                        help="how view frames travel to the page (jpeg: fast; png: exact colours)")
    parser.add_argument("--max-sessions", type=int, default=8,
                        help="browser sessions served at once (each has its own review server process; default 8)")
    parser.add_argument("--session-idle", type=float, default=1800.0, metavar="S",
                        help="stop a session's server once its browser has been gone this long (default 1800 s)")
    parser.add_argument("--single-session", action="store_true",
                        help=argparse.SUPPRESS)  # one shared trame server (what each session runs); no launcher
    return parser


def host_warning(host: str) -> str | None:
    """The warning printed when binding anywhere but loopback (None for loopback)."""
    if host in (LOOPBACK, "localhost", "::1"):
        return None
    return (f"WARNING: serving on {host}: anyone who can reach this address can see the images and change the "
            "review, with no login. Use the default (--host 127.0.0.1) and an SSH tunnel unless this network is "
            "trusted.")


def usable_port(host: str, port: int) -> int:
    """``port`` if it can be bound on ``host`` (a free one for 0), so a busy port is one clear message, not a
    traceback from deep inside the web server, and the printed address is the real one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, int(port)))
        return s.getsockname()[1]


def run(args: argparse.Namespace) -> int:
    """Start the server (blocks until stopped); returns an exit code: 2 with one message for a bad folder,
    a bad option or a busy port."""
    host = getattr(args, "host", LOOPBACK) or LOOPBACK
    port = getattr(args, "port", DEFAULT_PORT)
    try:
        port = usable_port(host, port)
    except OSError as exc:
        print(f"cmbquant review-web: cannot listen on {host}:{port} ({exc.strerror or exc}). Pass another --port "
              "(0 picks a free one), or stop the program using it.", file=sys.stderr)
        return 2
    warning = host_warning(host)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    if not getattr(args, "single_session", False):
        return run_sessions(args, host, port)
    try:
        views = view_names(getattr(args, "views", "axial,coronal,sagittal"))
        server = create_server(args.folder, getattr(args, "reviewer", "") or "", getattr(args, "fov", None),
                               getattr(args, "image_format", "jpeg"), views)
    except (CaseFolderError, ValueError) as exc:
        print(f"cmbquant review-web: {exc}", file=sys.stderr)
        return 2
    print(f"CMBQuant review: http://{'[' + host + ']' if ':' in host else host}:{port}/",
          flush=True)
    argv, sys.argv = sys.argv, sys.argv[:1]  # trame parses sys.argv itself: give it none of ours
    try:
        server.start(host=host, port=port, open_browser=False, show_connection_info=False, timeout=0)
    finally:
        sys.argv = argv
    return 0


def run_sessions(args: argparse.Namespace, host: str, port: int) -> int:
    """The default: one review server per browser session (``sessions``), each reader with their own name and
    position; the folder and options are checked here first, so a mistake is one message, not one per tab."""
    try:
        view_names(getattr(args, "views", "axial,coronal,sagittal"))
        list_cases(args.folder)
    except (CaseFolderError, ValueError) as exc:
        print(f"cmbquant review-web: {exc}", file=sys.stderr)
        return 2
    from CMBQuantLib.web.sessions import SessionLauncher, serve_sessions  # aiohttp: only for this command

    launcher = SessionLauncher(args.folder, session_args(args), max_sessions=getattr(args, "max_sessions", 8),
                               idle_s=getattr(args, "session_idle", 1800.0))
    print(f"CMBQuant review: http://{'[' + host + ']' if ':' in host else host}:{port}/ (one review per browser "
          "tab; add ?reviewer=NAME to the address to open it under your name)", flush=True)
    serve_sessions(launcher, host, port)
    return 0


def session_args(args: argparse.Namespace) -> list[str]:
    """The options each session's own server is started with (the launcher's, minus where it listens)."""
    out = ["--views", getattr(args, "views", "axial,coronal,sagittal"),
           "--image-format", getattr(args, "image_format", "jpeg")]
    if getattr(args, "fov", None):
        out += ["--fov", str(args.fov)]
    if getattr(args, "reviewer", ""):
        out += ["--reviewer", args.reviewer]
    return out


def view_names(spec: str) -> tuple[str, ...]:
    """``"axial,coronal"`` -> Slicer's view names ("Red", "Green"); axial is always there and first."""
    names = {"axial": "Red", "sagittal": "Yellow", "coronal": "Green"}
    asked = [v.strip().lower() for v in (spec or "axial").split(",") if v.strip()]
    bad = [v for v in asked if v not in names]
    if bad:
        raise ValueError(f"--views: unknown view(s) {bad}; use axial, coronal, sagittal (e.g. --views axial,coronal)")
    return tuple(dict.fromkeys(["Red"] + [names[v] for v in asked]))


def create_server(folder: Path, reviewer: str = "", fov_mm: float | None = None, image_format: str = "jpeg",
                  views: tuple[str, ...] = ("Red", "Green", "Yellow")):
    """A trame server with the review page on ``folder`` (no socket yet; ``start`` binds it)."""
    from trame.app import get_server

    controller = WebReviewController(folder, reviewer, fov_mm or DEFAULT_FOV_MM, image_format=image_format, views=views)
    server = get_server("cmbquant-review", client_type="vue3")
    server.state.trame__title = "CMBQuant review"
    server.context.review_page = ReviewPage(server, controller)
    return server


def main(argv: list[str] | None = None) -> int:
    parser = add_arguments(argparse.ArgumentParser(prog="cmbquant review-web", description=__doc__.split("\n")[0]))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
