"""Model folders are validated before loading, with the specific reason; the cache imports safely."""
from __future__ import annotations

import zipfile

import pytest
from inference_helpers import write_fake_model

from CMBQuantLib.detection.nnunet import model_store as ms
from CMBQuantLib.detection.nnunet.model_store import ModelError, validate_model


def test_valid_folder_gives_spec_with_all_folds_as_ensemble(tmp_path):
    folder = write_fake_model(tmp_path, folds=("0", "1", "all"))
    spec = validate_model(folder)
    assert spec.folds == ("0", "1", "all")
    assert spec.configuration == "3d_fullres"
    assert spec.name == "Dataset777_Fake"
    assert [p.parent.name for p in spec.checkpoints] == ["fold_0", "fold_1", "fold_all"]
    # the dataset folder above works too
    assert validate_model(tmp_path / "Dataset777_Fake", folds=["all"]).folds == ("all",)


def test_missing_dataset_json_is_named(tmp_path):
    folder = write_fake_model(tmp_path, dataset=False)
    with pytest.raises(ModelError, match="no dataset.json"):
        validate_model(folder)


def test_missing_plans_json_is_named(tmp_path):
    folder = write_fake_model(tmp_path, plans=False)
    with pytest.raises(ModelError, match="no plans.json"):
        validate_model(folder)


def test_no_fold_folder_is_named(tmp_path):
    folder = write_fake_model(tmp_path, folds=())
    with pytest.raises(ModelError, match="no fold_N"):
        validate_model(folder)


def test_requested_fold_absent_lists_available(tmp_path):
    folder = write_fake_model(tmp_path, folds=("0",))
    with pytest.raises(ModelError, match=r"fold\(s\) 3 not present \(available: 0\)"):
        validate_model(folder, folds=["3"])


def test_checkpoint_name_absent_lists_present(tmp_path):
    folder = write_fake_model(tmp_path, checkpoint_name="checkpoint_best.pth")
    with pytest.raises(ModelError, match=r"no checkpoint_final.pth \(found: checkpoint_best.pth\)"):
        validate_model(folder)
    assert validate_model(folder, checkpoint_name="checkpoint_best.pth").checkpoint_name == "checkpoint_best.pth"


def test_two_channel_model_is_refused(tmp_path):
    folder = write_fake_model(tmp_path, channels=2)
    with pytest.raises(ModelError, match="expects 2 input channels.*1 channel \\(SWI\\)"):
        validate_model(folder)


def test_model_without_label_1_is_refused(tmp_path):
    folder = write_fake_model(tmp_path, labels={"background": 0, "vessel": 2})
    with pytest.raises(ModelError, match="label 1 \\(CMB\\) is absent"):
        validate_model(folder)


def test_unknown_configuration_is_refused(tmp_path):
    folder = write_fake_model(tmp_path, configuration="2d")
    with pytest.raises(ModelError, match="configuration '2d' is not in the plans"):
        validate_model(folder)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(ModelError, match="model folder not found"):
        validate_model(tmp_path / "nope")


@pytest.mark.parametrize("member", ["../evil.txt", "Dataset1_X/../../evil.txt", "/abs/evil.txt", "C:/evil.txt"])
def test_zip_path_traversal_is_rejected(tmp_path, member):
    z = tmp_path / "bad.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("Dataset1_X/ok.txt", "ok")
        zf.writestr(zipfile.ZipInfo(member), "evil")
    home = tmp_path / "home"
    with pytest.raises(ModelError, match="unsafe member path"):
        ms.import_model(z, home=home)
    assert not (tmp_path / "evil.txt").exists()
    assert not any((home / "models").glob("*")), "nothing left in the cache"


def test_import_list_delete_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("CMBQUANT_HOME", str(tmp_path / "home"))
    write_fake_model(tmp_path / "src", folds=("0", "1"))
    z = tmp_path / "model.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in (tmp_path / "src").rglob("*"):
            if p.is_file():
                zf.write(p, p.relative_to(tmp_path / "src").as_posix())
    info = ms.import_model(z, name="Fake")
    assert info.problem == "" and info.folds == ["0", "1"] and info.channels == {"0": "ch0"}
    assert ms.models_dir() == tmp_path / "home" / "models"
    with pytest.raises(ModelError, match="already imported"):
        ms.import_model(z, name="Fake")
    ms.import_model(tmp_path / "src" / "Dataset777_Fake", name="FromFolder")
    assert [m.name for m in ms.list_models()] == ["Fake", "FromFolder"]
    assert ms.resolve_model("Fake") == tmp_path / "home" / "models" / "Fake"
    ms.delete_model("Fake")
    assert [m.name for m in ms.list_models()] == ["FromFolder"]
    with pytest.raises(ModelError, match="no imported model named 'Fake'"):
        ms.delete_model("Fake")
    with pytest.raises(ModelError, match="no imported model"):
        ms.delete_model("..")


def test_broken_cache_entry_is_listed_with_its_problem(tmp_path):
    (tmp_path / "models" / "Broken" / "Dataset1_X" / "nnUNetTrainer__nnUNetPlans__3d_fullres").mkdir(parents=True)
    (entry,) = ms.list_models(tmp_path)
    assert entry.name == "Broken" and "no dataset.json" in entry.problem


def test_sha256_single_and_ensemble(tmp_path):
    import hashlib

    folder = write_fake_model(tmp_path, folds=("0", "1"))
    one = ms.checkpoint_sha256(validate_model(folder, folds=["0"]))
    assert one == hashlib.sha256(b"fake weights 0").hexdigest()
    both = ms.checkpoint_sha256(validate_model(folder))
    two = hashlib.sha256(b"fake weights 1").hexdigest()
    assert both == hashlib.sha256((one + two).encode()).hexdigest()


def test_home_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("CMBQUANT_HOME", str(tmp_path))
    assert ms.home_dir() == tmp_path
