"""The default review keys are one unambiguous table the Slicer widget and the web app both bind."""
from __future__ import annotations

import json

import pytest

from CMBQuantLib.core.records import STATUSES
from CMBQuantLib.review.keymap import (
    DEFAULT_KEYMAP,
    REJECT_REASON_KEYS,
    KeyBinding,
    binding_for,
    check_keymap,
    keymap_json,
    web_key,
)
from CMBQuantLib.review.decision_log import REASONS
from CMBQuantLib.review.view_state import VIEW_ACTIONS


def test_default_keys_cover_every_review_action_once():
    check_keymap()
    actions = {b.action for b in DEFAULT_KEYMAP}
    assert actions == {"decide", "reject_menu", "next", "previous", "undo", "redo", "jump",
                       "toggle_filtered"} | set(VIEW_ACTIONS)  # every view action has its key
    assert {b.status for b in DEFAULT_KEYMAP if b.action == "decide"} == {"definite", "possible"}
    assert all(b.status in STATUSES for b in DEFAULT_KEYMAP if b.status)


def test_keys_resolve_case_insensitively_and_reasons_follow_the_reason_list():
    assert binding_for("a").status == "definite"
    assert binding_for("ctrl+z").action == "undo"
    assert binding_for("Meta+Shift+Z").action == "redo"
    assert binding_for("q").action == "view_reset" and binding_for("Shift+w").action == "window_narrower"
    assert binding_for("=").action == "zoom_in" and binding_for("-").action == "zoom_out"
    assert binding_for("k") is None
    assert list(REJECT_REASON_KEYS.values()) == list(REASONS)
    assert REJECT_REASON_KEYS["1"] == "vessel" and REJECT_REASON_KEYS["9"] == "other"


def test_keymap_exports_for_the_browser():
    data = json.loads(keymap_json())
    assert {b["action"] for b in data["bindings"]} >= {"undo", "redo", "jump"}
    assert web_key("Ctrl+Shift+Z") == {"key": "z", "ctrlKey": True, "shiftKey": True, "altKey": False}
    assert web_key("Space")["key"] == " "


def test_a_custom_keymap_with_a_clash_is_refused():
    clash = DEFAULT_KEYMAP + (KeyBinding("jump", ("a",), "Jump"),)
    with pytest.raises(ValueError, match="bound twice"):
        check_keymap(clash)
