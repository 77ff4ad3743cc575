"""``cmbquant train-filter`` end to end on two small reviewed phantom cases (two-stage detector, review scripted from
the phantom's truth, one case held out): a new model version appears in the store with its own filter, parent,
cases, label counts and before/after metrics; the parent is byte-for-byte unchanged; ``cmbquant run`` works with
both, each with its own filter."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("lightgbm")

from train_filter_helpers import small_case  # noqa: E402

from CMBQuantLib.commands.cli import main  # noqa: E402
from CMBQuantLib.core.atomic import sha256_file  # noqa: E402
from CMBQuantLib.core.case_folder import read_case_json, write_case_json  # noqa: E402
from CMBQuantLib.detection.cmb_filter import load_filter  # noqa: E402
from CMBQuantLib.detection.nnunet.model_store import DEMO_MODEL_NAME, models_dir, validate_model  # noqa: E402
from CMBQuantLib.detection.nnunet.model_versions import read_version  # noqa: E402
from CMBQuantLib.review.replay import effective_records  # noqa: E402
from CMBQuantLib.review.session import ReviewSession  # noqa: E402
from CMBQuantLib.training.filter_relearn import train_filter_from_cases  # noqa: E402
from CMBQuantLib.training.synthetic_anchor import LearningCancelled  # noqa: E402


def review_from_truth(folder, ph) -> None:
    """A scripted reader: a candidate within a true CMB's radius + 1.5 mm is definite, any other pending one a
    vessel, the filter's rejections (shown with H) confirmed as "other" except the first one, left untouched."""
    s = ReviewSession.open(folder, reviewer="script", auto_advance=False)
    centres = np.array([[c.r, c.a, c.s] for c in ph.cmbs])
    radii = np.array([c.diameter_mm / 2 + 1.5 for c in ph.cmbs])
    hits = {r.cmb_id for r in s.records() if (np.linalg.norm(centres - r.ras, axis=1) < radii).any()}
    untouched = min(r.cmb_id for r in s.records() if r.decided_by == "cmbquant" and r.cmb_id not in hits)
    for rec in s.records():
        if rec.cmb_id in hits:
            s.decide("definite", cmb_id=rec.cmb_id)
        elif rec.status == "pending":
            s.decide("rejected", reason="vessel", cmb_id=rec.cmb_id)
        elif rec.cmb_id != untouched:
            s.decide("rejected", reason="other", cmb_id=rec.cmb_id)


@pytest.fixture(scope="module")
def learnt(tmp_path_factory):
    root = tmp_path_factory.mktemp("learn")
    home = root / "home"
    folder, ph = small_case(root, home, seed=2)
    review_from_truth(folder, ph)
    copies = []
    for name in ("copy2", "heldout2"):  # the same reviewed scan under other case ids: more rows, and a held-out one
        copies.append(root / "cases" / name)
        shutil.copytree(folder, copies[-1])
        info = read_case_json(copies[-1])
        info.case_id = name
        write_case_json(copies[-1], info)
    parent = models_dir(home) / DEMO_MODEL_NAME
    parent_files = {p.relative_to(parent): sha256_file(p) for p in parent.rglob("*") if p.is_file()}
    rc = main(["train-filter", str(folder), *map(str, copies), "--out", "SiteV1", "--holdout-cases", "heldout2",
               "--synthetic", "none", "--home", str(home), "--result-file", str(root / "result.json")])
    assert rc == 0
    return root, home, folder, parent, parent_files, json.loads((root / "result.json").read_text())


@pytest.mark.slow
def test_the_new_version_is_in_the_store_with_its_record(learnt):
    root, home, folder, parent, parent_files, result = learnt
    child = models_dir(home) / "SiteV1"
    v = read_version(child)
    assert (v.name, v.parent, v.kind, v.cases) == ("SiteV1", DEMO_MODEL_NAME, "filter", ["case2", "copy2"])
    decided = [r for r in effective_records(folder) if r.status != "pending" and r.decided_by != "cmbquant"]
    lost = sum(n for k, n in v.labels["by_kind"].items() if k.endswith("_not_screened"))
    assert v.labels["rows"] == 2 * len(decided) - lost
    assert v.labels["positive_rows"] == 2 * sum(r.status == "definite" for r in decided) - \
        v.labels["by_kind"].get("definite_not_screened", 0)
    assert v.labels["by_kind"]["filter_unreviewed"] == 2 and v.labels["by_kind"]["rejected:other"] >= 2
    filt = load_filter(validate_model(child).folder)
    assert filt.spec.name == "SiteV1" and filt.spec.parent == "CMBQuantDemoFilter"
    assert v.filter_sha256 == filt.spec.model_sha256 != read_version(parent).filter_sha256
    added = filt.booster.num_trees() - load_filter(validate_model(parent).folder).booster.num_trees()
    assert added == v.notes["trees_added"] > 0
    assert v.notes["reader_weight_cmb"] == v.notes["reader_weight_non_cmb"] == 1.0  # no synthetic rows: weight 1
    assert {p.relative_to(parent): sha256_file(p) for p in parent.rglob("*") if p.is_file()} == parent_files


@pytest.mark.slow
def test_the_report_holds_before_and_after_on_the_held_out_case(learnt):
    root, home, _, _, _, result = learnt
    assert result["holdout_cases"] == ["heldout2"] and result["train_cases"] == ["case2", "copy2"]
    b, a = result["before"], result["after"]
    assert b["scans"] == a["scans"] == 1 and b["tp"] + b["fn"] == a["tp"] + a["fn"] > 0
    # trained on the same reviewed scan: better calibrated on it than the parent, no more false positives
    assert a["fp"] <= b["fp"] and a["calibration"]["brier"] < b["calibration"]["brier"]
    v = read_version(models_dir(home) / "SiteV1")
    assert v.metrics["holdout_before"]["fp"] == b["fp"] and v.metrics["holdout_after"]["tp"] == a["tp"]
    html = (models_dir(home) / "SiteV1" / "learning" / "report.html").read_text()
    assert result["report_html"].endswith("SiteV1/learning/report.html") and "data:image/png;base64," in html


@pytest.mark.slow
def test_cmbquant_run_uses_either_version_with_its_own_filter(learnt, monkeypatch):
    root, home, folder, *_ = learnt
    monkeypatch.setenv("CMBQUANT_HOME", str(home))
    image = root / "in" / "case2.nii.gz"
    names = {}
    for model in (DEMO_MODEL_NAME, "SiteV1"):
        out = root / f"run_{model}"
        assert main(["run", str(image), "--out", str(out), "--model", model, "--device", "cpu",
                     "--regions", "none"]) == 0
        names[model] = read_case_json(out / "case2").detection["filter"]["name"]
    assert names == {DEMO_MODEL_NAME: "CMBQuantDemoFilter", "SiteV1": "SiteV1"}
    with pytest.raises(SystemExit):
        main(["train-filter", str(folder)])  # --out is required
    assert main(["train-filter", str(folder), "--out", "SiteV1", "--home", str(home), "--synthetic", "none",
                 "--holdout", "0"]) == 2  # never overwritten


@pytest.mark.slow
def test_cancel_mid_fit_writes_nothing_and_progress_is_reported(learnt):
    root, home, folder, *_ = learnt
    calls, events = [], []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) >= 5  # 1 check per case read, then one per tree: cancelled inside LightGBM's fit

    with pytest.raises(LearningCancelled, match="fitting"):
        train_filter_from_cases([folder], None, "Cancelled", home=home, holdout=0.0, synthetic="none",
                                progress=lambda *e: events.append(e), cancel=cancel)
    assert not (models_dir(home) / "Cancelled").exists() and not (models_dir(home) / ".new-Cancelled").exists()
    assert events[0][:2] == ("labels", 0.0) and "case2" in events[0][2]
