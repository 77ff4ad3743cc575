"""Default review keys, as data: the Slicer widget and the web app bind the same keys from this one table.

Keys are written like Qt's portable ``QKeySequence`` text ("Ctrl+Z", "Right"); a browser matches "Ctrl" to ctrlKey
or metaKey and the rest to ``KeyboardEvent.key`` (``web_key``). Letters avoid Slicer's own slice-view keys
(b/f step slices, r resets the view, v toggles visibility, g/t toggle label/foreground opacity, [ ] { } switch
volumes, arrows move slices).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from CMBQuantLib.review.decision_log import REASONS


@dataclass(frozen=True)
class KeyBinding:
    """One key: the session call it triggers (``action`` plus ``status``/``reason`` for decisions)."""

    action: str  # decide | reject_menu | next | previous | undo | redo | jump | toggle_filtered | a VIEW_ACTIONS key
    keys: tuple[str, ...]
    label: str
    status: str = ""
    reason: str = ""


DEFAULT_KEYMAP: tuple[KeyBinding, ...] = (
    KeyBinding("decide", ("A",), "Accept as definite CMB", status="definite"),
    KeyBinding("decide", ("S",), "Possible CMB", status="possible"),
    KeyBinding("reject_menu", ("X",), "Reject: then a reason key 1-9"),
    KeyBinding("next", ("N", "Space"), "Next undecided CMB"),
    KeyBinding("previous", ("P", "Shift+Space"), "Previous undecided CMB"),
    KeyBinding("undo", ("Ctrl+Z",), "Undo the last decision"),
    KeyBinding("redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Redo"),
    KeyBinding("jump", ("J",), "Centre the views on the current CMB"),
    KeyBinding("toggle_filtered", ("H",), "Show/hide filter-rejected candidates"),
    # the view (review.view_state.VIEW_ACTIONS): nothing is decided or written by these
    KeyBinding("zoom_in", ("=",), "Zoom in"),
    KeyBinding("zoom_out", ("-",), "Zoom out (more anatomy around the CMB)"),
    KeyBinding("toggle_overlay", ("O",), "Overlay off / on"),
    KeyBinding("overlay_style", ("Shift+O",), "Overlay as outline / fill"),
    KeyBinding("toggle_minip", ("M",), "minIP slab on / off (a vein becomes a line, a CMB stays a dot)"),
    KeyBinding("slab_thinner", (",",), "Thinner minIP slab (2 mm steps, 4-16 mm)"),
    KeyBinding("slab_thicker", (".",), "Thicker minIP slab"),
    KeyBinding("window_wider", ("W",), "Wider window (less contrast)"),
    KeyBinding("window_narrower", ("Shift+W",), "Narrower window (more contrast)"),
    KeyBinding("level_up", ("E",), "Raise the level (darker)"),
    KeyBinding("level_down", ("Shift+E",), "Lower the level (brighter)"),
    KeyBinding("view_reset", ("Q",), "Reset zoom and window/level"),
)

# The mouse, the same in Slicer's slice views and the browser page.
MOUSE_HELP = "mouse: wheel steps slices, Ctrl+wheel zooms, drag sets window/level"

# Keys Slicer's slice views already use (vtkMRMLSliceIntersectionWidget): a review key must never shadow them.
SLICER_VIEW_KEYS = ("B", "F", "R", "V", "Shift+V", "G", "T", "Right", "Left", "Up", "Down", "[", "]", "{", "}")

# After the reject key: digit -> reason (in REASONS order: 1 vessel ... 9 other); Escape cancels.
REJECT_REASON_KEYS: dict[str, str] = {str(n): reason for n, reason in enumerate(REASONS, 1)}
CANCEL_KEY = "Escape"


def binding_for(key: str, keymap: tuple[KeyBinding, ...] = DEFAULT_KEYMAP) -> KeyBinding | None:
    """The binding of a key sequence (case-insensitive), or None."""
    k = normalise(key)
    return next((b for b in keymap if k in {normalise(x) for x in b.keys}), None)


def normalise(key: str) -> str:
    parts = [p.strip() for p in key.replace("Meta+", "Ctrl+").split("+") if p.strip()]
    mods = sorted(p.capitalize() for p in parts[:-1])
    last = parts[-1] if parts else ""
    return "+".join(mods + [last.upper() if len(last) == 1 else last.capitalize()])


def key_sequence(key: str, ctrl: bool = False, shift: bool = False, alt: bool = False) -> str:
    """A key name plus modifier flags (how Qt and browsers report a press) as keymap text: ("z", ctrl) -> "Ctrl+Z".
    A bare space is "Space" (what both report as the key's text)."""
    name = "Space" if key == " " else key
    mods = [m for m, on in (("Ctrl", ctrl), ("Shift", shift), ("Alt", alt)) if on]
    return normalise("+".join(mods + [name]))


def legend(keymap: tuple[KeyBinding, ...] = DEFAULT_KEYMAP) -> list[str]:
    """One line per binding, then the reject reasons: the key help Slicer and the web both show."""
    lines = [f"{' / '.join(b.keys)}: {b.label}" for b in keymap]
    lines.append("after X: " + ", ".join(f"{k} {r}" for k, r in REJECT_REASON_KEYS.items()) + f"; {CANCEL_KEY} cancels")
    lines.append(MOUSE_HELP)
    return lines


def web_key(key: str) -> dict[str, object]:
    """A key sequence as browser ``KeyboardEvent`` fields: {"key", "ctrlKey", "shiftKey", "altKey"}."""
    parts = normalise(key).split("+")
    last = parts[-1]
    name = {"Space": " ", "Escape": "Escape", "Right": "ArrowRight", "Left": "ArrowLeft"}.get(last, last.lower())
    return {"key": name, "ctrlKey": "Ctrl" in parts[:-1], "shiftKey": "Shift" in parts[:-1],
            "altKey": "Alt" in parts[:-1]}


def keymap_json(keymap: tuple[KeyBinding, ...] = DEFAULT_KEYMAP) -> str:
    """The key table for the web client (and docs): bindings, reject reasons, cancel key."""
    return json.dumps({"bindings": [asdict(b) for b in keymap], "reject_reasons": REJECT_REASON_KEYS,
                       "cancel": CANCEL_KEY}, indent=2)


def check_keymap(keymap: tuple[KeyBinding, ...] = DEFAULT_KEYMAP) -> None:
    """Raise if two bindings share a key (a custom keymap must stay unambiguous) or one takes a key of Slicer's
    slice views (the reader would lose slice stepping or the overlay toggle in Slicer)."""
    seen: dict[str, str] = {normalise(k): "Slicer's slice views" for k in SLICER_VIEW_KEYS}
    for b in keymap:
        for k in b.keys:
            n = normalise(k)
            if seen.get(n) == "Slicer's slice views":
                raise ValueError(f"key {k!r} of {b.label!r} is taken by Slicer's slice views; pick another key")
            if n in seen:
                raise ValueError(f"key {k!r} bound twice: {seen[n]!r} and {b.label!r}")
            seen[n] = b.label
