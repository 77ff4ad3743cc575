"""Export an inference-only model: weights (tensors only, loadable with ``weights_only=True``), plans, dataset.json.

Training checkpoints also hold optimiser state and logs (1-2x the size, and pickled objects); the shipped model needs
none of that.
"""
from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

from CMBQuantLib.training.plans import CONFIGURATION, DATASET_NAME, PLANS_NAME, dataset_json, small_plans

TRAINER_DIR = f"nnUNetTrainer__{PLANS_NAME}__{CONFIGURATION}"


def strip_checkpoint(src: Path, dst: Path, configuration: str = CONFIGURATION, fold: str = "all") -> Path:
    """Keep ``network_weights`` (as float32 tensors), trainer name, configuration and mirroring axes."""
    import torch

    ckpt = torch.load(src, map_location="cpu", weights_only=False)  # our own training output: trusted
    out = {
        "network_weights": {k: v.float().contiguous() for k, v in ckpt["network_weights"].items()},
        "trainer_name": "nnUNetTrainer",
        "init_args": {"configuration": configuration, "fold": fold},
        "inference_allowed_mirroring_axes": list(ckpt.get("inference_allowed_mirroring_axes") or (0, 1, 2)),
        "current_epoch": int(ckpt.get("current_epoch", 0)),
    }
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, dst)
    return dst


def write_model_folder(out: Path, plans: dict, dataset: dict, weights_src: Path | None = None,
                       checkpoint: dict | None = None, fold: str = "all",
                       checkpoint_name: str = "checkpoint_final.pth") -> Path:
    """``out/DatasetXXX/nnUNetTrainer__Plans__config/{plans,dataset}.json + fold_<f>/<checkpoint_name>``."""
    model = out / plans["dataset_name"] / TRAINER_DIR.replace(PLANS_NAME, plans["plans_name"])
    (model / f"fold_{fold}").mkdir(parents=True, exist_ok=True)
    (model / "plans.json").write_text(json.dumps(plans, indent=2))
    (model / "dataset.json").write_text(json.dumps(dataset, indent=2))
    dst = model / f"fold_{fold}" / checkpoint_name
    if weights_src is not None:
        strip_checkpoint(weights_src, dst, fold=fold)
    elif checkpoint is not None:
        import torch

        torch.save(checkpoint, dst)
    return model


def zip_model(dataset_dir: Path, zip_path: Path, extra: dict[str, Path] | None = None) -> Path:
    """Zip ``DatasetXXX_Name/`` (members relative to its parent) plus extra files at the zip root."""
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(dataset_dir.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(dataset_dir.parent).as_posix())
        for name, p in (extra or {}).items():
            zf.write(p, name)
    return zip_path


def export_demo_model(work: Path, zip_out: Path | None = None) -> Path:
    results = work / "results" / DATASET_NAME / f"CMBQuantDemoTrainer__{PLANS_NAME}__{CONFIGURATION}"
    export = work / "export"
    shutil.rmtree(export, ignore_errors=True)
    plans = json.loads((results / "plans.json").read_text())
    dataset = json.loads((results / "dataset.json").read_text())
    write_model_folder(export, plans, dataset, weights_src=results / "fold_all" / "checkpoint_final.pth")
    zip_out = zip_out or work / "CMBQuantDemo.zip"
    zip_model(export / DATASET_NAME, zip_out)
    print(f"exported {zip_out} ({zip_out.stat().st_size / 1e6:.2f} MB)", flush=True)
    return zip_out


def build_untrained_model(out: Path, plans: dict | None = None, final_bias: tuple[float, float] | None = None,
                          seed: int = 0, fold: str = "all") -> Path:
    """A valid model folder with random weights (tests, benchmarks). ``final_bias`` zeroes the last layer's weights
    and sets its bias per class, e.g. (0, -10): predicts nothing, deterministically."""
    import torch
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager


    plans = plans or small_plans()
    pm = PlansManager(plans)
    cm = pm.get_configuration(CONFIGURATION)
    torch.manual_seed(seed)
    net = nnUNetTrainer.build_network_architecture(pm, cm, 1, 2, enable_deep_supervision=False)
    sd = net.state_dict()
    if final_bias is not None:
        last_w = [k for k in sd if k.startswith("decoder.seg_layers") and k.endswith("weight")][-1]
        sd[last_w].zero_()
        sd[last_w[:-len("weight")] + "bias"].copy_(torch.tensor(final_bias, dtype=torch.float32))
    ckpt = {"network_weights": sd, "trainer_name": "nnUNetTrainer",
            "init_args": {"configuration": CONFIGURATION, "fold": fold},
            "inference_allowed_mirroring_axes": [0, 1, 2]}
    return write_model_folder(out, plans, dataset_json(1), checkpoint=ckpt, fold=fold)
