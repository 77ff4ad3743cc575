"""``cmbquant train``: reviewed phantom case folders -> nnU-Net's real planner and trainer (CPU plan, a few iterations)
-> a NEW model in the store that ``cmbquant run`` uses; bad input is refused with one clear line."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from review_helpers import OracleGroundTruthSegmenter

from CMBQuantLib.commands.cli import main
from CMBQuantLib.core.atomic import sha256_file
from CMBQuantLib.detection.nnunet.model_store import DEMO_MODEL_NAME, resolve_model, validate_model
from CMBQuantLib.detection.nnunet.model_versions import read_version
from CMBQuantLib.detection.nnunet.predictor import p99_scale
from CMBQuantLib.export.nnunet_dataset import export_nnunet
from CMBQuantLib.phantoms.anatomy import builtin_head
from CMBQuantLib.phantoms.phantom import PhantomConfig, synthesize
from CMBQuantLib.pipeline.process_case import BatchInput, process_case
from CMBQuantLib.review.session import ReviewSession
from CMBQuantLib.training.reviewed_training import TrainJob, prepare_data, start_worker
from CMBQuantLib.volumes.images import read_image, write_image

TINY = PhantomConfig(n_cmbs=6, spacing=(2.4, 2.4, 3.6), diameter_mm=(5.0, 9.0), n_sulcal_veins=10,
                     n_medullary_veins=5)


def tiny_phantom(seed: int):
    """A 44 x 78 x 62 voxel phantom from the project's generator (3 mm label grid): ~2 s instead of ~15 s."""
    labels, geom = builtin_head(seed, spacing=3.0)
    return synthesize(labels, geom, seed=seed, config=TINY)


def reviewed_case(root: Path, seed: int, status: str = "definite") -> Path:
    """A real case folder (batch pipeline, ground-truth segmenter) whose every CMB the API then marks ``status``."""
    ph = tiny_phantom(seed)
    src = write_image(ph.image, ph.geometry, root / "input" / f"ph{seed}.nii.gz")
    case = process_case(BatchInput(f"ph{seed}", src), root / "cases", OracleGroundTruthSegmenter(ph.cmb_labels))
    session = ReviewSession.open(case, "script", auto_advance=False)
    for cmb_id in list(session.queue):
        session.decide(status, reason="vessel" if status == "rejected" else "", cmb_id=cmb_id)
    return case


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CMBQUANT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_train_refuses_a_folder_without_cases_or_dataset(tmp_path, home, capsys):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not a case")
    assert main(["train", str(tmp_path / "notes"), "--out", "Mine", "--work", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path / "notes") in err[0]
    assert "no case folders" in err[0] and "nnU-Net raw dataset" in err[0]


def test_train_refuses_cases_without_reviewed_cmbs_and_existing_names(tmp_path, home, capsys):
    case = reviewed_case(tmp_path, 3, status="rejected")
    assert main(["train", str(case), "--out", "Mine", "--work", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert "no reviewed CMBs to learn from: 1 usable cases" in err and "cmbquant review" in err
    resolve_model(DEMO_MODEL_NAME)  # imports the demo model into this (empty) store
    assert main(["train", str(case), "--out", DEMO_MODEL_NAME]) == 2
    err = capsys.readouterr().err
    assert "already in the store" in err and "choose another --out name" in err


def test_train_prints_the_time_estimate_before_it_starts(tmp_path, home, capsys):
    case = reviewed_case(tmp_path, 4)
    rc = main(["train", str(case), "--out", "Mine", "--work", str(tmp_path / "w"), "--device", "cpu",
               "--epochs", "4", "--iterations-per-epoch", "10", "--estimate-only"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "1 training cases (case folders): ph4" in out
    # 45 s start-up + 3 s x 1 case + 4 x (10 + 2) iterations x 0.25 s = 60 s
    assert "estimate: cpu plan on cpu, 1 cases, 4 epochs x 10 iterations (+2 validation) at ~0.25 s/iteration " \
           "-> about 60 s" in out
    assert not (home / "models" / "Mine").exists()
    ds = json.loads((tmp_path / "w" / "raw" / "Dataset501_Mine" / "dataset.json").read_text())
    assert ds["cmbquant_input_scaling"] == "p99" and ds["numTraining"] == 1


@pytest.mark.slow
def test_train_runs_the_nnunet_planner_and_trainer_and_cmbquant_run_uses_the_new_model(tmp_path, home, capsys):
    cases = [reviewed_case(tmp_path, seed) for seed in (1, 2)]
    demo = validate_model(resolve_model(DEMO_MODEL_NAME))
    demo_sha = sha256_file(demo.checkpoints[0])
    work = tmp_path / "work"
    rc = main(["train", *map(str, cases), "--out", "SiteModel", "--work", str(work), "--device", "cpu",
               "--epochs", "2", "--iterations-per-epoch", "3", "--threads", "1"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "estimate: cpu plan on cpu, 2 cases, 2 epochs x 3 iterations" in out
    assert "epoch 2/2" in err  # per-epoch progress from the worker
    # nnU-Net's own planner ran: its fingerprint and plans, with the small CPU network in 3d_fullres
    fingerprint = json.loads((work / "preprocessed" / "Dataset501_SiteModel" / "dataset_fingerprint.json").read_text())
    assert len(fingerprint["spacings"]) == 2 and [round(s, 1) for s in fingerprint["spacings"][0]] == [3.6, 2.4, 2.4]
    spec = validate_model(home / "models" / "SiteModel")
    plans = json.loads((spec.folder / "plans.json").read_text())
    cfg = plans["configurations"]["3d_fullres"]
    assert plans["experiment_planner_used"].startswith("ExperimentPlanner")
    assert cfg["architecture"]["arch_kwargs"]["features_per_stage"] == [8, 16, 32, 64]
    assert cfg["spacing"] == pytest.approx([3.6, 2.4, 2.4], abs=1e-3) and cfg["patch_size"] == [32, 48, 48]
    version = read_version(home / "models" / "SiteModel")
    assert version.kind == "nnunet" and version.parent == DEMO_MODEL_NAME and version.cases == ["ph1", "ph2"]
    assert version.notes["epochs"] == 2 and version.notes["iterations_per_epoch"] == 3
    assert version.notes["nnunet"]["plan"] == "cpu" and version.notes["nnunet"]["configuration"] == "3d_fullres"
    assert version.notes["filter"]["source"] == "carried over" and version.labels["cases_with_cmbs"] == 2
    assert version.filter_sha256 == read_version(home / "models" / DEMO_MODEL_NAME).filter_sha256 != ""
    carried = spec.folder / "cmb_filter" / "model.txt"
    assert sha256_file(carried) == sha256_file(demo.folder / "cmb_filter" / "model.txt")
    assert sha256_file(demo.checkpoints[0]) == demo_sha  # the parent is untouched and still validates
    assert sha256_file(spec.checkpoints[0]) != demo_sha

    ph = tiny_phantom(5)
    src = write_image(ph.image, ph.geometry, tmp_path / "new" / "ph5.nii.gz")
    assert main(["run", str(src), "--out", str(tmp_path / "run"), "--model", "SiteModel", "--regions", "none",
                 "--no-mirroring", "--device", "cpu"]) == 0
    case_json = json.loads((tmp_path / "run" / "ph5" / "case.json").read_text())
    assert case_json["model"]["name"] == "SiteModel"
    assert case_json["model"]["sha256"] == sha256_file(spec.checkpoints[0])
    assert (tmp_path / "run" / "ph5" / "cmbs.csv").read_text().startswith("cmb_id")


def test_cancel_ends_the_training_worker_during_planning_and_imports_nothing(tmp_path, home):
    case = reviewed_case(tmp_path, 6)
    data = prepare_data([case], tmp_path / "w", "Cancelled")
    job = TrainJob(tmp_path / "w", data.folder.name, "cpu", "cpu", "all", 2, 3, 2)
    client = start_worker(job)
    deadline = time.monotonic() + 120
    stages: list[str] = []
    while "plan" not in stages and time.monotonic() < deadline and client.running():
        stages += [ev.stage for ev in client.poll() if ev.type == "progress"]
        time.sleep(0.05)
    assert stages[:2] == ["start", "plan"]  # the worker is inside nnU-Net's fingerprint step now
    psutil = pytest.importorskip("psutil")
    tree = [psutil.Process(client.pid), *psutil.Process(client.pid).children(recursive=True)]
    client.cancel()
    assert not client.running()
    assert not [p.pid for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]  # the whole tree
    assert client.result() is None and not (home / "models" / "Cancelled").exists()
    assert not list((tmp_path / "w").glob("model/*"))


def test_an_nnunet_raw_dataset_is_accepted_and_copied_with_p99_scaling(tmp_path, home, capsys):
    case = reviewed_case(tmp_path, 7)
    raw = export_nnunet([case], tmp_path / "user_raw", dataset_id=42, name="Mine").folder
    data = prepare_data([raw], tmp_path / "w", "Site")
    assert data.source == f"nnU-Net raw dataset {raw}" and data.cases == ["ph7"] and data.lesion_voxels["ph7"] > 0
    original, _ = read_image(raw / "imagesTr" / "ph7_0000.nii.gz")
    scaled, _ = read_image(data.folder / "imagesTr" / "ph7_0000.nii.gz")
    assert scaled == pytest.approx(original / p99_scale(original), abs=1e-5)
    label, _ = read_image(data.folder / "labelsTr" / "ph7.nii.gz")
    assert int(label.sum()) == data.lesion_voxels["ph7"]
    assert main(["train", str(raw), "--out", "Site", "--retrain-filter", "--work", str(tmp_path / "w2")]) == 2
    assert "--retrain-filter learns from reader decisions" in capsys.readouterr().err
