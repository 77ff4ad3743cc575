"""Two readers in two headless Chromium sessions on one case: each session has its own review server (its own
reviewer name and current CMB), both readers' decisions land in review.jsonl under their own names, and the one
who acts on a case the other just changed is told, and nothing is written over the other's decision."""
from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from web_case import make_worklist
from web_harness import (
    CHROMIUM, CHROMIUM_ARGS, current_cmb, open_page, press_key, review_server,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} (Debian chromium) is not installed")]




def _log(case: Path) -> list[tuple[str, int, str]]:
    path = case / "review.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [(e["reviewer"], e["cmb_id"], e["new_status"]) for e in map(json.loads, lines)]


def test_two_browser_sessions_are_two_readers_on_one_case(tmp_path):
    from playwright.sync_api import sync_playwright

    cases = make_worklist(tmp_path, ("case01",))
    case = cases / "case01"
    with review_server(cases, None, tmp_path / "server.log", extra_args=("--views", "axial")) as url, \
            sync_playwright() as p:
        landing = urllib.request.urlopen(url, timeout=10).read().decode()
        assert "Starting your review session" in landing  # the landing page itself starts no server
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            ana, bo = (browser.new_context(viewport={"width": 1300, "height": 900}).new_page() for _ in range(2))
            open_page(ana, url + "?reviewer=ana")
            open_page(bo, url + "?reviewer=bo")
            assert "/s/" in ana.url and "/s/" in bo.url and ana.url != bo.url  # one session server each
            assert ana.input_value("#reviewer") == "ana" and bo.input_value("#reviewer") == "bo"
            first = current_cmb(ana)
            assert current_cmb(bo) == first  # both start at the first undecided CMB

            press_key(ana, "a")  # ana accepts the first CMB and moves on
            second = current_cmb(ana)
            assert second != first and _log(case) == [("ana", first, "definite")]

            press_key(bo, "a")  # bo, on the same CMB, acts on a case ana changed: told, nothing written over it
            assert "changed on disk" in bo.inner_text("#message")
            assert _log(case) == [("ana", first, "definite")]
            assert bo.get_attribute(f"#cmb-row-{first}", "data-status") == "definite"  # bo now sees ana's decision
            assert current_cmb(bo) == first

            press_key(bo, "n")  # bo goes his own way: past ana's current CMB to the next one
            if current_cmb(bo) == second:
                press_key(bo, "n")
            third = current_cmb(bo)
            assert third not in (first, second)
            press_key(bo, "s")  # bo: possible
            assert _log(case) == [("ana", first, "definite"), ("bo", third, "possible")]
            assert current_cmb(ana) == second and current_cmb(bo) != second  # each page kept its own position

            press_key(ana, "a")  # ana's turn to be told of bo's write; her next key decides
            assert "changed on disk" in ana.inner_text("#message")
            assert current_cmb(ana) == second
            press_key(ana, "a")
            assert ana.get_attribute(f"#cmb-row-{third}", "data-status") == "possible"
        finally:
            browser.close()
    assert _log(case) == [("ana", first, "definite"), ("bo", third, "possible"), ("ana", second, "definite")]
