"""``train-filter``: the reader's decisions on reviewed cases fine-tune a model's CMB filter into a NEW model version.

Steps: labels from the reviewed cases (``reviewed_labels``), a case-level hold-out split, the parent's synthetic
rows (``synthetic_anchor``), a fine-tune of the parent's LightGBM (its trees kept, ``FINE_TUNE_ROUNDS`` trees
added on synthetic + reader rows), before/after scores on the held-out cases (``learning_scores``), and a new store
entry ``<home>/models/<name>/`` with its filter, ``version.json`` and the HTML report. The parent is not touched.

Weighting rule, per class: every synthetic row weighs 1; every reader row of a class (CMB / not a CMB) weighs
``min(max(N_synthetic / N_reader, 1), MAX_READER_WEIGHT)`` with both counts taken in that class, so the reader's
CMBs together count as much as the synthetic CMBs and the reader's rejections as much as the synthetic non-CMBs,
but one reader row never counts more than ``MAX_READER_WEIGHT`` synthetic rows. Per class, because the reader only
judges candidates the filter already scored high: one weight for all would shift the class balance and lift every
unjudged blob (measured: 36 confirmed CMBs at weight 20 took a held-out case from 0 to 12 FP per scan). Positives
get the parent's class weight (``filter_fit.fit_lightgbm``: sqrt(negatives / positives) of the synthetic set), so
the added trees optimise the parent's own objective. The threshold stays the parent's.
"""
from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from CMBQuantLib.detection.cmb_filter import CMBFilter, load_filter, save_filter
from CMBQuantLib.detection.nnunet.model_store import ModelError, home_dir, models_dir, resolve_model, validate_model
from CMBQuantLib.detection.nnunet.model_versions import (
    LEARNING_DIR,
    ModelVersion,
    check_new_name,
    publish_entry,
    read_version,
    record_version,
    stage_entry_from,
    utc_stamp,
)
from CMBQuantLib.export.cohort import case_folders
from CMBQuantLib.training.filter_fit import LGB_PARAMS, stack
from CMBQuantLib.training.learning_report import write_report
from CMBQuantLib.training.learning_scores import holdout_scores
from CMBQuantLib.training.reviewed_labels import CaseLabels, case_labels, summarise
from CMBQuantLib.training.synthetic_anchor import LearningCancelled, synthetic_rows

FINE_TUNE_ROUNDS = 100
MAX_READER_WEIGHT = 10.0  # chosen on ring-artefact phantoms: 20 cost sensitivity, 5 FP (docs/detection.md)
FINE_TUNE_PARAMS = dict(LGB_PARAMS, min_data_in_leaf=5, learning_rate=0.05)

Progress = Callable[[str, float, str], None]


@dataclass
class FilterLearningResult:
    """What one ``train-filter`` run made: the new model, its version record and the before/after scores."""

    name: str
    model_dir: Path
    version: ModelVersion | None
    train_cases: list[str]
    holdout_cases: list[str]
    labels: dict
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)
    report_html: Path | None = None
    seconds: float = 0.0
    seconds_by_step: dict[str, float] = field(default_factory=dict)


def reader_weight(n_synthetic: int, n_reader: int, cap: float = MAX_READER_WEIGHT) -> float:
    """The documented rule for one class: its reader rows together weigh as much as its synthetic rows, each at
    least 1 and at most ``cap``."""
    if n_reader <= 0:
        return 0.0
    return float(min(max(n_synthetic / n_reader, 1.0), cap))


def reader_weights(y_synthetic: np.ndarray, y_reader: np.ndarray) -> tuple[float, float]:
    """(weight of a reader CMB row, of a reader non-CMB row): the rule per class; 1 and 1 without synthetic rows."""
    if not len(y_synthetic):
        return 1.0, 1.0
    s_pos, r_pos = int(np.sum(y_synthetic == 1)), int(np.sum(y_reader == 1))
    return reader_weight(s_pos, r_pos), reader_weight(len(y_synthetic) - s_pos, len(y_reader) - r_pos)


def split_cases(case_ids: list[str], holdout: float = 0.3, holdout_cases: list[str] | None = None,
                seed: int = 0) -> tuple[list[str], list[str]]:
    """(train, held-out) case ids: the named ones, or a seeded random ``holdout`` fraction (at least one each side
    when the fraction is above 0 and there are two cases or more)."""
    if holdout_cases:
        unknown = sorted(set(holdout_cases) - set(case_ids))
        if unknown:
            raise ValueError(f"--holdout-cases {', '.join(unknown)}: not among the reviewed cases "
                             f"({', '.join(case_ids)}). Name case folders you passed.")
        held = [c for c in case_ids if c in set(holdout_cases)]
    else:
        if not 0.0 <= holdout < 1.0:
            raise ValueError(f"--holdout {holdout}: must be a fraction in [0, 1), e.g. 0.3.")
        n = int(round(holdout * len(case_ids)))
        if holdout > 0 and len(case_ids) >= 2:
            n = min(max(n, 1), len(case_ids) - 1)
        order = np.random.default_rng(seed).permutation(len(case_ids))
        held = [case_ids[i] for i in sorted(order[:n])]
    train = [c for c in case_ids if c not in held]
    if not train:
        raise ValueError("every reviewed case is held out: keep at least one case for training.")
    return train, held


def fine_tune(parent: CMBFilter, synthetic: list[dict], X_r: np.ndarray, y_r: np.ndarray, seed: int = 0,
              rounds: int = FINE_TUNE_ROUNDS, progress: Progress | None = None,
              cancel: Callable[[], bool] | None = None):
    """The parent's booster with ``rounds`` trees added on synthetic + reader rows, weighted by the rule above."""
    import lightgbm

    X_s, y_s = stack(synthetic) if synthetic else (np.zeros((0, X_r.shape[1])), np.zeros(0, np.int32))
    w_pos, w_neg = reader_weights(y_s, y_r)
    X = np.concatenate([X_s, X_r]).astype(np.float64)
    y = np.concatenate([y_s, y_r]).astype(np.int32)
    w = np.concatenate([np.ones(len(y_s)), np.where(y_r == 1, w_pos, w_neg)])
    ref_y = y_s if len(y_s) else y
    pos = max(int(ref_y.sum()), 1)
    params = dict(FINE_TUNE_PARAMS, seed=seed, scale_pos_weight=float(np.sqrt(max(len(ref_y) - pos, 1) / pos)))

    def step(env) -> None:
        if cancel is not None and cancel():
            raise LearningCancelled("cancelled while fitting the filter")
        done = env.iteration - env.begin_iteration + 1
        if progress and done % 10 == 0:
            progress("fit", done / rounds, f"tree {done}/{rounds}")

    booster = lightgbm.train(params, lightgbm.Dataset(X, y, weight=w, free_raw_data=False), num_boost_round=rounds,
                             init_model=parent.booster, callbacks=[step])
    # LightGBM stops adding trees when no split meets its requirements (a few dozen rows): say so, never hide it
    added = int(booster.num_trees() - parent.booster.num_trees())
    return booster, {"synthetic_rows": int(len(y_s)), "reader_rows": int(len(y_r)),
                     "reader_weight_cmb": round(w_pos, 3), "reader_weight_non_cmb": round(w_neg, 3),
                     "rounds": rounds, "trees_added": added, "parent_trees": int(parent.booster.num_trees())}


def _collect(case_dirs: list[str | Path]) -> list[Path]:
    folders: list[Path] = []
    for d in case_dirs:
        found = case_folders(d)
        if not found:
            raise ValueError(f"{d}: not a case folder and holds none (a case folder has case.json and "
                             f"cmbs.seg.nrrd). Pass reviewed case folders or the batch output holding them.")
        folders += [f for f in found if f not in folders]
    return folders


def _label_cases(folders: list[Path], parent: CMBFilter, include_possible: bool, say: Progress,
                 cancel: Callable[[], bool] | None) -> dict[str, CaseLabels]:
    """Every case's labels, by case id (a duplicate id is an error: the hold-out split goes by id)."""
    labelled: dict[str, CaseLabels] = {}
    for n, folder in enumerate(folders):
        if cancel is not None and cancel():
            raise LearningCancelled("cancelled while reading the reviewed cases")
        say("labels", n / len(folders), f"screening reviewed case {folder.name} ({n + 1}/{len(folders)})")
        case = case_labels(folder, parent, include_possible)
        if case.case_id in labelled:
            raise ValueError(f"{folder}: case id {case.case_id} is also the id of {labelled[case.case_id].folder}. "
                             f"Pass each case once.")
        labelled[case.case_id] = case
    return labelled


def train_filter_from_cases(case_dirs: list[str | Path], base_model: str | Path | None = None, out_name: str = "",
                            home: Path | None = None, holdout: float = 0.3, holdout_cases: list[str] | None = None,
                            include_possible: bool = False, seed: int = 0, synthetic: str = "auto",
                            shared: Path | None = None, report_dir: Path | None = None,
                            progress: Progress | None = None,
                            cancel: Callable[[], bool] | None = None) -> FilterLearningResult:
    """Reviewed cases -> a new model version whose filter learnt the reader's decisions (see the module doc)."""
    t_all = time.perf_counter()
    home = Path(home) if home is not None else home_dir()
    say = progress or (lambda stage, frac, msg: None)
    timing: dict[str, float] = {}
    check_new_name(out_name, home)  # before minutes of work
    if synthetic not in ("auto", "none"):
        raise ValueError(f"synthetic={synthetic!r}: use 'auto' (the parent's synthetic phantoms) or 'none'.")
    folders = _collect(case_dirs)  # a wrong folder fails before the model loads
    parent_dir = resolve_model(base_model, home)
    parent_spec = validate_model(parent_dir)
    parent = load_filter(parent_spec.folder) if (parent_spec.folder / "cmb_filter").is_dir() else None
    if parent is None:
        raise ModelError(f"{parent_spec.folder}: this model has no CMB filter (cmb_filter/) to fine-tune. Use a "
                         f"two-stage model such as the shipped CMBQuantDemo as --base.")
    parent_name = read_version(parent_dir).name
    t0 = time.perf_counter()
    labelled = _label_cases(folders, parent, include_possible, say, cancel)
    timing["labels"] = round(time.perf_counter() - t0, 1)
    train_ids, held_ids = split_cases(list(labelled), holdout, holdout_cases, seed)
    train_cases, held = [labelled[c] for c in train_ids], [labelled[c] for c in held_ids]
    rows = [c.rows() for c in train_cases]
    X_r = np.concatenate([r[0] for r in rows]) if rows else np.zeros((0, parent.booster.num_feature()))
    y_r = np.concatenate([r[1] for r in rows]) if rows else np.zeros(0, np.int32)
    if len(y_r) == 0:
        raise ValueError("the training cases hold no reader decisions the screen finds (all pending, or none "
                         "matched). Review some candidates first.")
    t0 = time.perf_counter()
    anchor, jobs = ([], []) if synthetic == "none" else synthetic_rows(parent, home, shared, say, cancel)
    timing["synthetic"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    booster, fit_info = fine_tune(parent, anchor, X_r, y_r, seed, progress=say, cancel=cancel)
    timing["fit"] = round(time.perf_counter() - t0, 1)
    threshold = parent.threshold
    new_predict = lambda X: booster.predict(np.asarray(X, np.float64))  # noqa: E731
    before = holdout_scores(held, parent.predict, threshold) if held else {}
    after = holdout_scores(held, new_predict, threshold) if held else {}
    labels = {"train": summarise(train_cases), "holdout": summarise(held)}
    say("write", 0.0, f"writing model {out_name}")
    result = FilterLearningResult(out_name, models_dir(home) / out_name, None, train_ids, held_ids, labels,
                                  before, after, None, 0.0, timing)
    recipe = {"module": __name__, "parent_filter_sha256": parent.spec.model_sha256, "cases": train_ids,
              "holdout_cases": held_ids, "synthetic_jobs": jobs, "include_possible": include_possible, "seed": seed,
              **fit_info}
    timing["total"] = round(time.perf_counter() - t_all, 1)
    result.seconds = timing["total"]
    model_dir, html = _write_version(result, parent, parent_dir, parent_name, booster, recipe, home, report_dir)
    result.report_html = html if report_dir else model_dir / LEARNING_DIR / html.name
    result.seconds = round(time.perf_counter() - t_all, 1)
    say("done", 1.0, f"model {out_name} written ({result.seconds:.0f} s)")
    return result


def _write_version(result: FilterLearningResult, parent: CMBFilter, parent_dir: Path, parent_name: str, booster,
                   recipe: dict, home: Path, report_dir: Path | None) -> tuple[Path, Path]:
    """The new store entry, built in a hidden staging folder and renamed into place (nothing on failure/cancel):
    the parent's files, the new filter, ``version.json`` and the report. Returns (entry, report path)."""
    staging = stage_entry_from(parent_dir, result.name, home)
    try:
        before, after = result.before, result.after
        spec = replace(parent.spec, name=result.name, parent=parent.spec.name, created=utc_stamp(),
                       metrics={"holdout_before": before, "holdout_after": after}, recipe=recipe)
        save_filter(booster, spec, validate_model(staging).folder / "cmb_filter", prescreen=parent.prescreen)
        notes = {k: v for k, v in recipe.items() if k not in ("module", "cases")}
        result.version = record_version(staging, result.name, parent_name, result.train_cases,
                                        {"holdout_before": _brief(before), "holdout_after": _brief(after)},
                                        kind="filter", labels=result.labels["train"], notes=notes)
        html = write_report(result, Path(report_dir) if report_dir else staging / LEARNING_DIR, parent_name)
        return publish_entry(staging, result.name, home), html
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _brief(scores: dict) -> dict:
    """The numbers version.json keeps (the full reliability bins are in the report)."""
    keep = ("scans", "tp", "fp", "fn", "sensitivity", "fp_per_scan")
    out = {k: scores[k] for k in keep if k in scores}
    if scores.get("calibration"):
        out.update(brier=scores["calibration"]["brier"], ece=scores["calibration"]["ece"])
    return out


def result_dict(result: FilterLearningResult) -> dict:
    """JSON-ready form of a result (what ``--json`` prints and the Slicer panel shows)."""
    d = asdict(result)
    d["model_dir"], d["report_html"] = str(result.model_dir), str(result.report_html or "")
    return d
