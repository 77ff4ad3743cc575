"""Browser key events -> review commands, from the one shared key table (``keymap.DEFAULT_KEYMAP``).

The browser only forwards keys the keymap binds (``browser_keys``); the server turns them back into the keymap's
key-sequence text and looks the binding up, so Slicer and the web can never disagree about what a key does.
"""
from __future__ import annotations

from dataclasses import dataclass

from CMBQuantLib.review.keymap import (
    CANCEL_KEY,
    DEFAULT_KEYMAP,
    REJECT_REASON_KEYS,
    KeyBinding,
    binding_for,
    normalise,
    web_key,
)

_BROWSER_NAMES = {" ": "Space", "ArrowRight": "Right", "ArrowLeft": "Left", "ArrowUp": "Up", "ArrowDown": "Down"}


@dataclass(frozen=True)
class Command:
    """What a key asks the review to do: ``action`` of the keymap (decide, next, ...) or ``cancel``/``pending``."""

    action: str
    status: str = ""
    reason: str = ""


def browser_keys(keymap: tuple[KeyBinding, ...] = DEFAULT_KEYMAP) -> list[dict[str, object]]:
    """Every key the page must forward (bindings, reject-reason digits, cancel), as KeyboardEvent fields."""
    seqs = [k for b in keymap for k in b.keys] + list(REJECT_REASON_KEYS) + [CANCEL_KEY]
    return [web_key(k) for k in seqs]


def sequence(key: str, ctrl: bool = False, shift: bool = False, alt: bool = False) -> str:
    """A browser ``KeyboardEvent`` as keymap text ("Ctrl+Shift+Z", "Space", "A")."""
    name = _BROWSER_NAMES.get(key, key)
    mods = [m for m, on in (("Ctrl", ctrl), ("Shift", shift), ("Alt", alt)) if on]
    return normalise("+".join(mods + [name]))


class KeyDispatcher:
    """Maps key presses to commands, holding the one piece of key state: 'reject pressed, waiting for a reason'."""

    def __init__(self, keymap: tuple[KeyBinding, ...] = DEFAULT_KEYMAP):
        self.keymap = keymap
        self.awaiting_reason = False

    def press(self, key: str, ctrl: bool = False, shift: bool = False, alt: bool = False) -> Command | None:
        seq = sequence(key, ctrl, shift, alt)
        if self.awaiting_reason:
            if seq in REJECT_REASON_KEYS:
                self.awaiting_reason = False
                return Command("decide", status="rejected", reason=REJECT_REASON_KEYS[seq])
            if seq == normalise(CANCEL_KEY):
                self.awaiting_reason = False
                return Command("cancel")
        binding = binding_for(seq, self.keymap)
        if binding is None:
            return None
        if binding.action == "reject_menu":
            self.awaiting_reason = True
            return Command("reject_menu")
        self.awaiting_reason = False
        return Command(binding.action, status=binding.status, reason=binding.reason)
