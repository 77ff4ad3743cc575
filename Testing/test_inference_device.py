"""Device choice: best available by default; an unavailable explicit choice falls back with a visible warning."""
from __future__ import annotations

import logging

import pytest

torch = pytest.importorskip("torch")

from CMBQuantLib.detection.nnunet.device import available_devices, choose_device, torch_info


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    if getattr(torch.backends, "mps", None) is not None:
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_auto_is_cpu_without_gpu_and_silent(no_gpu, caplog):
    with caplog.at_level(logging.WARNING):
        d = choose_device("auto")
    assert (d.name, d.warning) == ("cpu", "")
    assert not caplog.records
    assert available_devices() == ["cpu"]


@pytest.mark.parametrize("requested", ["cuda", "cuda:0", "mps"])
def test_unavailable_choice_falls_back_with_warning(no_gpu, caplog, requested):
    with caplog.at_level(logging.WARNING, logger="CMBQuantLib.detection.nnunet.device"):
        d = choose_device(requested)
    assert d.name == "cpu" and d.requested == requested
    assert f"Device '{requested}' is not available" in d.warning and "Falling back to 'cpu'" in d.warning
    assert any(d.warning == r.getMessage() for r in caplog.records)


def test_cuda_chosen_when_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "Fake GPU")
    assert choose_device("auto").name == "cuda"
    assert choose_device("cuda:1").name == "cuda:1"
    assert choose_device("cpu") .name == "cpu"


def test_unknown_device_is_an_error():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        choose_device("tpu")


def test_versions_reported():
    info = torch_info()
    assert info.torch_version == torch.__version__
    assert info.cuda_version == (torch.version.cuda or "")
