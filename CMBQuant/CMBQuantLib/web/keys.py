"""Browser key events -> keymap text, from the one shared key table (``keymap.DEFAULT_KEYMAP``).

The browser only forwards keys the keymap binds (``browser_keys``); the server turns each back into the keymap's
key-sequence text (``sequence``) and hands it to the review controller, whose key state machine
(``review.key_dispatch``) is the one Slicer uses: the two can never disagree about what a key does.
"""
from __future__ import annotations

from CMBQuantLib.review.keymap import CANCEL_KEY, DEFAULT_KEYMAP, REJECT_REASON_KEYS, KeyBinding, key_sequence, web_key

_BROWSER_NAMES = {"ArrowRight": "Right", "ArrowLeft": "Left", "ArrowUp": "Up", "ArrowDown": "Down"}


def browser_keys(keymap: tuple[KeyBinding, ...] = DEFAULT_KEYMAP) -> list[dict[str, object]]:
    """Every key the page must forward (bindings, reject-reason digits, cancel), as KeyboardEvent fields."""
    seqs = [k for b in keymap for k in b.keys] + list(REJECT_REASON_KEYS) + [CANCEL_KEY]
    return [web_key(k) for k in seqs]


def sequence(key: str, ctrl: bool = False, shift: bool = False, alt: bool = False) -> str:
    """A browser ``KeyboardEvent`` (``key`` and modifier flags) as keymap text ("Ctrl+Shift+Z", "Space", "A")."""
    return key_sequence(_BROWSER_NAMES.get(key, key), ctrl, shift, alt)
