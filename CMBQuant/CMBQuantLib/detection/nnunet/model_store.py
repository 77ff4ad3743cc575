"""nnU-Net v2 model folders: validation before loading, a user cache (import zip/folder, list, delete), checksums.

A model is an nnU-Net results folder ``DatasetXXX_Name/Trainer__Plans__configuration/`` holding ``dataset.json``,
``plans.json`` and ``fold_N/checkpoint_*.pth``. The cache lives outside the extension folder (which Slicer replaces on
update): ``$CMBQUANT_HOME/models`` or ``~/.cmbquant/models``; each entry is ``<name>/DatasetXXX_Name/...``.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from CMBQuantLib.core.atomic import sha256_file
from CMBQuantLib.detection.cmb_filter import FilterError, has_filter, load_filter

DEFAULT_CHECKPOINT = "checkpoint_final.pth"
DEMO_MODEL_NAME = "CMBQuantDemo"
DEMO_MODEL_ZIP = Path(__file__).resolve().parents[2] / "models" / f"{DEMO_MODEL_NAME}.zip"
MAX_UNZIPPED_BYTES = 20 * 1024 ** 3


class ModelError(ValueError):
    """A model folder or zip that cannot be used; the message names the path, what is wrong and the fix."""


@dataclass(frozen=True)
class ModelSpec:
    """A validated model ready to load: one trainer folder, the folds (several = ensemble) and checkpoint name."""

    folder: Path  # .../DatasetXXX_Name/Trainer__Plans__configuration
    folds: tuple[str, ...]
    checkpoint_name: str
    configuration: str
    name: str  # DatasetXXX_Name (or the cache entry name)

    @property
    def checkpoints(self) -> list[Path]:
        return [self.folder / f"fold_{f}" / self.checkpoint_name for f in self.folds]


@dataclass
class ModelInfo:
    """What the Slicer model list shows: name, where, which folds/checkpoints exist, labels and channels."""

    name: str
    folder: Path
    trainer: str
    plans: str
    configuration: str
    folds: list[str]
    checkpoints: dict[str, list[str]] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)
    problem: str = ""  # non-empty when validation failed (the entry is listed so the user can delete it)


def home_dir() -> Path:
    """``$CMBQUANT_HOME`` or ``~/.cmbquant`` (``%LOCALAPPDATA%\\CMBQuant`` on Windows)."""
    env = os.environ.get("CMBQUANT_HOME")
    if env:
        return Path(env).expanduser()
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "CMBQuant"
    return Path.home() / ".cmbquant"


def models_dir(home: Path | None = None) -> Path:
    return (home or home_dir()) / "models"


# ---------------------------------------------------------------- locating and validating


def find_trainer_folders(root: Path) -> list[Path]:
    """Folders under ``root`` (itself included, up to 3 levels) that hold ``plans.json`` or ``dataset.json`` and
    a ``fold_*`` folder, or are named ``Trainer__Plans__config``."""
    root = Path(root)
    found = []
    for cand in [root, *sorted(p for p in root.glob("*") if p.is_dir()), *sorted(p for p in root.glob("*/*") if p.is_dir()),
                 *sorted(p for p in root.glob("*/*/*") if p.is_dir())]:
        if cand.name.count("__") == 2 or (cand / "plans.json").exists() or any(cand.glob("fold_*")):
            if cand not in found and not cand.name.startswith("fold_"):
                found.append(cand)
    return found


def _split_trainer_folder(folder: Path) -> tuple[str, str, str]:
    parts = folder.name.split("__")
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else ("", "", "")


def available_folds(folder: Path) -> list[str]:
    return sorted(p.name[len("fold_"):] for p in folder.glob("fold_*") if p.is_dir())


def validate_model(path: str | Path, folds: tuple[str, ...] | list[str] | None = None,
                   checkpoint_name: str = DEFAULT_CHECKPOINT, configuration: str | None = None) -> ModelSpec:
    """Check everything nnU-Net needs BEFORE loading (a failure inside nnU-Net is an unreadable traceback).

    ``folds`` None: every fold present (several = ensemble). Raises :class:`ModelError` naming what is wrong.
    """
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: model folder not found. Pass an nnU-Net results folder "
                         f"(DatasetXXX_Name/Trainer__Plans__config) or import a model zip first.")
    folder = _pick_trainer_folder(path, configuration)
    ds_file, plans_file = folder / "dataset.json", folder / "plans.json"
    if not ds_file.is_file():
        raise ModelError(f"{folder}: no dataset.json. Copy dataset.json from the training's results folder "
                         f"(nnUNet_results/DatasetXXX/Trainer__Plans__config/) next to plans.json.")
    if not plans_file.is_file():
        raise ModelError(f"{folder}: no plans.json. Copy plans.json from the training's results folder next to "
                         f"dataset.json.")
    dataset = _read_json(ds_file)
    plans = _read_json(plans_file)
    channels = dataset.get("channel_names", dataset.get("modality"))
    if not isinstance(channels, dict) or not channels:
        raise ModelError(f"{ds_file}: no 'channel_names'. This is not an nnU-Net v2 dataset.json.")
    if len(channels) != 1:
        raise ModelError(f"{ds_file}: the model expects {len(channels)} input channels ({', '.join(map(str, channels.values()))}); "
                         f"CMBQuant feeds 1 channel (SWI). Use a single-channel SWI model.")
    labels = dataset.get("labels", {})
    if not isinstance(labels, dict) or 1 not in {_as_int(v) for v in labels.values()}:
        raise ModelError(f"{ds_file}: label 1 (CMB) is absent from 'labels' ({labels}). CMBQuant reads label 1 as "
                         f"microbleed; retrain or relabel so that CMB = 1.")
    _, _, config_from_name = _split_trainer_folder(folder)
    confs = plans.get("configurations", {})
    config = configuration or config_from_name or (next(iter(confs)) if len(confs) == 1 else "")
    if not config:
        raise ModelError(f"{folder}: cannot tell the configuration (folder name is not Trainer__Plans__config). "
                         f"Pass one of: {', '.join(confs)}.")
    if config not in confs:
        raise ModelError(f"{plans_file}: configuration '{config}' is not in the plans (has: {', '.join(confs)}). "
                         f"Choose one of those.")
    present = available_folds(folder)
    if not present:
        raise ModelError(f"{folder}: no fold_N (or fold_all) folder. Copy at least one fold folder with its "
                         f"{checkpoint_name} from the training's results.")
    wanted = tuple(str(f) for f in folds) if folds else tuple(present)
    missing = [f for f in wanted if f not in present]
    if missing:
        raise ModelError(f"{folder}: fold(s) {', '.join(missing)} not present (available: {', '.join(present)}). "
                         f"Choose available folds.")
    for f in wanted:
        ck = folder / f"fold_{f}" / checkpoint_name
        if not ck.is_file():
            have = sorted(p.name for p in (folder / f"fold_{f}").glob("*.pth"))
            raise ModelError(f"{folder / f'fold_{f}'}: no {checkpoint_name} (found: {', '.join(have) or 'no checkpoint'}). "
                             f"Choose one of those checkpoint names, or copy {checkpoint_name} from the training.")
    _check_filter(folder)
    name = folder.parent.name if folder.parent.name.startswith("Dataset") else folder.name
    return ModelSpec(folder, wanted, checkpoint_name, config, name)


def _check_filter(folder: Path) -> None:
    """A model folder's CMB filter (``cmb_filter/``, optional) must load too: a broken one fails here, not mid-run."""
    if not has_filter(folder):
        return
    try:
        load_filter(folder)
    except FilterError as exc:
        raise ModelError(str(exc)) from exc


def _pick_trainer_folder(path: Path, configuration: str | None) -> Path:
    if (path / "plans.json").exists() or (path / "dataset.json").exists() or any(path.glob("fold_*")):
        return path
    cands = [c for c in find_trainer_folders(path) if c != path]
    if configuration:
        cands = [c for c in cands if _split_trainer_folder(c)[2] == configuration] or cands
    if not cands:
        raise ModelError(f"{path}: no nnU-Net model inside (expected DatasetXXX_Name/Trainer__Plans__config/ with "
                         f"dataset.json, plans.json and fold_N/). Point to the results folder of a trained model.")
    if len(cands) > 1:
        raise ModelError(f"{path}: several models inside ({', '.join(str(c.relative_to(path)) for c in cands)}). "
                         f"Choose one folder or pass the configuration.")
    return cands[0]


def _as_int(v) -> int | None:
    if isinstance(v, (list, tuple)):  # region-based labels
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: not readable JSON ({exc}). Restore the file from the training's results.") from exc


def model_info(path: Path, name: str | None = None) -> ModelInfo:
    """Describe a model folder (or cache entry); validation problems go in ``problem`` instead of raising."""
    try:
        spec = validate_model(path)
    except ModelError as exc:
        return ModelInfo(name or Path(path).name, Path(path), "", "", "", [], problem=str(exc))
    trainer, plans, config = _split_trainer_folder(spec.folder)
    ds = _read_json(spec.folder / "dataset.json")
    ckpts = {f: sorted(p.name for p in (spec.folder / f"fold_{f}").glob("*.pth")) for f in spec.folds}
    return ModelInfo(name or spec.name, spec.folder, trainer, plans, spec.configuration, list(spec.folds), ckpts,
                     {str(k): v for k, v in ds.get("labels", {}).items()}, ds.get("channel_names", {}))


def checkpoint_sha256(spec: ModelSpec) -> str:
    """sha256 of the checkpoint (one fold) or of the concatenated checkpoint digests in fold order (ensemble)."""
    digests = [sha256_file(p) for p in spec.checkpoints]
    if len(digests) == 1:
        return digests[0]
    return hashlib.sha256("".join(digests).encode()).hexdigest()


# ---------------------------------------------------------------- the user cache


def safe_extract(zip_path: Path, dest: Path) -> None:
    """Extract a zip, rejecting absolute members, ``..`` components, drive letters, symlinks and zip bombs."""
    with zipfile.ZipFile(zip_path) as zf:
        total = 0
        for info in zf.infolist():
            name = info.filename.replace("\\", "/")
            parts = PurePosixPath(name).parts
            if name.startswith("/") or (parts and (":" in parts[0])) or ".." in parts:
                raise ModelError(f"{zip_path}: unsafe member path '{info.filename}' (absolute or with '..'). "
                                 f"Refusing to extract; re-create the zip with relative paths.")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise ModelError(f"{zip_path}: member '{info.filename}' is a symbolic link. Refusing to extract.")
            total += info.file_size
        if total > MAX_UNZIPPED_BYTES:
            raise ModelError(f"{zip_path}: would unpack to {total / 1e9:.1f} GB. Refusing (limit "
                             f"{MAX_UNZIPPED_BYTES / 1e9:.0f} GB).")
        dest_resolved = dest.resolve()
        for info in zf.infolist():
            target = (dest / info.filename).resolve()
            if dest_resolved != target and dest_resolved not in target.parents:
                raise ModelError(f"{zip_path}: member '{info.filename}' would land outside the cache. Refusing.")
        zf.extractall(dest)


def import_model(source: str | Path, name: str | None = None, home: Path | None = None,
                 overwrite: bool = False) -> ModelInfo:
    """Copy a model folder or zip into the cache as ``<name>`` (default: the DatasetXXX_Name), validated first."""
    source = Path(source)
    if not source.exists():
        raise ModelError(f"{source}: not found. Pass a model zip or an nnU-Net results folder.")
    root = models_dir(home)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".import-", dir=root))
    try:
        if source.is_file():
            if not zipfile.is_zipfile(source):
                raise ModelError(f"{source}: not a zip file. Pass a .zip of an nnU-Net results folder.")
            safe_extract(source, staging)
        else:
            spec_src = validate_model(source)
            dst = staging / spec_src.folder.parent.name / spec_src.folder.name
            shutil.copytree(spec_src.folder, dst)
        spec = validate_model(staging)
        entry = name or spec.name
        if not entry or "/" in entry or "\\" in entry or entry.startswith("."):
            raise ModelError(f"'{entry}': not a valid model name. Use letters, digits, '_' or '-'.")
        target = root / entry
        if target.exists():
            if not overwrite:
                raise ModelError(f"{target}: a model named '{entry}' is already imported. Delete it first or "
                                 f"choose another name.")
            shutil.rmtree(target)
        os.replace(staging, target)
        return model_info(target, entry)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def list_models(home: Path | None = None) -> list[ModelInfo]:
    root = models_dir(home)
    if not root.is_dir():
        return []
    return [model_info(p, p.name) for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")]


def delete_model(name: str, home: Path | None = None) -> None:
    target = models_dir(home) / name
    if "/" in name or "\\" in name or name in ("", ".", "..") or not target.is_dir():
        raise ModelError(f"no imported model named '{name}' in {models_dir(home)}.")
    shutil.rmtree(target)


def ensure_demo_model(home: Path | None = None) -> Path:
    """The shipped demo model, imported into the cache on first use (re-imported when the shipped zip changes)."""
    if not DEMO_MODEL_ZIP.is_file():
        raise ModelError(f"{DEMO_MODEL_ZIP}: the demo model is missing from this installation. Reinstall CMBQuant "
                         f"or pass --model with your own model folder.")
    return import_zip_once(DEMO_MODEL_ZIP, home)


def import_zip_once(zip_path: Path, home: Path | None = None) -> Path:
    """Import a zip as ``<zip stem>`` unless that entry already came from the same zip (by sha256)."""
    digest = sha256_file(zip_path)
    name = zip_path.name[:-4] if zip_path.name.lower().endswith(".zip") else zip_path.name
    target = models_dir(home) / name
    stamp = target / ".source_sha256"
    if not (stamp.is_file() and stamp.read_text().strip() == digest):
        import_model(zip_path, name, home, overwrite=True)
        stamp.write_text(digest)
    return target


def resolve_model(model: str | Path | None, home: Path | None = None) -> Path:
    """A path as given, an imported model's name, or (None / 'CMBQuantDemo') the shipped demo model."""
    if model is None or str(model) == DEMO_MODEL_NAME:
        return ensure_demo_model(home)
    p = Path(model).expanduser()
    if p.exists():
        if p.is_file():
            if not zipfile.is_zipfile(p):
                raise ModelError(f"{p}: not a model folder or zip. Pass an nnU-Net results folder or its zip.")
            return import_zip_once(p, home)
        return p
    cached = models_dir(home) / str(model)
    if cached.is_dir():
        return cached
    names = ", ".join(m.name for m in list_models(home)) or "none"
    raise ModelError(f"{model}: neither a folder nor an imported model (imported: {names}). Pass a model folder or "
                     f"import the model first.")
