"""A CMB filter loads only from valid, unchanged files; each kind of damage gets its own error naming the file."""
import json
from pathlib import Path

import numpy as np
import pytest

lightgbm = pytest.importorskip("lightgbm")

from CMBQuantLib.detection.cmb_filter import (  # noqa: E402
    FILTER_JSON,
    FilterError,
    FilterSpec,
    load_filter,
    save_filter,
)
from CMBQuantLib.detection.features import FEATURE_NAMES  # noqa: E402
from CMBQuantLib.detection.nnunet.filter_select import select_filter


def _tiny_booster(n_features: int = len(FEATURE_NAMES)):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, n_features))
    y = (X[:, 0] > 0).astype(int)
    return lightgbm.train({"objective": "binary", "verbose": -1, "num_threads": 1}, lightgbm.Dataset(X, y),
                          num_boost_round=5)


@pytest.fixture()
def filter_dir(tmp_path: Path) -> Path:
    return save_filter(_tiny_booster(), FilterSpec(name="t", threshold=0.4), tmp_path / "model" / "cmb_filter")


def test_saved_filter_loads_with_its_threshold_and_scores_rows(filter_dir: Path):
    f = load_filter(filter_dir)
    assert f.threshold == pytest.approx(0.4)
    X = np.zeros((3, len(FEATURE_NAMES)))
    X[0, 0], X[1, 0], X[2, 0] = 3.0, -3.0, 0.5
    p = f.predict(X)
    assert p.shape == (3,) and p[0] > 0.5 > p[1]
    assert len(f.spec.model_sha256) == 64


def test_model_folder_holding_cmb_filter_loads_and_threshold_override_applies(filter_dir: Path):
    f = load_filter(filter_dir.parent, threshold=0.8)
    assert f.threshold == pytest.approx(0.8)
    with pytest.raises(FilterError, match="filter-threshold"):
        load_filter(filter_dir, threshold=1.5)


def test_missing_filter_json_names_the_file(filter_dir: Path):
    (filter_dir / FILTER_JSON).unlink()
    with pytest.raises(FilterError, match=r"filter\.json.*--filter none"):
        load_filter(filter_dir)


def test_corrupt_filter_json_is_reported(filter_dir: Path):
    (filter_dir / FILTER_JSON).write_text("{not json", encoding="utf-8")
    with pytest.raises(FilterError, match="not valid JSON"):
        load_filter(filter_dir)


def test_missing_model_file_is_reported(filter_dir: Path):
    (filter_dir / "model.txt").unlink()
    with pytest.raises(FilterError, match="model file is missing"):
        load_filter(filter_dir)


def test_changed_model_file_fails_its_checksum(filter_dir: Path):
    path = filter_dir / "model.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("learning_rate", "learning_rat3", 1), encoding="utf-8")
    with pytest.raises(FilterError, match="checksum"):
        load_filter(filter_dir)


def test_unreadable_model_without_checksum_is_reported_as_corrupt(filter_dir: Path):
    spec = json.loads((filter_dir / FILTER_JSON).read_text(encoding="utf-8"))
    spec["model_sha256"] = ""
    (filter_dir / FILTER_JSON).write_text(json.dumps(spec), encoding="utf-8")
    (filter_dir / "model.txt").write_text("garbage\n", encoding="utf-8")
    with pytest.raises(FilterError, match="LightGBM text model"):
        load_filter(filter_dir)


def test_filter_for_other_features_is_refused(tmp_path: Path):
    folder = save_filter(_tiny_booster(), FilterSpec(name="t", threshold=0.5), tmp_path / "f")
    spec = json.loads((folder / FILTER_JSON).read_text(encoding="utf-8"))
    spec["features"] = ["response", "not_a_feature"]
    (folder / FILTER_JSON).write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(FilterError, match="not_a_feature"):
        load_filter(folder)


def test_newer_format_version_asks_for_an_update(filter_dir: Path):
    spec = json.loads((filter_dir / FILTER_JSON).read_text(encoding="utf-8"))
    spec["version"] = 99
    (filter_dir / FILTER_JSON).write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(FilterError, match="Update CMBQuant"):
        load_filter(filter_dir)


def test_selection_auto_none_and_path(filter_dir: Path, tmp_path: Path):
    plain = tmp_path / "plain_model"
    plain.mkdir()
    assert select_filter("auto", plain) is None  # a plain nnU-Net model runs one-stage
    assert select_filter("none", filter_dir.parent) is None
    assert select_filter("auto", filter_dir.parent).threshold == pytest.approx(0.4)
    assert select_filter(str(filter_dir), None).spec.name == "t"
    with pytest.raises(FilterError, match="no such CMB filter folder"):
        select_filter(str(tmp_path / "nowhere"), None)
