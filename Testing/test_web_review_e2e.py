"""End to end: a phantom case reviewed by keyboard in headless Chromium against the real server subprocess.

Checks what matters to a reader: the decisions land on disk with the reviewer's name (log, table, segment tags),
the view is centred on the CMB with the overlay in its status colour, and a click adds a missed CMB where clicked.
"""
from __future__ import annotations

import csv
import json
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from web_case import make_worklist
from web_harness import (
    CHROMIUM,
    browser_page,
    current_cmb,
    frame_number,
    open_page,
    press_key,
    review_server,
    wait_frame_after,
)

from CMBQuantLib.core.scene import add_slice_nodes, headless_context
from CMBQuantLib.core.segments import STATUS_COLOURS
from CMBQuantLib.review.navigation import centre_slice
from CMBQuantLib.review.replay import effective_records
from CMBQuantLib.review.session import ReviewSession
from CMBQuantLib.web.controller import WebReviewController
from CMBQuantLib.web.viewport import matrix_of, pixel_to_ras, ras_to_pixel

needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                    reason=f"{CHROMIUM} (Debian chromium) is not installed")

REVIEWER = "e2e-reviewer"
VIEW = 512
FOV = 80.0  # navigation.DEFAULT_FOV_MM, the server's default




def _csv(folder: Path) -> dict[int, dict[str, str]]:
    with open(folder / "cmbs.csv", newline="") as fh:
        return {int(r["cmb_id"]): r for r in csv.DictReader(fh)}


def _seg_tags(folder: Path) -> dict[int, dict[str, str]]:
    """Segment tags from the .seg.nrrd header (what Slicer reads), by cmb_id."""
    raw = (folder / "cmbs.seg.nrrd").read_bytes()
    header = raw[: raw.index(b"\n\n")].decode("latin-1")
    out = {}
    for line in header.splitlines():
        if "_Tags:=" in line:
            tags = dict(t.split(":", 1) for t in line.split(":=", 1)[1].split("|") if ":" in t)
            out[int(tags["CMBQuant.cmb_id"])] = tags
    return out


def _expected_pixel(ras_centre: np.ndarray, ras: np.ndarray) -> tuple[float, float]:
    """Where ``ras`` is drawn when the view is centred on ``ras_centre``: computed on an independent headless slice
    node with the same navigation call, so a flipped or shifted page mapping would fail."""
    ctx = headless_context()
    node = add_slice_nodes(ctx, ("Red",))["Red"]
    node.SetDimensions(VIEW, VIEW, 1)
    centre_slice(node, ras_centre, FOV)
    m = matrix_of(node.GetXYToRAS())
    px = ras_to_pixel(m, ras, VIEW)
    assert np.allclose(pixel_to_ras(m, *px, VIEW)[:2], ras[:2], atol=1e-6)
    return px


def _colour_pixels(img: np.ndarray, rgb: tuple[float, float, float], tol: int = 40) -> np.ndarray:
    """(row, col) of pixels drawn in a status colour (the segment outline is drawn opaque)."""
    target = np.array(rgb) * 255
    return np.argwhere(np.abs(img[..., :3].astype(int) - target).max(-1) <= tol)


def _screenshot(page, path: Path) -> np.ndarray:
    page.locator("#cmb-view").screenshot(path=str(path))
    img = np.array(Image.open(path).convert("RGB"))
    assert img.shape[:2] == (VIEW, VIEW), f"device pixel ratio changed the view size: {img.shape}"
    return img


@pytest.fixture(scope="module")
def worklist(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("web")
    cases = make_worklist(root, ("case01",))
    second = cases / "case02"  # a second case for the worklist: a copy under another id
    shutil.copytree(cases / "case01", second)
    info = json.loads((second / "case.json").read_text())
    info["case_id"] = "case02"
    (second / "case.json").write_text(json.dumps(info))
    return cases


@pytest.mark.browser
@needs_chromium
def test_keyboard_review_in_browser(worklist: Path, tmp_path: Path) -> None:
    case = worklist / "case01"
    start = _csv(case)
    with review_server(worklist, REVIEWER, tmp_path / "server.log") as url, browser_page() as page:
        open_page(page, url)
        assert "case01" in page.inner_text("header")  # the worklist select shows the open case
        assert page.locator("#cmb-table tbody tr").count() == len(start)

        a = current_cmb(page)
        press_key(page, "a")  # accept -> definite, auto-advance
        b = current_cmb(page)
        assert b != a
        press_key(page, "n")  # skip b
        c = current_cmb(page)
        assert c not in (a, b)
        press_key(page, "x")  # reject: waits for the reason key
        assert "reason" in page.inner_text("#message")
        press_key(page, "1")  # 1 = vessel
        assert current_cmb(page) != c
        press_key(page, "Control+z")  # undo the rejection: back on c
        assert current_cmb(page) == c
        press_key(page, "s")  # possible
        assert page.get_attribute(f"#cmb-row-{a}", "data-status") == "definite"
        assert page.get_attribute(f"#cmb-row-{c}", "data-status") == "possible"
        assert "2/" in page.inner_text("#progress")

        # jump-to from the table, then the overlay in the status colour at the CMB's position on screen
        for cmb_id, status in ((a, "definite"), (c, "possible"), (b, "pending")):
            n = frame_number(page)
            page.click(f"#cmb-row-{cmb_id}")
            wait_frame_after(page, n)
            assert current_cmb(page) == cmb_id
            img = _screenshot(page, tmp_path / f"view_cmb{cmb_id}_{status}.png")
            ras = np.array([float(start[cmb_id][k]) for k in "ras"])
            ex, ey = _expected_pixel(ras, ras)
            assert abs(ex - (VIEW - 1) / 2) < 1 and abs(ey - (VIEW - 1) / 2) < 1  # jump-to centres it
            hits = _colour_pixels(img, STATUS_COLOURS[status])
            radius = (float(start[cmb_id]["diameter_max_mm"]) / 2 + 1.5) * VIEW / FOV
            near = hits[np.hypot(hits[:, 0] - ey, hits[:, 1] - ex) <= radius]
            assert len(near) >= 20, f"CMB {cmb_id}: {len(near)} {status}-coloured pixels near ({ex:.0f}, {ey:.0f})"
            cy, cx = near.mean(0)
            assert np.hypot(cy - ey, cx - ex) < radius / 2, "the overlay is not centred on the CMB"
        shutil.copy(tmp_path / f"view_cmb{a}_definite.png", tmp_path / "review_screenshot.png")

        # add a missed CMB by clicking the view (centred on b): the new CMB lies where the click points
        click = (VIEW / 2 + 75.0, VIEW / 2 - 65.0)  # ~15 mm from b: a flipped mapping lands ~20 mm off
        b_ras = np.array([float(start[b][k]) for k in "ras"])
        page.click("#add-mode")
        n = frame_number(page)
        page.click("#cmb-view", position={"x": click[0], "y": click[1]})
        wait_frame_after(page, n)
        new_id = current_cmb(page)
        assert new_id not in start, page.inner_text("#message")
        assert page.get_attribute(f"#cmb-row-{new_id}", "data-status") == "definite"

        n = frame_number(page)
        page.keyboard.press("Control+z")  # undo the add: the log keeps both lines, the table drops the CMB
        wait_frame_after(page, n)
        assert page.locator(f"#cmb-row-{new_id}").count() == 0
        n = frame_number(page)
        page.keyboard.press("Control+Shift+z")  # redo brings it back
        wait_frame_after(page, n)
        assert page.locator(f"#cmb-row-{new_id}").count() == 1
        page.screenshot(path=str(tmp_path / "page.png"))
    print(f"screenshots in {tmp_path}")
    with pytest.raises(OSError):  # the server is gone with its port: no orphan left behind
        urllib.request.urlopen(url, timeout=2)

    # the files: what Slicer (and merge, and the cohort table) will read
    log = [json.loads(line) for line in (case / "review.jsonl").read_text().splitlines()]
    assert {e["reviewer"] for e in log} == {REVIEWER}
    assert [(e["action"], e["cmb_id"], e["new_status"], e["reason"]) for e in log[:4]] == [
        ("decide", a, "definite", ""), ("decide", c, "rejected", "vessel"), ("undo", c, "pending", ""),
        ("decide", c, "possible", "")]
    assert [e["action"] for e in log[4:]] == ["add", "undo", "redo"]
    rows = _csv(case)
    assert rows[a]["status"] == "definite" and rows[c]["status"] == "possible" and rows[b]["status"] == "pending"
    assert all(rows[i]["status"] == "pending" for i in start if i not in (a, c))
    assert rows[new_id]["status"] == "definite" and "added_by_reader" in rows[new_id]["flags"]
    tags = _seg_tags(case)
    assert {i: t["CMBQuant.status"] for i, t in tags.items()} == {i: r["status"] for i, r in rows.items()}

    # the added CMB is where the click pointed (an independent mapping of the click pixel to RAS)
    node = add_slice_nodes(headless_context(), ("Red",))["Red"]
    node.SetDimensions(VIEW, VIEW, 1)
    centre_slice(node, b_ras, FOV)
    click_ras = pixel_to_ras(matrix_of(node.GetXYToRAS()), *click, VIEW)
    new_ras = np.array([float(rows[new_id][k]) for k in "ras"])
    assert np.linalg.norm(new_ras - click_ras) < 3.0 + 5.0, (new_ras, click_ras)  # search radius + blob radius
    assert np.linalg.norm(new_ras - b_ras) > 6.0  # and not the CMB the view was centred on

    # the other case of the worklist is untouched
    assert not (worklist / "case02" / "review.jsonl").exists()


@pytest.mark.browser
@needs_chromium
def test_reviewer_asked_in_page_and_worklist_switch(worklist: Path, tmp_path: Path) -> None:
    """Without --reviewer nothing can be decided until the page is given a name; another case opens from the list."""
    server = review_server(worklist, None, tmp_path / "server.log", extra_args=("--views", "axial,coronal"))
    with server as url, browser_page() as page:
        open_page(page, url)
        assert "name" in page.inner_text("#message").lower()
        page.keyboard.press("a")
        page.wait_for_timeout(500)
        assert page.locator("#cmb-table tbody tr").count() == 0
        page.click("#case-select", force=True)  # vuetify lays its field over the input
        page.locator(".v-overlay .v-list-item", has_text="case02").click()
        page.wait_for_function("() => document.querySelector('header').innerText.includes('case02')")
        page.fill("#reviewer", "second-reader")
        n = frame_number(page)
        page.press("#reviewer", "Enter")
        wait_frame_after(page, n)
        assert page.locator("#cmb-table tbody tr").count() > 0
        page.locator("#message").click()
        first = current_cmb(page)
        # the optional coronal view is centred on the CMB too
        page.locator("#cmb-view-Green").screenshot(path=str(tmp_path / "coronal.png"))
        coronal = np.array(Image.open(tmp_path / "coronal.png").convert("RGB"))
        hits = _colour_pixels(coronal, STATUS_COLOURS["pending"])
        assert len(hits) >= 5 and np.hypot(*(hits.mean(0) - 127.5)) < 15, len(hits)
        press_key(page, "s")
        after = current_cmb(page)
        n = frame_number(page)
        page.locator("#cmb-view").hover()
        page.mouse.wheel(0, 120)  # the wheel moves the slice: a new frame, same CMB, nothing decided
        wait_frame_after(page, n)
        assert current_cmb(page) == after
    log = [json.loads(x) for x in (worklist / "case02" / "review.jsonl").read_text().splitlines()]
    assert [(e["reviewer"], e["cmb_id"], e["new_status"]) for e in log] == [("second-reader", first, "possible")]


def test_slicer_and_web_share_the_case_and_lose_nothing(worklist: Path) -> None:
    """A decision made in Slicer (a ReviewSession on another scene) while the web has the case open is picked up
    before the web decides anything, and both decisions end up in the files."""
    case = worklist / "case02"
    web = WebReviewController(worklist, "web-reader")
    web.open_case("case02")
    pending = [r.cmb_id for r in web.session.records() if r.status == "pending"]
    slicer_id, web_id = pending[0], pending[1]
    desktop = ReviewSession.open(case, "slicer-reader")  # "Slicer": its own scene
    desktop.decide("rejected", reason="iron", cmb_id=slicer_id)
    web.select(web_id)  # the web notices the new log line and reloads first
    assert "changed on disk" in web.message
    assert web.session.record(slicer_id).status == "rejected"
    web.select(web_id)
    assert web.key("a") and web.session.record(web_id).status == "definite"
    final = {r.cmb_id: r for r in effective_records(case)}
    assert final[slicer_id].status == "rejected" and final[slicer_id].reason == "iron"
    assert final[web_id].status == "definite"
    log = [json.loads(x) for x in (case / "review.jsonl").read_text().splitlines()]
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))  # one history, no duplicated sequence numbers
    rows = _csv(case)
    assert rows[slicer_id]["status"] == "rejected" and rows[web_id]["status"] == "definite"
    web.close_case()
