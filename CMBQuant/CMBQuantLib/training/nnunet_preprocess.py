"""nnU-Net's own ``DefaultPreprocessor`` run in-process (no worker pool: a 2-core machine gains nothing from one).

Shared by the demo recipe (``train.py``) and ``cmbquant train`` (``training_worker.py``), so both write exactly the
preprocessed layout nnU-Net's trainer reads.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from CMBQuantLib.training.plans import CONFIGURATION


def preprocess_dataset(raw: Path, pre: Path, plans: dict[str, Any], plans_name: str,
                       skip_done: bool = False) -> int:
    """Write ``plans`` and ``dataset.json`` into ``pre`` and preprocess every labelled case of ``raw``; returns how
    many cases were preprocessed (``skip_done``: cases already there are kept, for resumed or appended datasets)."""
    from nnunetv2.preprocessing.preprocessors.default_preprocessor import DefaultPreprocessor
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    pre.mkdir(parents=True, exist_ok=True)
    (pre / f"{plans_name}.json").write_text(json.dumps(plans, indent=2))
    ds = json.loads((raw / "dataset.json").read_text())
    (pre / "dataset.json").write_text(json.dumps(ds, indent=2))
    pm = PlansManager(plans)
    cm = pm.get_configuration(CONFIGURATION)
    out = pre / cm.data_identifier
    out.mkdir(exist_ok=True)
    pp = DefaultPreprocessor(verbose=False)
    cases = sorted(p.name[: -len(".nii.gz")] for p in (raw / "labelsTr").glob("*.nii.gz"))
    if skip_done:
        cases = [c for c in cases if not (out / f"{c}.pkl").exists()]
    for c in cases:
        pp.run_case_save(str(out / c), [str(raw / "imagesTr" / f"{c}_0000.nii.gz")],
                         str(raw / "labelsTr" / f"{c}.nii.gz"), pm, cm, ds)
    return len(cases)
