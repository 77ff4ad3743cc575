"""``cmbquant evaluate PRED REF --out DIR``: score a folder of CMB predictions against reference label maps.

Reads files (SimpleITK), pairs them by case ID, checks geometry, and hands numpy arrays to ``validation``.
Writes ``per_case.csv``, ``lesions.csv``, ``summary.csv``, ``summary.json`` and ``validation.html``.
Bad input ends with one error line naming the file and the fix (exit code 2), never a traceback.
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import SimpleITK as sitk

from CMBQuantLib.detection.validation import metrics as V
from CMBQuantLib.detection.validation.lesion_sizes import size_table

IMAGE_SUFFIXES = (".seg.nrrd", ".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
EXIT_BAD_INPUT = 2


class InputError(Exception):
    """Bad input the user can fix: the message names the file(s) and the fix."""


class GeometryMismatchError(InputError):
    """Prediction and reference are not on the same voxel grid (message names both files)."""


@dataclass(frozen=True)
class GeometryTolerance:
    """Absolute tolerances: mm for spacing and origin, unitless for direction cosines."""

    spacing_mm: float = 1e-3
    origin_mm: float = 1e-3
    direction: float = 1e-4


# --------------------------------------------------------------------------------------------------- files
CASE_SEGMENTATION = "cmbs.seg.nrrd"  # the case-folder contract (docs/case-folder.md)


def case_id_of(path: Path) -> str | None:
    """Case ID = file name without its image extension and without a ``.seg`` suffix; None if not an image."""
    name = path.name
    for suf in IMAGE_SUFFIXES:
        if name.lower().endswith(suf):
            stem = name[: -len(suf)]
            return stem[:-4] if stem.lower().endswith(".seg") else stem
    return None


def find_cases(folder: Path) -> dict[str, Path]:
    """Image files directly in ``folder`` by case ID, or CMBQuant case folders (``<case_id>/cmbs.seg.nrrd``, as
    ``cmbquant run``/``batch`` write them); two files with one ID is an error (which one to score?)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder. Give a folder of NIfTI/NRRD files (one per case).")
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_dir() and (p / CASE_SEGMENTATION).is_file():
            out[p.name] = p / CASE_SEGMENTATION
            continue
        cid = case_id_of(p) if p.is_file() and not p.name.startswith(".") else None
        if cid is None:
            continue
        if cid in out:
            raise InputError(f"{out[cid]} and {p}: two files for case '{cid}'. Keep one of them in {folder}.")
        out[cid] = p
    return out


def _read(path: Path) -> sitk.Image:
    try:
        return sitk.ReadImage(str(path))
    except Exception as exc:  # SimpleITK raises RuntimeError with a long ITK trace
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: cannot be read as an image ({first[:200]}). "
                         "Re-export it as .nii.gz or .nrrd.") from None


def _to_3d_array(img: sitk.Image, path: Path) -> np.ndarray:
    """Voxels as a (z, y, x) array; vector pixels and a 4th axis (segmentation layers) are kept on the last axis."""
    arr = sitk.GetArrayFromImage(img)
    if img.GetDimension() == 4:  # (t, z, y, x) -> (z, y, x, t)
        arr = np.moveaxis(arr, 0, -1)
    elif img.GetDimension() != 3:
        raise InputError(f"{path}: a {img.GetDimension()}D image; CMB masks must be 3D volumes.")
    return arr


def _geometry_3d(img: sitk.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(size xyz, spacing xyz, origin LPS, direction 3x3) of the spatial part of ``img``."""
    d = img.GetDimension()
    size = np.array(img.GetSize()[:3])
    spacing = np.array(img.GetSpacing()[:3], dtype=float)
    origin = np.array(img.GetOrigin()[:3], dtype=float)
    direction = np.array(img.GetDirection(), dtype=float).reshape(d, d)[:3, :3]
    return size, spacing, origin, direction


def check_geometry(pred: sitk.Image, ref: sitk.Image, pred_path: Path, ref_path: Path,
                   tol: GeometryTolerance = GeometryTolerance(), check_size: bool = True) -> None:
    """Raise ``GeometryMismatchError`` naming both files when the grids differ beyond ``tol``."""
    ps, pp, po, pd_ = _geometry_3d(pred)
    rs, rp, ro, rd = _geometry_3d(ref)
    problems = []
    if check_size and not np.array_equal(ps, rs):
        problems.append(f"size {tuple(ps)} vs {tuple(rs)}")
    if not np.allclose(pp, rp, rtol=0, atol=tol.spacing_mm):
        problems.append(f"spacing {tuple(np.round(pp, 4))} vs {tuple(np.round(rp, 4))} mm")
    if check_size and not np.allclose(po, ro, rtol=0, atol=tol.origin_mm):
        problems.append(f"origin {tuple(np.round(po, 3))} vs {tuple(np.round(ro, 3))} mm")
    if not np.allclose(pd_, rd, rtol=0, atol=tol.direction):
        problems.append(f"direction {tuple(np.round(pd_.ravel(), 4))} vs {tuple(np.round(rd.ravel(), 4))}")
    if problems:
        raise GeometryMismatchError(
            f"{pred_path} and {ref_path}: different voxel grids ({'; '.join(problems)}). "
            "Resample the prediction onto the reference image (nearest neighbour) and run again.")


def _paste_segmentation(seg: sitk.Image, mask: np.ndarray, ref: sitk.Image, seg_path: Path, ref_path: Path,
                        tol: GeometryTolerance) -> np.ndarray:
    """Put a (cropped) .seg.nrrd mask into the reference grid.

    Slicer writes segmentations cropped to the segments' extent, so only spacing and direction must equal the
    reference; the origin must sit on a reference voxel and the mask inside the reference image.
    """
    out = np.zeros(ref.GetSize()[::-1], dtype=bool)
    if not mask.any():
        return out
    check_geometry(seg, ref, seg_path, ref_path, tol, check_size=False)
    _, _, so, _ = _geometry_3d(seg)
    _, rsp, ro, rdir = _geometry_3d(ref)
    offset_xyz = np.linalg.solve(rdir * rsp, so - ro)  # seg origin in reference voxel indices
    off = np.round(offset_xyz).astype(int)
    if not np.allclose(offset_xyz, off, atol=tol.origin_mm / rsp.min()):
        raise GeometryMismatchError(
            f"{seg_path} and {ref_path}: the segmentation origin is not on a reference voxel (offset "
            f"{tuple(np.round(offset_xyz, 3))} voxels). Export the segmentation with the reference image as "
            "its reference geometry.")
    zyx_idx = np.argwhere(mask) + off[::-1]
    if (zyx_idx < 0).any() or (zyx_idx >= np.array(out.shape)).any():
        raise GeometryMismatchError(
            f"{seg_path} and {ref_path}: segmented voxels lie outside the reference image. Export the "
            "segmentation with the reference image as its reference geometry.")
    out[tuple(zyx_idx.T)] = True
    return out


def is_segmentation(img: sitk.Image, path: Path) -> bool:
    """A Slicer segmentation file: ``.seg.nrrd`` by name, or an NRRD carrying Slicer's segment metadata."""
    return path.name.lower().endswith(".seg.nrrd") or img.HasMetaDataKey("Segment0_ID") or \
        img.HasMetaDataKey("Segmentation_MasterRepresentation")


def segmentation_mask(img: sitk.Image, arr: np.ndarray) -> np.ndarray:
    """Voxels of a ``.seg.nrrd``'s segments, leaving out those a CMBQuant reader rejected (tag status:rejected).

    A rejected candidate is not a predicted CMB after review; segments without CMBQuant tags all count.
    """
    layers = arr if arr.ndim == 4 else arr[..., None]
    keys = set(img.GetMetaDataKeys())
    mask = np.zeros(layers.shape[:3], bool)
    n = 0
    while f"Segment{n}_ID" in keys:
        tags = img.GetMetaData(f"Segment{n}_Tags") if f"Segment{n}_Tags" in keys else ""
        if "CMBQuant.status:rejected|" not in tags + "|":
            layer = int(img.GetMetaData(f"Segment{n}_Layer")) if f"Segment{n}_Layer" in keys else 0
            value = int(img.GetMetaData(f"Segment{n}_LabelValue")) if f"Segment{n}_LabelValue" in keys else 1
            mask |= layers[..., layer] == value
        n += 1
    return mask if n else (layers != 0).any(-1)


def load_pair(pred_path: Path, ref_path: Path, threshold: float = 0.5,
              tol: GeometryTolerance = GeometryTolerance()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(prediction mask, reference mask, affine array-index -> RAS mm) on the reference grid.

    Predictions: integer label maps (nonzero = CMB), float probability maps (> ``threshold``), or Slicer
    ``.seg.nrrd`` (any nonzero label in any layer = CMB).
    """
    ref_img = _read(ref_path)
    ref = _to_3d_array(ref_img, ref_path)
    if ref.ndim == 4:
        ref = (ref != 0).any(-1)
    ref = ref != 0
    pred_img = _read(pred_path)
    parr = _to_3d_array(pred_img, pred_path)
    if is_segmentation(pred_img, pred_path):
        pmask = segmentation_mask(pred_img, parr)
        pred = _paste_segmentation(pred_img, pmask, ref_img, pred_path, ref_path, tol)
    else:
        check_geometry(pred_img, ref_img, pred_path, ref_path, tol)
        if parr.ndim == 4:
            if np.issubdtype(parr.dtype, np.floating):
                raise InputError(f"{pred_path}: a float image with {parr.shape[-1]} channels (e.g. a softmax). "
                                 "Save only the CMB probability channel, or a label map.")
            parr = (parr != 0).any(-1)
        pred = V.binarize(parr, threshold)
    return pred, ref, affine_ras(ref_img)


def affine_ras(img: sitk.Image) -> np.ndarray:
    """4x4 from numpy index (k, j, i) to RAS mm (Slicer's world), from ITK's LPS geometry."""
    _, sp, origin, direction = _geometry_3d(img)
    m_xyz = direction * sp  # columns: i, j, k steps in LPS
    a = np.eye(4)
    a[:3, :3] = m_xyz[:, ::-1]  # numpy axes are (k, j, i)
    a[:3, 3] = origin
    lps_to_ras = np.diag([-1.0, -1.0, 1.0, 1.0])
    return lps_to_ras @ a


def load_regions(region_files: Mapping[str, Path], regions_dir: Path, case_id: str, ref_path: Path,
                 tol: GeometryTolerance = GeometryTolerance()) -> np.ndarray:
    """The case's region label map (integer array on the reference grid)."""
    if case_id not in region_files:
        raise InputError(f"{regions_dir}: no region map for case '{case_id}'. Add {case_id}.nii.gz there "
                         "or run without --regions.")
    path = region_files[case_id]
    img, ref_img = _read(path), _read(ref_path)
    check_geometry(img, ref_img, path, ref_path, tol)
    arr = _to_3d_array(img, path)
    if arr.ndim != 3:
        raise InputError(f"{path}: a multi-component image; a region map needs one integer label per voxel.")
    return np.rint(arr).astype(np.int64)


def read_region_names(path: Path) -> dict[int, str]:
    """``label,region`` CSV -> {label: region name} (e.g. 1,lobar / 2,deep / 3,infratentorial)."""
    try:
        df = pd.read_csv(path)
    except Exception as exc:
        raise InputError(f"{path}: cannot be read as CSV ({exc}). Give a CSV with columns label,region.") from None
    if not {"label", "region"} <= set(df.columns):
        raise InputError(f"{path}: needs columns label,region (found {', '.join(map(str, df.columns))}). "
                         "Rename the header.")
    try:
        return {int(k): str(v) for k, v in zip(df["label"], df["region"])}
    except (TypeError, ValueError):
        raise InputError(f"{path}: the label column must hold integers.") from None


def read_sites(path: Path) -> dict[str, str]:
    """``case_id,site`` CSV -> mapping (site e.g. internal / external)."""
    try:
        df = pd.read_csv(path, dtype=str)
    except Exception as exc:
        raise InputError(f"{path}: cannot be read as CSV ({exc}). Give a CSV with columns case_id,site.") from None
    if not {"case_id", "site"} <= set(df.columns):
        raise InputError(f"{path}: needs columns case_id,site (found {', '.join(df.columns)}). Rename the header.")
    df = df.dropna(subset=["case_id"])
    return dict(zip(df["case_id"].str.strip(), df["site"].fillna("unknown").str.strip()))


# --------------------------------------------------------------------------------------------------- tables
def lesion_rows(result: V.CaseResult) -> list[dict[str, object]]:
    """One row per TP pair / FP / FN with centroids in world mm (r, a, s) and voxel indices (i, j, k = x, y, z).

    Arrays come from SimpleITK as (k, j, i), so the numpy centroid index is reversed, as in ``cmbs.csv``.
    """
    rows = []
    for m in result.matches:
        row: dict[str, object] = {"case_id": result.case_id, "status": m.status, "distance_mm": m.distance_mm,
                                  "overlap_voxels": m.overlap_voxels}
        for side, c in (("pred", m.pred), ("ref", m.ref)):
            keys = ("label", "n_voxels", "volume_mm3", "r", "a", "s", "i", "j", "k", "region")
            if c is None:
                row.update({f"{side}_{k}": (pd.NA if k in ("label", "n_voxels") else math.nan)
                            if k != "region" else "" for k in keys})
                continue
            i, j, k = c.centroid_index[::-1]
            row.update({f"{side}_label": c.label, f"{side}_n_voxels": c.n_voxels, f"{side}_volume_mm3": c.volume_mm3,
                        f"{side}_r": c.centroid_mm[0], f"{side}_a": c.centroid_mm[1], f"{side}_s": c.centroid_mm[2],
                        f"{side}_i": i, f"{side}_j": j, f"{side}_k": k, f"{side}_region": c.region or ""})
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------------- report
def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(w: float, h: float):
    """A bare Agg figure: no pyplot, so the backend of a host (Slicer, Jupyter) is never switched."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h))
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def _plots(per_case: pd.DataFrame, summary: Sequence[V.CohortSummary]) -> dict[str, str]:
    groups = per_case["site"].fillna("all") if "site" in per_case else pd.Series(["all"] * len(per_case))
    names = sorted(groups.unique())
    colors = {g: f"C{i}" for i, g in enumerate(names)}
    out = {}

    fig, ax = _figure(5.5, 4)
    mean = (per_case["n_pred"] + per_case["n_ref"]) / 2
    diff = per_case["n_pred"] - per_case["n_ref"]
    for g in names:
        sel = (groups == g).to_numpy()
        ax.scatter(mean[sel], diff[sel], alpha=0.7, color=colors[g], label=g)
    s0 = summary[0]
    for y, style in ((s0.count_bias, "-"), (s0.count_loa_low, "--"), (s0.count_loa_high, "--")):
        if np.isfinite(y):
            ax.axhline(y, color="k", ls=style, lw=1)
    ax.set_xlabel("mean CMB count (prediction, reference)")
    ax.set_ylabel("prediction − reference")
    ax.set_title("Bland–Altman, CMB counts (all cases)")
    if len(names) > 1:
        ax.legend()
    out["bland_altman"] = _png(fig)

    fig, ax = _figure(5.5, 4)
    data = [per_case.loc[(groups == g).to_numpy(), "dice"].dropna().to_numpy() for g in names]
    if any(len(d) for d in data):
        ax.boxplot([d if len(d) else [np.nan] for d in data], showfliers=False)
        ax.set_xticks(range(1, len(names) + 1), names)
    rng = np.random.default_rng(0)
    for i, d in enumerate(data, start=1):
        ax.scatter(i + rng.uniform(-0.12, 0.12, len(d)), d, alpha=0.7, color=colors[names[i - 1]], s=14)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("voxel Dice")
    ax.set_title("Per-case Dice")
    out["dice"] = _png(fig)

    fig, ax = _figure(5, 5)
    for g in names:
        sel = (groups == g).to_numpy()
        ax.scatter(per_case["n_ref"][sel], per_case["n_pred"][sel], alpha=0.7, color=colors[g], label=g)
    hi = float(max(per_case["n_ref"].max(), per_case["n_pred"].max(), 1)) + 0.5
    ax.plot([0, hi], [0, hi], "k--", lw=1)
    ax.set_xlim(-0.5, hi)
    ax.set_ylim(-0.5, hi)
    ax.set_xlabel("reference CMB count")
    ax.set_ylabel("predicted CMB count")
    ax.set_title("Counts per case")
    if len(names) > 1:
        ax.legend()
    out["counts"] = _png(fig)
    return out


def write_html(path: Path, per_case: pd.DataFrame, summary: Sequence[V.CohortSummary], settings: Mapping,
               only_pred: Sequence[str], only_ref: Sequence[str]) -> None:
    """Self-contained report: settings, summary table, plots (base64 PNG), per-case table, unpaired IDs."""
    from html import escape

    plots = _plots(per_case, summary)
    summ = pd.DataFrame([s.as_dict() for s in summary]).set_index("group").T
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>CMBQuant validation</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}img{margin:6px}</style></head><body>",
        "<h1>CMB detector validation</h1>",
        "<p>" + escape(", ".join(f"{k} = {v}" for k, v in settings.items())) + "</p>",
        "<p>VALDO 2021 Task 2 style: 26-connected components, one-to-one matching; F1 is undefined (blank) when "
        "the reference has no CMB. Reference points: seed study Dice 0.73 (95 % CI 0.67–0.79) internal, 0.46 "
        "external; SHIVA-CMB F1 0.74 at 0.6 FP/scan.</p>",
        "<h2>Summary</h2>", summ.to_html(float_format=lambda v: f"{v:.3f}", na_rep=""),
        "<h2>Plots</h2>",
        *(f"<img alt='{k}' src='data:image/png;base64,{v}'>" for k, v in plots.items()),
        "<h2>Per case</h2>", per_case.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep=""),
    ]
    if only_pred or only_ref:
        parts += ["<h2>Unpaired case IDs (not scored)</h2>",
                  f"<p>Prediction only: {escape(', '.join(only_pred)) or '—'}</p>",
                  f"<p>Reference only: {escape(', '.join(only_ref)) or '—'}</p>"]
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")


# --------------------------------------------------------------------------------------------------- command
@dataclass
class EvaluationOutput:
    """What ``evaluate_folders`` produced (also written to ``out``)."""

    results: list[V.CaseResult]
    per_case: pd.DataFrame
    lesions: pd.DataFrame
    summary: list[V.CohortSummary]
    only_pred: list[str]
    only_ref: list[str]


def evaluate_folders(pred_dir: Path, ref_dir: Path, out_dir: Path, rule: str = "centroid",
                     distance_mm: float = V.DEFAULT_DISTANCE_MM, threshold: float = 0.5, n_boot: int = 2000,
                     seed: int = 0, sites: Mapping[str, str] | None = None,
                     tol: GeometryTolerance = GeometryTolerance(), html: bool = True,
                     regions_dir: Path | None = None, region_names: Mapping[int, str] | None = None,
                     ) -> EvaluationOutput:
    """Score every case present in both folders and write the tables and the report into ``out_dir``.

    ``regions_dir`` (optional): one region label map per case (``<case_id>.nii.gz`` ..., on the reference grid);
    a lesion's region is the label at its centre of mass, named by ``region_names`` (label -> name).
    """
    pred_dir, ref_dir, out_dir = Path(pred_dir), Path(ref_dir), Path(out_dir)
    preds, refs = find_cases(pred_dir), find_cases(ref_dir)
    common = sorted(set(preds) & set(refs))
    only_pred, only_ref = sorted(set(preds) - set(refs)), sorted(set(refs) - set(preds))
    if not common:
        raise InputError(f"{pred_dir} and {ref_dir}: no case ID in both folders ({len(preds)} predictions, "
                         f"{len(refs)} references). Name files <case_id>.nii.gz (or .nrrd/.seg.nrrd) on both sides.")
    region_files = find_cases(Path(regions_dir)) if regions_dir is not None else None
    results, lesions = [], []
    for cid in common:
        pred, ref, aff = load_pair(preds[cid], refs[cid], threshold, tol)
        regions = load_regions(region_files, Path(regions_dir), cid, refs[cid], tol) if region_files is not None \
            else None
        r = V.evaluate_case(pred, ref, affine=aff, case_id=cid, rule=rule, distance_mm=distance_mm,
                            regions=regions, region_names=region_names)
        results.append(r)
        lesions += lesion_rows(r)
    per_case = pd.DataFrame([r.row() for r in results])
    per_case.insert(1, "pred_file", [preds[c].name for c in common])
    per_case.insert(2, "ref_file", [refs[c].name for c in common])
    if sites:
        per_case.insert(1, "site", [sites.get(c, "unknown") for c in common])
    region_totals = V.pooled_region_counts(results)
    for name in region_totals:  # a region with no lesion in a case has zero counts there, not NaN
        for k in ("tp", "fp", "fn", "n_pred", "n_ref"):
            col = f"{name}_{k}"
            per_case[col] = per_case[col].fillna(0).astype(int) if col in per_case else 0
    lesion_cols = ["case_id", "status", "distance_mm", "overlap_voxels"] + [
        f"{s}_{k}" for s in ("pred", "ref") for k in ("label", "n_voxels", "volume_mm3", "r", "a", "s", "i", "j", "k",
                                                      "region")]
    lesions_df = pd.DataFrame(lesions, columns=lesion_cols)
    summary = V.summarize_cohort(results, sites, n_boot=n_boot, seed=seed)

    out_dir.mkdir(parents=True, exist_ok=True)
    per_case.to_csv(out_dir / "per_case.csv", index=False)
    lesions_df.to_csv(out_dir / "lesions.csv", index=False)
    summ_df = pd.DataFrame([s.as_dict() for s in summary])
    summ_df.insert(1, "match_rule", rule)
    summ_df.insert(2, "distance_mm", distance_mm if rule == "centroid" else math.nan)
    summ_df.insert(3, "threshold", threshold)
    summ_df.to_csv(out_dir / "summary.csv", index=False)
    sizes = size_table(lesions_df, len(common))
    sizes.to_csv(out_dir / "sizes.csv", index=False)
    if region_files is not None:
        pd.DataFrame([{"region": n, **c.as_dict()} for n, c in region_totals.items()],
                     columns=["region", "tp", "fp", "fn", "n_pred", "n_ref", "sensitivity", "precision", "f1",
                              "count_difference", "abs_count_difference"]).to_csv(out_dir / "regions.csv", index=False)
    settings = {"prediction_dir": str(pred_dir), "reference_dir": str(ref_dir), "match_rule": rule,
                "distance_mm": distance_mm if rule == "centroid" else None, "threshold": threshold,
                "connectivity": 26, "n_bootstrap": n_boot, "seed": seed, "ci": "percentile 95 %",
                "icc": "ICC(2,1) absolute agreement (also ICC(3,1) consistency)"}
    doc = {"settings": settings, "groups": [_json_safe(s.as_dict()) for s in summary],
           "by_size": [_json_safe(r) for r in sizes.to_dict("records")],
           "n_scored": len(common), "only_prediction": only_pred, "only_reference": only_ref}
    (out_dir / "summary.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    if html:
        write_html(out_dir / "validation.html", per_case, summary, settings, only_pred, only_ref)
    return EvaluationOutput(results, per_case, lesions_df, summary, only_pred, only_ref)


def _json_safe(d: Mapping[str, object]) -> dict[str, object]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``cmbquant evaluate`` (so the CLI can mount it as a subcommand)."""
    parser.add_argument("pred", type=Path, help="folder of predictions: label/probability maps or .seg.nrrd")
    parser.add_argument("ref", type=Path, help="folder of reference label maps (same case IDs)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created)")
    parser.add_argument("--match", choices=V.MATCH_RULES, default="centroid",
                        help="lesion matching: centre-of-mass distance (VALDO) or any voxel overlap")
    parser.add_argument("--distance-mm", type=float, default=V.DEFAULT_DISTANCE_MM,
                        help="largest centre-of-mass distance of a match, mm (default %(default)s)")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="probability maps: CMB where p > threshold (default %(default)s)")
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default %(default)s)")
    parser.add_argument("--sites", type=Path, default=None, help="CSV case_id,site for an internal/external split")
    parser.add_argument("--regions", type=Path, default=None,
                        help="folder of region label maps <case_id>.nii.gz on the reference grid (per-region counts)")
    parser.add_argument("--region-names", type=Path, default=None,
                        help="CSV label,region naming the values of the region maps (default: the label itself)")
    parser.add_argument("--no-html", action="store_true", help="skip validation.html")


def run(args: argparse.Namespace) -> int:
    """Run the command; 0 on success, 2 on bad input (one message on stderr, no traceback)."""
    try:
        if args.distance_mm <= 0:
            raise InputError(f"--distance-mm {args.distance_mm}: must be > 0 (e.g. 5).")
        if not 0 < args.threshold < 1:
            raise InputError(f"--threshold {args.threshold}: must be between 0 and 1 (e.g. 0.5).")
        if args.bootstrap < 0:
            raise InputError(f"--bootstrap {args.bootstrap}: must be >= 0.")
        sites = None
        if args.sites is not None:
            if not Path(args.sites).is_file():
                raise InputError(f"{args.sites}: no such file. Give a CSV with columns case_id,site.")
            sites = read_sites(args.sites)
        regions_dir = getattr(args, "regions", None)
        names_csv = getattr(args, "region_names", None)
        if names_csv is not None and regions_dir is None:
            raise InputError(f"{names_csv}: --region-names needs --regions DIR (the region label maps).")
        if names_csv is not None and not Path(names_csv).is_file():
            raise InputError(f"{names_csv}: no such file. Give a CSV with columns label,region.")
        region_names = read_region_names(names_csv) if names_csv is not None else None
        res = evaluate_folders(args.pred, args.ref, args.out, rule=args.match, distance_mm=args.distance_mm,
                               threshold=args.threshold, n_boot=args.bootstrap, seed=args.seed, sites=sites,
                               html=not getattr(args, "no_html", False), regions_dir=regions_dir,
                               region_names=region_names)
    except InputError as exc:
        print(f"cmbquant evaluate: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:  # e.g. --out not writable
        print(f"cmbquant evaluate: error: {exc.filename or args.out}: {exc.strerror or exc}. "
              "Choose an --out folder you can write to.", file=sys.stderr)
        return EXIT_BAD_INPUT
    for label, ids in (("prediction only", res.only_pred), ("reference only", res.only_ref)):
        if ids:
            print(f"cmbquant evaluate: {len(ids)} case(s) {label}, not scored: {', '.join(ids)}", file=sys.stderr)
    s = res.summary[0]
    print(f"{s.n_cases} cases: Dice {s.dice_mean:.3f} [{s.dice_ci_low:.3f}, {s.dice_ci_high:.3f}], "
          f"F1 pooled {s.f1_pooled:.3f}, FP/scan {s.fp_per_scan:.2f}; wrote {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m CMBQuantLib.detection.validation.evaluate", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
