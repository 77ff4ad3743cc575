"""Optional Python packages installed on first use, only with the user's consent (Slicer's convention).

Both Slicer modules call ``ensure``: CMBQuant for nnU-Net and LightGBM, CMBQuantStats for statsmodels. Asking and
installing are injected (a Qt dialog and ``slicer.util.pip_install`` in Slicer, plain callables in tests), so the rule
"never install without asking, never at import" is tested here without Qt.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Requirement:
    """One package: the name it imports as, and what pip installs for it."""

    import_name: str
    pip_spec: str


def missing(requirements: Sequence[Requirement]) -> list[Requirement]:
    """The requirements whose import name cannot be found (nothing is imported)."""
    return [r for r in requirements if importlib.util.find_spec(r.import_name) is None]


def consent_message(purpose: str, needed: Sequence[Requirement]) -> str:
    specs = ", ".join(r.pip_spec for r in needed)
    return f"{purpose} needs Python packages that are not installed: {specs}. Install them now (internet needed)?"


def ensure(requirements: Sequence[Requirement], purpose: str, confirm: Callable[[str], bool],
           install: Callable[[list[str]], None]) -> bool:
    """True when every requirement is importable, installing the missing ones if ``confirm`` agrees.

    Returns False (and installs nothing) when the user declines; ``install`` errors propagate to the caller, which
    shows them: a failed install must never look like success.
    """
    needed = missing(requirements)
    if not needed:
        return True
    if not confirm(consent_message(purpose, needed)):
        return False
    install([r.pip_spec for r in needed])
    importlib.invalidate_caches()
    return not missing(requirements)
