"""Make the checkout under test importable first (worktrees, Slicer, no install needed)."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
for sub in ("CMBQuant", "CMBQuantStats"):
    p = str(ROOT / sub)
    if p not in sys.path:
        sys.path.insert(0, p)

SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="module")
def shipped_filter(tmp_path_factory):
    """The demo model's CMB filter, unpacked into a fresh CMBQUANT_HOME (skips without lightgbm or the zip)."""
    pytest.importorskip("lightgbm")
    from CMBQuantLib.detection.nnunet import model_store
    from CMBQuantLib.detection.nnunet.filter_select import select_filter

    if not model_store.DEMO_MODEL_ZIP.is_file():
        pytest.skip("demo model zip not shipped")
    mp = pytest.MonkeyPatch()
    mp.setenv("CMBQUANT_HOME", str(tmp_path_factory.mktemp("home")))
    try:
        return select_filter("demo", None)
    finally:
        mp.undo()
