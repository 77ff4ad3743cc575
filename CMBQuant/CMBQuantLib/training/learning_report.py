"""The ``train-filter`` report: ``report.html`` (before/after on the held-out cases, the labels used, the
reliability plot embedded as a PNG) and ``learning.json`` with every number, so a script reads what a person sees."""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from CMBQuantLib.core.atomic import atomic_write_json, atomic_write_text

ROWS = (("scans", "held-out scans"), ("tp", "CMBs found"), ("fn", "CMBs missed"), ("fp", "false positives"),
        ("sensitivity", "sensitivity"), ("fp_per_scan", "FP per scan"))


def reliability_png(before: dict, after: dict, path: Path) -> Path:
    """Mean p_cmb against the fraction the reader confirmed, per bin, before and after (marker area ~ count)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2, 4.6), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="perfectly calibrated")
    for scores, colour, name in ((before, "tab:red", "before"), (after, "tab:blue", "after")):
        cal = scores.get("calibration") or {}
        bins = cal.get("bins") or []
        if not bins:
            continue
        x = [b["mean_p"] for b in bins]
        y = [b["fraction_cmb"] for b in bins]
        ax.plot(x, y, color=colour, lw=1.5, label=f"{name} (Brier {cal['brier']}, ECE {cal['ece']})")
        ax.scatter(x, y, s=[15 + 6 * b["n"] ** 0.5 for b in bins], color=colour, alpha=0.6)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("p_cmb (bin mean)")
    ax.set_ylabel("fraction the reader confirmed")
    ax.set_title("Reliability of p_cmb on held-out reviewed candidates", fontsize=10)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def _table(before: dict, after: dict) -> str:
    rows = "".join(f"<tr><td>{label}</td><td>{before.get(k, '')}</td><td>{after.get(k, '')}</td></tr>"
                   for k, label in ROWS)
    for key, label in (("brier", "Brier score"), ("ece", "expected calibration error")):
        rows += (f"<tr><td>{label}</td><td>{(before.get('calibration') or {}).get(key, '')}</td>"
                 f"<td>{(after.get('calibration') or {}).get(key, '')}</td></tr>")
    kinds = sorted(set(before.get("kept_rejections_by_kind", {})) | set(after.get("kept_rejections_by_kind", {})))
    for k in kinds:
        rows += (f"<tr><td>kept although the reader said {html.escape(k)}</td>"
                 f"<td>{before['kept_rejections_by_kind'].get(k, 0)}</td>"
                 f"<td>{after['kept_rejections_by_kind'].get(k, 0)}</td></tr>")
    return f"<table><tr><th></th><th>parent filter</th><th>new filter</th></tr>{rows}</table>"


def _bins(before: dict, after: dict) -> str:
    """The reliability bins as numbers: p_cmb range, candidates, mean p_cmb and fraction confirmed, per filter."""
    rows = ""
    for name, scores in (("parent", before), ("new", after)):
        for b in (scores.get("calibration") or {}).get("bins", []):
            rows += (f"<tr><td>{name}</td><td>{b['lo']:.1f}-{b['hi']:.1f}</td><td>{b['n']}</td>"
                     f"<td>{b['mean_p']}</td><td>{b['fraction_cmb']}</td></tr>")
    return ("<table><tr><th>filter</th><th>p_cmb bin</th><th>candidates</th><th>mean p_cmb</th>"
            f"<th>fraction confirmed</th></tr>{rows}</table>")


def _kv(d: dict[str, Any]) -> str:
    return "<table>" + "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(json.dumps(v))}</td></tr>"
                               for k, v in d.items()) + "</table>"


def write_report(result: Any, out_dir: Path, parent_name: str) -> Path:
    """``report.html``, ``reliability.png`` and ``learning.json`` in ``out_dir``; returns the HTML path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    before, after = result.before, result.after
    png_tag = "<p>No held-out cases: nothing to compare (pass --holdout or --holdout-cases).</p>"
    if before:
        try:
            png = reliability_png(before, after, out_dir / "reliability.png")
        except ImportError:  # matplotlib is optional (the "stats" extra): the bins below still carry the numbers
            png_tag = "<p>The reliability plot needs matplotlib (pip install matplotlib).</p>"
        else:
            data = base64.b64encode(png.read_bytes()).decode("ascii")
            png_tag = f'<img alt="reliability plot" src="data:image/png;base64,{data}">'
        png_tag += _bins(before, after)
    v = result.version
    title = f"CMB filter learning: {html.escape(v.name)}"
    body = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:900px;margin:2em auto}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #bbb;padding:3px 8px;text-align:left}}</style></head><body>
<h1>CMB filter learnt from the reader: {html.escape(v.name)}</h1>
<p>Parent model <b>{html.escape(parent_name)}</b> (left unchanged), created {html.escape(v.created)}, trained on
{len(result.train_cases)} reviewed case(s), scored on {len(result.holdout_cases)} held-out case(s)
({html.escape(', '.join(result.holdout_cases) or 'none')}); {result.seconds:.0f} s.</p>
<h2>Held-out cases, before and after</h2>{_table(before, after) if before else ''}
<h2>Calibration</h2>{png_tag}
<h2>Labels used for training</h2>{_kv(result.labels.get('train', {}))}
<h2>Labels of the held-out cases</h2>{_kv(result.labels.get('holdout', {}))}
<h2>Fit</h2>{_kv(v.notes)}
<p>Rule: definite (and possible with --include-possible) = CMB; a reader's rejection = not a CMB, of its reason's
kind; added CMBs are CMBs where the screen finds them; pending and the filter's own untouched rejections are left
out. A reader row weighs min(max(synthetic rows / reader rows, 1), 10), counted within its class (CMB,
non-CMB).</p></body></html>
"""
    atomic_write_json(out_dir / "learning.json", {"name": v.name, "parent": parent_name, "before": before,
                                                  "after": after, "labels": result.labels,
                                                  "train_cases": result.train_cases,
                                                  "holdout_cases": result.holdout_cases,
                                                  "seconds_by_step": result.seconds_by_step})
    atomic_write_text(out_dir / "report.html", body)
    return out_dir / "report.html"

