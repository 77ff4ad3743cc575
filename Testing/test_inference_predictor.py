"""The real nnUNetPredictor on small models the test writes: output types, shapes, determinism, checkpoint trust."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("nnunetv2")

from CMBQuantLib.detection.nnunet.model_store import ModelError, validate_model
from CMBQuantLib.detection.nnunet.predictor import CMBPredictor, PredictorOptions, resolve_defaults
from CMBQuantLib.training.export import build_untrained_model

CPU = PredictorOptions(device="cpu")


@pytest.fixture(scope="module")
def silent_model(tmp_path_factory):
    """Zeroed final layer, bias (0, -10): predicts nothing, deterministically."""
    return build_untrained_model(tmp_path_factory.mktemp("silent"), final_bias=(0.0, -10.0))


@pytest.fixture(scope="module")
def everything_model(tmp_path_factory):
    """Bias (-10, 0): every voxel is CMB."""
    return build_untrained_model(tmp_path_factory.mktemp("all"), final_bias=(-10.0, 0.0))


def test_silent_model_predicts_float16_zero_probability_on_input_grid(silent_model):
    pred = CMBPredictor(validate_model(silent_model), CPU)
    assert pred.info.device.name == "cpu" and pred.info.weights_only
    assert (pred.info.step_size, pred.info.mirroring) == (1.0, False)
    img = np.random.default_rng(0).random((30, 70, 50), dtype=np.float32)  # anisotropic, not a patch multiple
    out = pred.predict(img, (2.5, 1.0, 1.2))
    assert out.probability.dtype == np.float16 and out.labels.dtype == np.uint8
    assert out.probability.shape == img.shape == out.labels.shape
    expected = 1 / (1 + np.exp(10))  # softmax of logits (0, -10)
    assert np.allclose(out.probability.astype(np.float32), expected, atol=1e-5)
    assert out.labels.sum() == 0
    assert out.n_tiles >= 1


def test_everything_model_labels_all_voxels_and_reports_tiles(everything_model):
    pred = CMBPredictor(validate_model(everything_model), PredictorOptions(device="cpu", step_size=0.5))
    seen = []
    out = pred.predict(np.ones((40, 100, 64), np.float32) + np.arange(64, dtype=np.float32), (2.0, 0.9, 0.9),
                       lambda f, m: seen.append(f))
    assert out.labels.all() and float(out.probability.min()) > 0.999
    assert seen[-1] == 1.0 and seen == sorted(seen)
    assert out.n_tiles == pred._predictor.tiles_total > 1  # step 0.5 overlaps tiles


def test_ensemble_of_two_folds_loads_both(tmp_path):
    m = build_untrained_model(tmp_path, final_bias=(0.0, -10.0), fold="0")
    build_untrained_model(tmp_path, final_bias=(0.0, -10.0), fold="1")
    pred = CMBPredictor(validate_model(m), CPU)
    assert len(pred._predictor.list_of_parameters) == 2
    assert pred.spec.folds == ("0", "1")


def test_pickled_objects_need_explicit_trust(tmp_path, silent_model):
    import datetime
    import shutil

    folder = tmp_path / "Dataset1_X" / silent_model.name
    shutil.copytree(silent_model, folder)
    ck = folder / "fold_all" / "checkpoint_final.pth"
    c = torch.load(ck, weights_only=True)
    c["logging"] = {"when": datetime.datetime(2024, 1, 1)}  # not in the weights-only allowlist
    torch.save(c, ck)
    with pytest.raises(ModelError, match="cannot be loaded safely.*trust"):
        CMBPredictor(validate_model(folder), CPU)
    pred = CMBPredictor(validate_model(folder), PredictorOptions(device="cpu", trust_checkpoint=True))
    assert pred.info.weights_only is False


def test_weights_not_matching_plans_is_named(tmp_path, silent_model):
    import shutil

    folder = tmp_path / "Dataset1_X" / silent_model.name
    shutil.copytree(silent_model, folder)
    ck = folder / "fold_all" / "checkpoint_final.pth"
    c = torch.load(ck, weights_only=True)
    c["network_weights"].pop(next(iter(c["network_weights"])))
    torch.save(c, ck)
    with pytest.raises(ModelError, match="weights do not fit the network in plans.json"):
        CMBPredictor(validate_model(folder), CPU)


def test_defaults_trade_speed_for_accuracy_by_device():
    assert resolve_defaults(PredictorOptions(), "cpu") == (1.0, False)
    assert resolve_defaults(PredictorOptions(), "cuda") == (0.5, True)
    assert resolve_defaults(PredictorOptions(step_size=0.5, mirroring=True), "cpu") == (0.5, True)
    with pytest.raises(ValueError, match="step size"):
        resolve_defaults(PredictorOptions(step_size=0.0), "cpu")
