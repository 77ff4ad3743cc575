"""The filter-rejected toggle in the web review and the shared keymap: key H, clear of Slicer's slice-view keys,
forwarded by the page, and (on a real case folder and the real controller) hiding / listing the filter's rejections
with p_cmb in the table."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_review_filter_session import FILTERED, P_CMB, make_filtered_case
from web_harness import CHROMIUM, browser_page, frame_number, open_page, review_server, wait_frame_after

from CMBQuantLib.review.key_dispatch import KeyDispatcher
from CMBQuantLib.review.keymap import (
    DEFAULT_KEYMAP,
    SLICER_VIEW_KEYS,
    KeyBinding,
    binding_for,
    check_keymap,
    normalise,
)
from CMBQuantLib.web.controller import WebReviewController
from CMBQuantLib.web.keys import browser_keys
from CMBQuantLib.web.page import TABLE_COLUMNS


def test_h_toggles_the_filter_rejections_and_is_forwarded():
    check_keymap()  # no clash with another binding or with Slicer's slice-view keys
    binding = binding_for("h")
    assert binding.action == "toggle_filtered" and binding.keys == ("H",)
    assert binding.label == "Show/hide filter-rejected candidates"
    assert normalise("H") not in {normalise(k) for k in SLICER_VIEW_KEYS}
    assert {"key": "h", "ctrlKey": False, "shiftKey": False, "altKey": False} in browser_keys()
    d = KeyDispatcher()
    assert d.press("h").action == "toggle_filtered" and d.press("H").action == "toggle_filtered"
    d.press("x")  # inside the reject menu, H leaves the menu and toggles (it is no reason digit)
    assert d.press("h").action == "toggle_filtered" and not d.awaiting_reason


def test_a_keymap_taking_a_slicer_view_key_is_refused():
    for key in ("b", "F", "r", "v", "g", "t", "Right"):
        with pytest.raises(ValueError, match="Slicer's slice views"):
            check_keymap(DEFAULT_KEYMAP + (KeyBinding("jump", (key,), "Jump"),))


def test_controller_hides_filter_rejections_until_h_and_shows_p_cmb(tmp_path):
    case = make_filtered_case(tmp_path)
    web = WebReviewController(case, "web-reader")
    web.open_case(web.cases[0].case_id)
    try:
        rows = web.snapshot()["rows"]
        assert sorted(set(P_CMB) - {r["cmb_id"] for r in rows}) == FILTERED
        assert {r["cmb_id"]: r["p_cmb"] for r in rows} == {i: p for i, p in P_CMB.items() if i not in FILTERED}
        assert ("score", "p(CMB) / conf.") in TABLE_COLUMNS  # p_cmb where the filter ran, else the confidence
        assert {r["cmb_id"]: r["score"] for r in rows} == {r["cmb_id"]: r["p_cmb"] for r in rows}
        assert web.snapshot()["filtered_hint"] == "2 filter-rejected candidate(s) hidden (H shows them)."
        assert web.key("h")
        snap = web.snapshot()
        assert snap["show_filtered"] and sorted(r["cmb_id"] for r in snap["rows"]) == sorted(P_CMB)
        assert [r["cmb_id"] for r in snap["rows"] if r["filtered"]] == FILTERED
        web.select(FILTERED[0])
        assert web.key("a")  # restore by accepting
        restored = next(r for r in web.snapshot()["rows"] if r["cmb_id"] == FILTERED[0])
        assert (restored["status"], restored["filtered"], restored["p_cmb"]) == ("definite", False, P_CMB[FILTERED[0]])
        assert web.key("h")  # hide again: the restored one stays, the other filter rejection goes
        ids = {r["cmb_id"] for r in web.snapshot()["rows"]}
        assert FILTERED[0] in ids and FILTERED[1] not in ids
        web.open_case(web.case_id)  # the toggle is the reader's: it survives reopening
        assert not web.session.show_filtered and FILTERED[1] not in web.session.queue
        log = [json.loads(x) for x in (case / "review.jsonl").read_text().splitlines()]
        assert [(e["cmb_id"], e["new_status"], e["decided_by"], e["reviewer"]) for e in log] == [
            (FILTERED[0], "definite", "", "web-reader")]
        assert json.loads((case / "counts.json").read_text())["counts"]["total_definite"] == 1
    finally:
        web.close_case()


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} (Debian chromium) is not installed")
def test_h_and_the_button_toggle_the_rows_in_the_browser(tmp_path):
    case = make_filtered_case(tmp_path)
    with review_server(case, "browser-reader", tmp_path / "server.log") as url, browser_page() as page:
        open_page(page, url)
        rows = page.locator("#cmb-table tbody tr")
        assert rows.count() == len(P_CMB) - len(FILTERED)
        assert "2 filter-rejected candidate(s) hidden" in page.inner_text("#filtered-hint")
        assert "p(CMB)" in page.inner_text("#cmb-table thead")
        n = frame_number(page)
        page.keyboard.press("h")
        wait_frame_after(page, n)
        assert rows.count() == len(P_CMB)
        assert page.get_attribute(f"#cmb-row-{FILTERED[0]}", "data-filtered") == "true"
        assert "listed" in page.inner_text("#filtered-hint")
        n = frame_number(page)
        page.locator("#toggle-filtered").click()
        wait_frame_after(page, n)
        assert rows.count() == len(P_CMB) - len(FILTERED)
    assert not (case / "review.jsonl").exists()  # showing and hiding decide nothing
