"""Key presses -> review commands: the one key state machine Slicer and the web share.

The only state is "reject pressed, waiting for a reason": X arms it, a reason digit (``REJECT_REASON_KEYS``) turns it
into a rejection, Escape cancels it, and any other bound key leaves it and does its own job. Keys are keymap text
("Ctrl+Z", "Space", "a"), optionally with modifier flags, so either UI forwards what it receives.
"""
from __future__ import annotations

from dataclasses import dataclass

from CMBQuantLib.review.keymap import (
    CANCEL_KEY,
    DEFAULT_KEYMAP,
    REJECT_REASON_KEYS,
    KeyBinding,
    binding_for,
    key_sequence,
    normalise,
)


@dataclass(frozen=True)
class Command:
    """What a key asks the review to do: ``action`` of the keymap (decide, next, ...), or ``cancel``."""

    action: str
    status: str = ""
    reason: str = ""


class KeyDispatcher:
    """Maps key presses to commands, holding the one piece of key state: 'reject pressed, waiting for a reason'."""

    def __init__(self, keymap: tuple[KeyBinding, ...] = DEFAULT_KEYMAP):
        self.keymap = keymap
        self.awaiting_reason = False

    def reset(self) -> None:
        """Forget a pending reject (a case closed under it)."""
        self.awaiting_reason = False

    def press(self, key: str, ctrl: bool = False, shift: bool = False, alt: bool = False) -> Command | None:
        """The command of one key press, or None for a key that means nothing now (a digit outside the menu)."""
        seq = key_sequence(key, ctrl, shift, alt)
        if self.awaiting_reason:
            if seq in REJECT_REASON_KEYS:
                self.awaiting_reason = False
                return Command("decide", status="rejected", reason=REJECT_REASON_KEYS[seq])
            if seq == normalise(CANCEL_KEY):
                self.awaiting_reason = False
                return Command("cancel")
        binding = binding_for(seq, self.keymap)
        if binding is None:
            return None if seq != normalise(CANCEL_KEY) else Command("cancel")
        if binding.action == "reject_menu":
            self.awaiting_reason = True
            return Command("reject_menu")
        self.awaiting_reason = False
        return Command(binding.action, status=binding.status, reason=binding.reason)
