"""``cmbquant evaluate`` on held-out phantoms regenerated from the seeds the recipe records reproduces the model
card's per-case numbers (``models/CMBQuantDemo_heldout.json``, written by the recipe's ``evaluate`` stage)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("lightgbm")
pytest.importorskip("nnunetv2")

from CMBQuantLib.detection.nnunet import model_store

CARD_RESULTS = model_store.DEMO_MODEL_ZIP.parent / "CMBQuantDemo_heldout.json"
SHARED = Path(__file__).resolve().parents[2] / "shared"


def _cases() -> list[tuple[str, str]]:
    if not CARD_RESULTS.is_file():
        return []
    doc = json.loads(CARD_RESULTS.read_text(encoding="utf-8"))
    wanted = ("test_mni_s3999", "test_synthseg13_s3130")
    return [(split, name) for split in ("test", "unseen") for name in doc[split]["per_case"] if name in wanted]


@pytest.mark.slow
@pytest.mark.parametrize("split,name", _cases())
def test_heldout_phantom_reproduces_the_model_card(split, name, tmp_path, monkeypatch):
    from CMBQuantLib.detection.validation.evaluate import evaluate_folders
    from CMBQuantLib.pipeline.process_case import BatchInput, process_case
    from CMBQuantLib.pipeline.segmenter_factory import create_segmenter
    from CMBQuantLib.training.filter_data import make_jobs, make_phantom
    from CMBQuantLib.training.filter_train import DEFAULT_PER_MAP
    from CMBQuantLib.volumes.images import write_image

    job = next(j for j in make_jobs(DEFAULT_PER_MAP) if j.name == name)
    if job.anatomy.startswith("synthseg") and not (SHARED / "data" / "synthseg").is_dir():
        pytest.skip("needs ../shared/data/synthseg")
    monkeypatch.setenv("CMBQUANT_HOME", str(tmp_path / "home"))
    ph = make_phantom(job, SHARED)
    swi = write_image(ph.image, ph.geometry, tmp_path / "in" / f"{name}.nii.gz")
    write_image(ph.cmb_labels, ph.geometry, tmp_path / "truth" / f"{name}.nii.gz")
    process_case(BatchInput(name, swi), tmp_path / "cases", create_segmenter(device="cpu"), copy_image=False)
    res = evaluate_folders(tmp_path / "cases", tmp_path / "truth", tmp_path / "eval", n_boot=10, html=False)
    c = res.results[0].counts
    expected = json.loads(CARD_RESULTS.read_text(encoding="utf-8"))[split]["per_case"][name]
    assert [c.tp, c.fp, c.fn] == expected
