"""The review view a reader decides from, measured in pixels of headless-Chromium screenshots of the real server.

On a phantom case with a known CMB, a known vein crossing the axial slices at 45 degrees and a phase image: the
outline leaves the dark CMB visible inside it; the vein is a dot on the plain slice and a line in the minIP; zooming
out shows more of the head; the phase views are there with phase and absent without; the current row is marked.
The same key sequence through the controller and through the browser writes the same decisions.

Set CMBQUANT_DOCS_SCREENSHOT=1 to save the page (the picture in README and docs/review.md) to docs/images/.
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from web_case import make_worklist
from web_harness import (
    CHROMIUM, ROOT, browser_page, frame_number, open_page, press_key, review_server, wait_frame_after,
)

from CMBQuantLib.core.case_folder import PHASE_FILE
from CMBQuantLib.core.scene import add_slice_nodes, headless_context
from CMBQuantLib.review.controller import ReviewController
from CMBQuantLib.review.navigation import DEFAULT_FOV_MM, centre_slice
from CMBQuantLib.web.viewport import matrix_of, ras_to_pixel

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} (Debian chromium) is not installed")]

VIEW = 512
DOCS_IMAGE = ROOT / "docs" / "images" / "review_web.png"
# (Playwright key, keymap text): decisions mixed with view keys, which must write nothing
KEY_SEQUENCE = (("a", "A"), ("n", "N"), ("m", "M"), ("x", "X"), ("3", "3"), ("-", "-"), ("s", "S"),
                ("Control+z", "Ctrl+Z"), ("Shift+O", "Shift+O"), ("a", "A"), ("q", "Q"), ("Shift+Space", "Shift+Space"),
                ("x", "X"), ("Escape", "Escape"), ("s", "S"))


@pytest.fixture(scope="module")
def worklist(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("webview")
    cases = make_worklist(root, ("case01",), vessel=True, phase=True)
    plain = cases / "case02"  # the same case without phase
    shutil.copytree(cases / "case01", plain)
    (plain / PHASE_FILE).unlink()
    info = json.loads((plain / "case.json").read_text())
    info["case_id"] = "case02"
    (plain / "case.json").write_text(json.dumps(info))
    return cases


def _records(case: Path) -> dict[int, np.ndarray]:
    with open(case / "cmbs.csv", newline="") as fh:
        return {int(r["cmb_id"]): np.array([float(r[k]) for k in "ras"]) for r in csv.DictReader(fh)}



def _shot(page, path: Path, selector: str = "#cmb-view") -> np.ndarray:
    page.locator(selector).screenshot(path=str(path))
    return np.array(Image.open(path).convert("RGB")).astype(float)


def _pixel(centre_ras: np.ndarray, ras: np.ndarray, fov: float = DEFAULT_FOV_MM) -> tuple[float, float]:
    """Where ``ras`` is drawn in the axial view centred on ``centre_ras`` (an independent headless slice node)."""
    node = add_slice_nodes(headless_context(), ("Red",))["Red"]
    node.SetDimensions(VIEW, VIEW, 1)
    centre_slice(node, centre_ras, fov)
    return ras_to_pixel(matrix_of(node.GetXYToRAS()), ras, VIEW)


def _dark_extent_mm(img: np.ndarray, x: float, y: float, fov: float = DEFAULT_FOV_MM) -> float:
    """Longest side (mm) of the dark blob under pixel (x, y): pixels below half the local median brightness, gaps of
    a few pixels bridged (a slab over 2 mm slices draws a 45-degree vein as a dashed line)."""
    grey = img.mean(-1)
    half = int(10 * VIEW / fov)
    x0, y0 = int(round(x)) - half, int(round(y)) - half
    patch = grey[y0:y0 + 2 * half, x0:x0 + 2 * half]
    labels, _ = ndimage.label(ndimage.binary_dilation(patch < 0.5 * np.median(patch), iterations=2))
    near = labels[half - 4:half + 5, half - 4:half + 5]
    assert near.max() > 0, "no dark pixel at the vessel"
    rows, cols = np.nonzero(labels == np.bincount(near[near > 0]).argmax())
    return max(np.ptp(rows), np.ptp(cols)) * fov / VIEW


def _head_extent_mm(img: np.ndarray, fov: float) -> float:
    """Width of the head (non-air columns) in mm."""
    cols = np.nonzero((img.mean(-1) > 25).mean(0) > 0.02)[0]
    return (cols.max() - cols.min() + 1) * fov / VIEW


def test_outline_minip_zoom_and_phase_views_in_the_browser(worklist: Path, tmp_path: Path) -> None:
    case = worklist / "case01"
    records = _records(case)
    vessel = json.loads((worklist.parent / "inputs" / "case01_vessel.json").read_text())
    beside = min(records, key=lambda i: np.linalg.norm(records[i] - vessel["cmb_ras"]))
    with review_server(worklist, "viewer", tmp_path / "server.log") as url, browser_page(1400, 1000) as page:
        open_page(page, url)
        # three magnitude views by default, and the phase beside them (this case has phase)
        for sel in ("#cmb-view", "#cmb-view-Green", "#cmb-view-Yellow", "#cmb-view-phase-Red",
                    "#cmb-view-phase-Green", "#cmb-view-phase-Yellow"):
            assert page.locator(sel).count() == 1, sel
        current = int(page.get_attribute("#cmb-view", "data-cmb"))
        row = page.locator(f"#cmb-row-{current}")
        assert row.get_attribute("data-current") == "true" and "bg-blue" in row.get_attribute("class")
        head = page.inner_text("#cmb-table thead")
        assert "p(CMB) / conf." in head and "Flags" in head

        n = frame_number(page)
        page.click(f"#cmb-row-{beside}")
        wait_frame_after(page, n)
        assert int(page.get_attribute("#cmb-view", "data-cmb")) == beside
        page.wait_for_function(f"() => document.querySelector('#cmb-row-{beside}').dataset.current === 'true'")
        plain = _shot(page, tmp_path / "plain.png")
        if os.environ.get("CMBQUANT_DOCS_SCREENSHOT"):
            DOCS_IMAGE.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(DOCS_IMAGE), full_page=True)

        # outline: the CMB's centre (the view centre) is dark, its outline ring bright; a fill brightens the centre
        grey = plain.mean(-1)
        c = (VIEW - 1) / 2
        yy, xx = np.mgrid[:VIEW, :VIEW]
        dist = np.hypot(yy - c, xx - c)
        centre = np.median(grey[dist <= 2.5])
        ring = np.percentile(grey[(dist > 8) & (dist < 30)], 95)
        assert centre + 60 < ring, (centre, ring)
        press_key(page, "Shift+O")
        filled = np.median(_shot(page, tmp_path / "fill.png").mean(-1)[dist <= 2.5])
        assert filled > centre + 40, (centre, filled)
        press_key(page, "Shift+O")  # back to the outline

        # the vein: a dot on the plain slice, a line (longer extent) in the 8 mm minIP
        vx, vy = _pixel(records[beside], np.array(vessel["centre"]))
        dot = _dark_extent_mm(plain, vx, vy)
        press_key(page, "m")
        minip = _shot(page, tmp_path / "minip.png")
        line = _dark_extent_mm(minip, vx, vy)
        assert dot < 5.0 and line > 7.0 and line > 1.8 * dot, (dot, line)
        page.locator("#slab").click(force=True)  # vuetify lays its field over the input
        page.locator(".v-overlay .v-list-item", has_text="16").click()
        page.wait_for_function("() => document.querySelector('#message').innerText.includes('minIP 16 mm')")
        page.wait_for_function("() => document.querySelector('#cmb-view').complete")
        thick = _dark_extent_mm(_shot(page, tmp_path / "minip16.png"), vx, vy)
        assert thick > line + 3.0, (line, thick)
        press_key(page, "m")

        # zoom out by key and by ctrl+wheel: more of the head in view
        near_extent = _head_extent_mm(_shot(page, tmp_path / "fov80.png"), DEFAULT_FOV_MM)
        for _ in range(3):
            press_key(page, "-")
        assert page.inner_text("#fov") == "156 mm"
        page.locator("#cmb-view").hover()
        page.keyboard.down("Control")
        n = frame_number(page)
        page.mouse.wheel(0, 120)
        wait_frame_after(page, n)
        page.keyboard.up("Control")
        assert page.inner_text("#fov") == "195 mm"
        far_extent = _head_extent_mm(_shot(page, tmp_path / "fov195.png"), 195.3125)
        assert far_extent > near_extent + 30, (near_extent, far_extent)

        # window/level by drag: a wider window greys the image
        before = _shot(page, tmp_path / "wl0.png").mean()
        box = page.locator("#cmb-view").bounding_box()
        n = frame_number(page)
        page.mouse.move(box["x"] + 200, box["y"] + 200)
        page.mouse.down()
        page.mouse.move(box["x"] + 400, box["y"] + 150, steps=4)
        page.mouse.up()
        wait_frame_after(page, n)
        assert "window" in page.inner_text("#message")
        assert abs(_shot(page, tmp_path / "wl1.png").mean() - before) > 5

        # the same case without phase: no phase view
        page.locator("#case-case02").click()
        page.wait_for_function("() => document.querySelector('header').innerText.includes('case02')")
        page.wait_for_timeout(300)
        assert page.locator("#cmb-view-phase-Red").count() == 0 and page.locator("#phase-row").count() == 0
        assert page.locator("#cmb-view-Green").count() == 1
        assert re.search(r"case01\s+0/\d", page.inner_text("#case-list"))  # each case with its progress
    assert not (case / "review.jsonl").exists()  # viewing decides nothing


def _decisions(case: Path) -> list[tuple]:
    return [(e["action"], e["cmb_id"], e["new_status"], e["reason"], e["reviewer"])
            for e in map(json.loads, (case / "review.jsonl").read_text().splitlines())]


def test_the_same_keys_in_the_controller_and_the_browser_write_the_same_decisions(worklist: Path,
                                                                                   tmp_path: Path) -> None:
    by_ctl, by_web = tmp_path / "ctl" / "case02", tmp_path / "web" / "case02"
    for dest in (by_ctl, by_web):
        shutil.copytree(worklist / "case02", dest)
    ctl = ReviewController(by_ctl, "same-reader")
    assert ctl.open_case("case02")
    for _, key in KEY_SEQUENCE:
        ctl.press(key)
    ctl.close_case()
    with review_server(by_web, "same-reader", tmp_path / "server.log") as url, browser_page() as page:
        open_page(page, url)
        for key, _ in KEY_SEQUENCE:
            press_key(page, key)
    expected = _decisions(by_ctl)
    assert [d[0] for d in expected] == ["decide", "decide", "decide", "undo", "decide", "decide"]
    assert [d[3] for d in expected][1] == "iron"
    assert _decisions(by_web) == expected
