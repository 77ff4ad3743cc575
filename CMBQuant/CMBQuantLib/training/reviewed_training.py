"""Reviewed case folders (or an nnU-Net raw dataset) -> the training dataset, the job the worker runs, and the new
model in the store (the parent's CMB filter carried over, version metadata written). Nothing here imports torch.

The work copy of the dataset holds every image divided by its 99th percentile (``cmbquant_input_scaling: p99``):
the demo model's input rule (see ``training/dataset.py``), which the predictor applies to every input of such a model.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from CMBQuantLib.core.atomic import atomic_write_json
from CMBQuantLib.detection.cmb_filter import FILTER_DIR, FILTER_JSON, has_filter
from CMBQuantLib.detection.nnunet.model_store import ModelError, import_model, models_dir, validate_model
from CMBQuantLib.detection.nnunet.model_versions import ModelVersion, record_version
from CMBQuantLib.detection.nnunet.predictor import p99_scale
from CMBQuantLib.export.cohort import case_folders
from CMBQuantLib.export.nnunet_dataset import export_nnunet, nnunet_dataset_name
from CMBQuantLib.pipeline.worker import PACKAGE_PARENT, InferenceClient
from CMBQuantLib.training.filter_relearn import train_filter_from_cases
from CMBQuantLib.training.plans import dataset_json
from CMBQuantLib.volumes.images import read_image, write_image

WORKER_MODULE = "CMBQuantLib.training.training_worker"


@dataclass
class TrainingData:
    """The work copy of the training dataset: ``folder`` = ``<work>/raw/DatasetXXX_Name``."""

    folder: Path
    cases: list[str]
    lesion_voxels: dict[str, int]  # label-1 voxels per case
    skipped: list[str] = field(default_factory=list)  # "case: why" (exported cases with pending CMBs, ...)
    source: str = ""  # "case folders" | "nnU-Net raw dataset <path>"


@dataclass
class TrainJob:
    """What the worker subprocess runs (written as ``<work>/job.json``)."""

    work: Path
    dataset: str  # DatasetXXX_Name under <work>/raw
    plan: str  # default | cpu (resolved)
    device: str
    fold: str
    epochs: int
    iterations_per_epoch: int
    val_iterations: int
    threads: int = 1

    def write(self) -> Path:
        path = self.work / "job.json"
        atomic_write_json(path, {**asdict(self), "work": str(self.work)})
        return path

    @classmethod
    def read(cls, path: Path) -> TrainJob:
        d = json.loads(Path(path).read_text())
        return cls(**{**d, "work": Path(d["work"])})


def check_new_model_name(name: str, home: Path | None = None) -> None:
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"--out {name!r}: a model name takes letters, digits, '_' or '-' only.")
    if (models_dir(home) / name).exists():
        raise ModelError(f"{models_dir(home) / name}: a model named '{name}' is already in the store. Nothing is "
                         "overwritten: choose another --out name.")


def is_raw_dataset(path: Path) -> bool:
    return (path / "dataset.json").is_file() and (path / "imagesTr").is_dir()


def prepare_data(sources: list[Path], work: Path, name: str, dataset_id: int = 501,
                 statuses: tuple[str, ...] = ("definite", "possible"),
                 include_incomplete: bool = False) -> TrainingData:
    """Export reviewed cases (or read a raw dataset) into ``<work>/raw`` with p99 scaling; refuses input that holds
    no CMB label at all (nothing to learn) or no case folder, naming the paths and the fix."""
    out = work / "raw" / nnunet_dataset_name(dataset_id, name)
    shutil.rmtree(out, ignore_errors=True)
    if len(sources) == 1 and is_raw_dataset(sources[0]):
        src, skipped, origin = sources[0], [], f"nnU-Net raw dataset {sources[0]}"
    else:
        folders = [f for s in sources for f in case_folders(s)]
        if not folders:
            raise ValueError(f"{', '.join(map(str, sources))}: no case folders (with case.json) and not an nnU-Net raw "
                             "dataset (dataset.json + imagesTr/). Pass reviewed case folders, a batch output folder "
                             "or a DatasetXXX_Name folder.")
        res = export_nnunet(folders, work / "export", dataset_id, name, statuses, not include_incomplete)
        if not res.cases:
            raise ValueError(f"{', '.join(map(str, sources))}: no fully reviewed case ({'; '.join(res.skipped)}).")
        src, skipped, origin = res.folder, res.skipped, "case folders"
    data = _scaled_copy(src, out, name)
    data.skipped, data.source = skipped, origin
    if not any(data.lesion_voxels.values()):
        why = f" (skipped: {'; '.join(skipped)})" if skipped else ""
        raise ValueError(f"{', '.join(map(str, sources))}: no reviewed CMBs to learn from: {len(data.cases)} usable "
                         f"cases, none with a CMB marked {' or '.join(statuses)}{why}. Review the cases first "
                         "(cmbquant review CASE --reviewer NAME --decide ID definite).")
    return data


def _scaled_copy(src: Path, out: Path, name: str) -> TrainingData:
    meta = json.loads((src / "dataset.json").read_text())
    channels = meta.get("channel_names", meta.get("modality", {}))
    if len(channels) != 1:
        raise ValueError(f"{src / 'dataset.json'}: {len(channels)} input channels; CMBQuant trains on one (SWI). "
                         "Export a single-channel dataset.")
    ending = meta.get("file_ending", ".nii.gz")
    cases, voxels = [], {}
    for img in sorted((src / "imagesTr").glob(f"*_0000{ending}")):
        cid = img.name[: -len(f"_0000{ending}")]
        lab_file = src / "labelsTr" / f"{cid}{ending}"
        if not lab_file.is_file():
            raise ValueError(f"{lab_file}: label missing for training image {img.name}. Add it or remove the image.")
        image, geom = read_image(img)
        label = sitk.GetArrayFromImage(sitk.ReadImage(str(lab_file)))  # read_image refuses blank (all-0) volumes
        if label.shape != image.shape:
            raise ValueError(f"{lab_file}: label grid {label.shape} differs from its image {image.shape}. Re-export.")
        cmb = (np.rint(label) == 1).astype(np.uint8)
        write_image((image / p99_scale(image)).astype(np.float32), geom, out / "imagesTr" / f"{cid}_0000.nii.gz")
        write_image(cmb, geom, out / "labelsTr" / f"{cid}.nii.gz")
        cases.append(cid)
        voxels[cid] = int(cmb.sum())
    if not cases:
        raise ValueError(f"{src / 'imagesTr'}: no training images (*_0000{ending}). Export reviewed cases first.")
    ds = dataset_json(len(cases), name=name, scaling="p99")
    ds["description"] = f"CMBQuant reviewed CMBs from {src}"
    (out / "dataset.json").write_text(json.dumps(ds, indent=2))
    return TrainingData(out, cases, voxels)


def nnunet_env(work: Path, threads: int) -> dict[str, str]:
    """The worker's environment: nnU-Net reads its folders at import, so they are set before it starts."""
    env = dict(os.environ)
    for key, sub in (("nnUNet_raw", "raw"), ("nnUNet_preprocessed", "preprocessed"), ("nnUNet_results", "results")):
        (work / sub).mkdir(parents=True, exist_ok=True)
        env[key] = str(work / sub)
    env.setdefault("nnUNet_n_proc_DA", "0" if (os.cpu_count() or 1) <= 2 else str(min(4, (os.cpu_count() or 2) - 1)))
    env.setdefault("nnUNet_compile", "false")
    env["OMP_NUM_THREADS"] = str(threads)
    return env


def start_worker(job: TrainJob, python: str | None = None) -> InferenceClient:
    """The worker in its own process group (cancel ends the whole tree), JSON progress on its stdout."""
    client = InferenceClient([], job.work, result_file=job.work / "result.json", python=python,
                             env=nnunet_env(job.work, job.threads))
    client.command = [python or client.command[0], "-m", WORKER_MODULE, str(job.write())]  # same client, our worker
    client.env["PYTHONPATH"] = os.pathsep.join([str(PACKAGE_PARENT), *filter(None, [os.environ.get("PYTHONPATH")])])
    client.start()
    return client


def carry_filter(base_folder: Path, model_folder: Path) -> dict[str, Any]:
    """Copy the base model's ``cmb_filter/`` into the new model (None recorded when the base has none)."""
    if not has_filter(base_folder):
        return {"source": "none", "note": f"{base_folder} has no CMB filter: the new model runs one-stage"}
    shutil.copytree(base_folder / FILTER_DIR, model_folder / FILTER_DIR)
    spec = json.loads((model_folder / FILTER_DIR / FILTER_JSON).read_text())
    return {"source": "carried over", "from": str(base_folder), "name": spec.get("name", ""),
            "created": spec.get("created", "")}


def version_notes(data: TrainingData, job: TrainJob, result: dict[str, Any],
                  filter_info: dict[str, Any]) -> dict[str, Any]:
    """What ``version.json`` records beyond parent and cases: the nnU-Net plans, the schedule, the filter's origin."""
    plans = json.loads((Path(result["model_folder"]) / "plans.json").read_text())
    cfg = plans["configurations"][result["configuration"]]
    return {
        "source": data.source, "skipped": data.skipped, "fold": job.fold, "epochs": job.epochs,
        "iterations_per_epoch": job.iterations_per_epoch, "val_iterations": job.val_iterations, "device": job.device,
        "nnunet": {"plans_name": plans["plans_name"], "configuration": result["configuration"], "plan": job.plan,
                   "planner": plans.get("experiment_planner_used", ""), "patch_size": cfg["patch_size"],
                   "spacing": [round(float(x), 4) for x in cfg["spacing"]], "batch_size": cfg["batch_size"],
                   "features_per_stage": cfg["architecture"]["arch_kwargs"]["features_per_stage"],
                   "normalization": cfg["normalization_schemes"], "n_parameters": result.get("n_parameters")},
        "filter": filter_info,
    }


def import_trained(result: dict[str, Any], name: str, parent: str, base_folder: Path, data: TrainingData,
                   job: TrainJob, home: Path | None = None) -> ModelVersion:
    """The worker's model folder + the carried-over filter -> a NEW store entry with its ``version.json``."""
    folder = Path(result["model_folder"])
    filter_info = carry_filter(base_folder, folder)
    validate_model(folder)  # the filter and the weights load before the store sees them
    import_model(folder.parent, name, home, overwrite=False)
    metrics = {k: result.get(k) for k in ("seconds", "seconds_per_iteration", "train_loss")}
    labels = {"lesion_voxels": data.lesion_voxels, "cases_with_cmbs": sum(1 for v in data.lesion_voxels.values() if v)}
    return record_version(models_dir(home) / name, name, parent, data.cases, metrics, kind="nnunet", labels=labels,
                          notes=version_notes(data, job, result, filter_info))


def nnunet_entry_name(name: str, retrain_filter: bool) -> str:
    """The store entry of the trained network: ``NAME``, or ``NAME-nnunet`` when ``NAME`` gets a retrained filter."""
    return f"{name}-nnunet" if retrain_filter else name


def retrain_filter(case_dirs: list[Path], nnunet_name: str, out_name: str, home: Path | None = None,
                   progress=None) -> ModelVersion:
    """``train-filter``'s function on the new network's entry: ``out_name`` = the new nnU-Net + a filter fine-tuned
    on the same reviewed cases (lineage base -> ``nnunet_name`` -> ``out_name``; both entries stay usable)."""
    return train_filter_from_cases(case_dirs, base_model=nnunet_name, out_name=out_name, home=home,
                                   progress=progress).version
