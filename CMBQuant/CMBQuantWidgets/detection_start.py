"""Starting a detection run from Slicer: what it needs installed (asked for), its input file, its worker process.

torch comes only through Slicer's PyTorch extension; nnU-Net and LightGBM through pip, after the user agrees. The
worker runs on Slicer's own Python (PythonSlicer), so what is installed here is what it imports.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import slicer

from CMBQuantLib.core.dependencies import ensure
from CMBQuantLib.pipeline.inference_requirements import INFERENCE_PURPOSE, INFERENCE_REQUIREMENTS
from CMBQuantLib.pipeline.run_input import prepare_run_input
from CMBQuantLib.pipeline.run_options import RunOptions
from CMBQuantLib.pipeline.worker import InferenceClient

TEMP_FOLDER = "CMBQuant"


def ensure_inference_dependencies() -> bool:
    """True when torch, nnU-Net and LightGBM are importable; installs only with the user's consent, never at import."""
    try:
        import PyTorchUtils  # provided by the PyTorch extension (EXTENSION_DEPENDS)

        if PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=True) is None:
            return False
    except ImportError:
        slicer.util.errorDisplay("Install the PyTorch extension from the Extension Manager first.")
        return False
    return ensure(INFERENCE_REQUIREMENTS, INFERENCE_PURPOSE, slicer.util.confirmOkCancelDisplay, pip_install)


def pip_install(specs: list[str]) -> None:
    slicer.util.pip_install(" ".join(specs))


def start_detection(volume: Any, options: RunOptions) -> InferenceClient | None:
    """The started worker on ``volume`` (its file, else a temporary save), or None if the user declined installing."""
    if not ensure_inference_dependencies():
        return None
    run = prepare_run_input(volume, Path(slicer.app.temporaryPath) / TEMP_FOLDER, save=slicer.util.saveNode)
    python = Path(slicer.app.applicationDirPath()) / "PythonSlicer"
    client = InferenceClient([str(run.image)], str(run.out_dir), options,
                             python=str(python) if python.exists() else None)
    client.start()
    return client
