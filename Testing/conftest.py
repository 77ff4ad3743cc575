"""Make the checkout under test importable first (worktrees, Slicer, no install needed)."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for sub in ("CMBQuant", "CMBQuantStats"):
    p = str(ROOT / sub)
    if p not in sys.path:
        sys.path.insert(0, p)

SHARED = ROOT.parent / "shared"
