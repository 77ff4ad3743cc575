"""The per-session launcher of ``cmbquant review-web`` (no browser) and the two-writer race on the controller:
a write that loses the race is refused and told, and the next input reloads the case instead of failing again."""
from __future__ import annotations

import argparse
import asyncio
import json

from aiohttp.test_utils import TestClient, TestServer
from review_helpers import fresh_case

from CMBQuantLib.review.controller import ReviewController
from CMBQuantLib.web import serve
from CMBQuantLib.web.sessions import SessionLauncher, _without_option


def _log(case):
    return [(e["reviewer"], e["cmb_id"], e["new_status"])
            for e in map(json.loads, (case / "review.jsonl").read_text().splitlines())]


def test_write_that_loses_the_race_is_refused_and_the_next_key_reloads(tmp_path, monkeypatch):
    case = fresh_case(tmp_path)
    ana, bo = ReviewController(case, "ana"), ReviewController(case, "bo")
    ana.open_case(case.name)
    bo.open_case(case.name)
    first = ana.current().cmb_id
    assert ana.press("A").handled
    real, calls = bo.reload_if_changed, []

    def raced() -> bool:  # bo's controller checked the log just before ana's line landed: the session must catch it
        calls.append(1)
        return False if len(calls) == 1 else real()

    monkeypatch.setattr(bo, "reload_if_changed", raced)
    out = bo.press("A")
    assert not out.handled and "changed by another session" in out.message and "no decision was lost" in out.message
    assert _log(case) == [("ana", first, "definite")]
    again = bo.press("A")  # not the same refusal forever: the case is reloaded, the key not applied
    assert again.action == "reload" and "changed on disk" in again.message and "not applied" in again.message
    assert bo.session.record(first).status == "definite" and bo.current().cmb_id == first
    assert bo.press("S").handled  # bo re-decides knowingly: possible, written under his name
    assert _log(case) == [("ana", first, "definite"), ("bo", first, "possible")]


def test_landing_starts_nothing_and_bad_sessions_get_a_clear_page(tmp_path):
    async def scenario():
        dead = SessionLauncher(tmp_path, [], python="/bin/false")  # a session server that dies at once
        full = SessionLauncher(tmp_path, [], max_sessions=0)
        out = {}
        for name, launcher in (("dead", dead), ("full", full)):
            async with TestClient(TestServer(launcher.app())) as client:
                landing = await client.get("/")
                out[name + "_landing"] = (landing.status, await landing.text(), len(launcher.sessions))
                new = await client.get("/new?reviewer=ana", allow_redirects=False)
                out[name + "_new"] = (new.status, await new.text(), len(launcher.sessions))
                gone = await client.get("/s/nope/")
                out[name + "_gone"] = (gone.status, await gone.text())
        return out

    out = asyncio.run(scenario())
    status, text, n = out["dead_landing"]
    assert status == 200 and "Starting your review session" in text and n == 0
    status, text, n = out["dead_new"]
    assert status == 500 and "stopped (exit 1)" in text and n == 0  # the dead server was cleared away
    status, text, _ = out["full_new"]
    assert status == 503 and "--max-sessions 0" in text
    status, text = out["dead_gone"]
    assert status == 404 and "session has ended" in text and "decisions are saved" in text


def test_each_session_is_started_with_the_launchers_options_and_its_own_name(tmp_path):
    args = serve.add_arguments(argparse.ArgumentParser()).parse_args(
        [str(tmp_path), "--views", "axial,coronal", "--fov", "90", "--reviewer", "team"])
    assert not args.single_session and args.max_sessions == 8
    child = serve.session_args(args)
    assert child == ["--views", "axial,coronal", "--image-format", "jpeg", "--fov", "90.0", "--reviewer", "team"]
    assert _without_option(child, "--reviewer") + ["--reviewer", "ana"] == child[:-2] + ["--reviewer", "ana"]
    assert _without_option(["--reviewer=x", "--fov", "1"], "--reviewer") == ["--fov", "1"]
