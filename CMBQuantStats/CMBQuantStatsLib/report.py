"""Self-contained HTML report and flat files of one analysis.

One HTML file (tables + base64 PNG plots, no external assets) is what a researcher can mail to a co-author or
attach to a submission; the tidy CSV is what goes into further analysis. Extra sections (e.g. the detector
validation written by a colleague) are appended through :meth:`StatsReport.add_section` or ``extra_sections``.
"""
from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from CMBQuantStatsLib import __version__
from CMBQuantStatsLib.models import AnalysisResult

_CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ccc;margin-top:2em}h3{font-size:1.05em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}.note{color:#666;font-size:.85em}
img{max-width:100%;border:1px solid #eee}pre{background:#f8f8f8;padding:.8em;font-size:.8em;overflow:auto}
"""

_FAMILY_TITLES = {
    "seed_counts": "CMB counts: OLS of log(count + 1) (seed model)",
    "seed_mmse": "MMSE on each factor, adjusted for age and sex (seed model)",
    "negbin_counts": "CMB counts: negative binomial (IRR)",
    "zinb_counts": "CMB counts: zero-inflated negative binomial (IRR, count part)",
    "presence": "Any CMB present: logistic regression (OR)",
    "burden_ordinal": "CMB burden 0 / 1 / 2–4 / ≥5: proportional-odds model (OR)",
    "custom": "User-defined models",
}


@dataclass
class ReportSection:
    """A titled block of trusted HTML."""

    title: str
    html: str


@dataclass
class StatsReport:
    """Ordered sections rendered into one standalone HTML page."""

    title: str = "CMBQuant statistics report"
    sections: list[ReportSection] = field(default_factory=list)

    def add_section(self, title: str, html_fragment: str) -> StatsReport:
        """Append a section (the fragment is inserted as is: pass trusted HTML only)."""
        self.sections.append(ReportSection(title, html_fragment))
        return self

    def to_html(self) -> str:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        toc = "".join(f'<li><a href="#s{i}">{html.escape(s.title)}</a></li>' for i, s in enumerate(self.sections))
        body = "".join(f'<h2 id="s{i}">{html.escape(s.title)}</h2>\n{s.html}\n' for i, s in enumerate(self.sections))
        return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
                f"<style>{_CSS}</style></head><body><h1>{html.escape(self.title)}</h1>"
                f"<p class='note'>CMBQuantStats {__version__}, generated {stamp}</p><ul>{toc}</ul>{body}"
                "</body></html>\n")

    def write(self, path) -> Path:
        path = Path(path)
        path.write_text(self.to_html(), encoding="utf-8")
        return path


# ----------------------------------------------------------------------------------------- plots
def _figure(w: float, h: float):
    """A matplotlib Figure on the Agg canvas (no pyplot, no global backend switch: safe inside Slicer)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h))
    FigureCanvasAgg(fig)
    return fig


def forest_rows(results: pd.DataFrame, family: str = "seed_counts", ratio: bool | None = None) -> pd.DataFrame:
    """The focal coefficients of a family, in plotting order (outcome, then term), with the x values to draw."""
    r = results[(results["family"] == family) & results["focal"]].copy()
    if ratio is None:
        ratio = bool(len(r)) and r["measure"].iat[0] != "beta"
    cols = ("ratio", "ratio_low", "ratio_high") if ratio else ("estimate", "ci_low", "ci_high")
    r["x"], r["x_low"], r["x_high"] = (r[c].to_numpy(dtype=float) for c in cols)
    r["label"] = r["outcome"].astype(str) + " · " + r["term"].astype(str)
    return r.reset_index(drop=True)


def forest_plot_png(results: pd.DataFrame, family: str = "seed_counts", ratio: bool | None = None,
                    title: str | None = None) -> bytes:
    """Forest plot (estimate and 95 % CI per outcome × term) as PNG bytes; reference line at 0 (β) or 1 (ratio)."""
    r = forest_rows(results, family, ratio)
    is_ratio = bool(len(r)) and (ratio if ratio is not None else r["measure"].iat[0] != "beta")
    fig = _figure(7, max(2.0, 0.24 * len(r) + 1))
    ax = fig.add_subplot(111)
    y = np.arange(len(r))[::-1]
    ax.errorbar(r["x"], y, xerr=[r["x"] - r["x_low"], r["x_high"] - r["x"]], fmt="o", ms=4, color="#1f4e79",
                ecolor="#6c8ebf", capsize=2)
    ax.axvline(1.0 if is_ratio else 0.0, color="#999", lw=1, ls="--")
    ax.set_yticks(y)
    ax.set_yticklabels(r["label"], fontsize=7)
    if is_ratio:  # log axis with plain tick labels (0.5, 1, 2), not 5×10⁻¹
        from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

        ax.set_xscale("log")
        lo, hi = ax.get_xlim()
        ticks = [t for t in (0.05, 0.1, 0.2, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 50) if lo <= t <= hi]
        ax.xaxis.set_major_locator(FixedLocator(ticks or [1]))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel(("ratio (" + r["measure"].iat[0] + ")" if is_ratio else "β") + " with 95 % CI" if len(r) else "")
    ax.set_title(title or _FAMILY_TITLES.get(family, family), fontsize=9)
    return _fig_bytes(fig)


def _fig_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def scatter_fit(data: pd.DataFrame, x: str = "wmh_burden", y: str = "total", log1p: bool = True
                ) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Complete-case x, y (log(y+1) when ``log1p``) and the simple least-squares line (intercept, slope)."""
    d = data[[x, y]].dropna().astype(float)
    xv, yv = d[x].to_numpy(), d[y].to_numpy()
    if log1p:
        yv = np.log1p(yv)
    slope, intercept = np.polyfit(xv, yv, 1) if len(xv) > 1 else (np.nan, np.nan)
    return xv, yv, float(intercept), float(slope)


def scatter_png(data: pd.DataFrame, x: str = "wmh_burden", y: str = "total", log1p: bool = True) -> bytes:
    """Scatter of CMB count (log(count+1)) against WMH burden with the least-squares line, as PNG bytes."""
    xv, yv, b0, b1 = scatter_fit(data, x, y, log1p)
    fig = _figure(5, 3.6)
    ax = fig.add_subplot(111)
    jitter = np.random.default_rng(0).uniform(-0.03, 0.03, len(yv))  # fixed seed: reproducible image
    ax.scatter(xv, yv + jitter, s=6, alpha=0.35, color="#1f4e79", lw=0)
    if len(xv) > 1:
        xs = np.linspace(xv.min(), xv.max(), 50)
        ax.plot(xs, b0 + b1 * xs, color="#c0392b", lw=1.5, label=f"fit: {b0:.2f} + {b1:.3f}·x")
        ax.legend(fontsize=7)
    ax.set_xlabel("WMH burden (% ICV)" if x == "wmh_burden" else x)
    ax.set_ylabel(f"log({y} + 1)" if log1p else y)
    ax.set_title(f"{y} CMB vs {x} (n = {len(xv)})", fontsize=9)
    return _fig_bytes(fig)


def img_tag(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


# ----------------------------------------------------------------------------------------- tables
def _fmt_p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _fmt_num(x: float) -> str:
    return f"{x:.3f}" if x is not None and np.isfinite(x) else ""


def family_table(results: pd.DataFrame, family: str) -> pd.DataFrame:
    """Publication-style table of a family's focal coefficients: effect (95 % CI), P, FDR q, n, R²."""
    r = results[(results["family"] == family) & results["focal"]]
    out = []
    for _, row in r.iterrows():
        ratio = row["measure"] != "beta"
        e, lo, hi = (row["ratio"], row["ratio_low"], row["ratio_high"]) if ratio else \
            (row["estimate"], row["ci_low"], row["ci_high"])
        out.append({
            "outcome": row["outcome"], "term": row["term"], "measure": row["measure"],
            "effect (95% CI)": f"{e:.3f} ({lo:.3f} to {hi:.3f})", "P": _fmt_p(row["p"]),
            "FDR q": _fmt_p(row["p_fdr"]), "n": int(row["n"]),
            "R²" if not ratio else "pseudo R²": _fmt_num(row["r2"] if not ratio else row["pseudo_r2"]),
            "converged": "" if row["converged"] else "NO",
        })
    df = pd.DataFrame(out)
    empty = [c for c in ("R²", "pseudo R²", "converged") if c in df.columns and (df[c] == "").all()]
    return df.drop(columns=empty)  # e.g. no pseudo-R² for count models, no flag when all converged


def _table_html(df: pd.DataFrame, float_format: str = "{:.3f}") -> str:
    return df.to_html(index=False, na_rep="", border=0, float_format=lambda v: float_format.format(v))


def _pooling_html(analysis: AnalysisResult) -> str:
    rep = analysis.report
    parts = [("<table><tr><th>table</th><th>file</th><th>rows</th><th>IDs missing here</th>"
              "<th>duplicate IDs</th></tr>")]
    for t, n in rep.n_rows.items():
        miss = rep.missing_ids.get(t, [])
        dup = rep.duplicate_ids.get(t, [])
        parts.append(f"<tr><td>{html.escape(t)}</td><td>{html.escape(rep.files.get(t, ''))}</td><td>{n}</td>"
                     f"<td>{len(miss)}</td><td>{len(dup)}</td></tr>")
    parts.append(f"</table><p>Pooled cases: <b>{rep.n_pooled}</b>; count mode: {html.escape(rep.count_mode)}.</p>")
    if rep.dropped:
        d = pd.DataFrame([vars(x) for x in rep.dropped])
        parts.append(f"<h3>Dropped rows ({len(d)})</h3>" + _table_html(d))
    if rep.model_dropped:
        d = pd.DataFrame([vars(x) for x in rep.model_dropped]).rename(columns={"table": "model"})
        parts.append(f"<h3>Cases excluded from a model for missing values ({len(d)})</h3>"
                     + _table_html(d.drop(columns=["file", "row"])))
    if rep.notes or analysis.failures:
        parts.append("<h3>Notes</h3><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in rep.notes) + "</ul>")
    return "".join(parts)


def _agreement_html(analysis: AnalysisResult) -> str:
    a = analysis.agreement
    return (f"<p class='note'>The pipeline's counts before review (<code>&lt;region&gt;_auto</code>) against the "
            f"reader's ({html.escape(str(a['reader_count'].iat[0]))}) on the reviewed cases of the cohort table "
            f"only (unreviewed cases left out: {int(a['n_not_reviewed'].max())}). Bias and 95 % limits of agreement "
            "(Bland–Altman) are automated minus reader; ICC(2,1) absolute agreement and ICC(3,1) consistency.</p>"
            + _table_html(a))


def build_report(analysis: AnalysisResult, title: str = "CMBQuant statistics report",
                 extra_sections: list[ReportSection] | None = None, plots: bool = True,
                 scatter_regions: tuple[str, ...] = ("total", "lobar", "deep")) -> StatsReport:
    """Assemble the standard report: pooling, Table 1, per-family model tables, forest plots, scatters, VIF."""
    rep = StatsReport(title=title)
    rep.add_section("Pooling", _pooling_html(analysis))
    rep.add_section("Table 1", _table_html(analysis.table1))
    res = analysis.results
    for fam in [f for f in _FAMILY_TITLES if f in set(res.get("family", []))] + \
               sorted(set(res.get("family", [])) - set(_FAMILY_TITLES)):
        frag = _table_html(family_table(res, fam))
        if plots:
            frag += img_tag(forest_plot_png(res, fam), f"forest plot {fam}")
        rep.add_section(_FAMILY_TITLES.get(fam, fam), frag)
    if plots and "wmh_burden" in analysis.data.columns:
        imgs = [img_tag(scatter_png(analysis.data, "wmh_burden", r), f"{r} vs WMH")
                for r in scatter_regions if r in analysis.data.columns]
        rep.add_section("CMB counts vs WMH burden", "".join(imgs))
    if len(analysis.agreement):
        rep.add_section("Model vs reader agreement (automated vs reviewed counts)", _agreement_html(analysis))
    rep.add_section("Model fit (compare NB vs ZINB by AIC/BIC)", _table_html(analysis.summary.drop(columns=["formula"])))
    rep.add_section("Collinearity (VIF)", _table_html(analysis.vif))
    if analysis.failures:
        rep.add_section("Models that failed", "<ul>" + "".join(f"<li>{html.escape(f)}</li>"
                                                               for f in analysis.failures) + "</ul>")
    for s in extra_sections or []:
        rep.sections.append(s)
    return rep


def write_outputs(analysis: AnalysisResult, out_dir, extra_sections: list[ReportSection] | None = None,
                  title: str = "CMBQuant statistics report", plots: bool = True) -> dict[str, Path]:
    """Write results.csv, model_summary.csv, table1.csv, vif.csv, pooled_data.csv, agreement.csv (model vs reader;
    header only without reviewed automated counts), pooling_report.json/.txt and report.html into ``out_dir``;
    returns their paths by name."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "results": out / "results.csv", "summary": out / "model_summary.csv", "table1": out / "table1.csv",
        "vif": out / "vif.csv", "pooled": out / "pooled_data.csv", "pooling_json": out / "pooling_report.json",
        "pooling_txt": out / "pooling_report.txt", "html": out / "report.html", "agreement": out / "agreement.csv",
    }
    analysis.results.to_csv(paths["results"], index=False)
    analysis.summary.to_csv(paths["summary"], index=False)
    analysis.table1.to_csv(paths["table1"], index=False)
    analysis.vif.to_csv(paths["vif"], index=False)
    analysis.data.to_csv(paths["pooled"], index=False)
    analysis.agreement.to_csv(paths["agreement"], index=False)
    paths["pooling_json"].write_text(analysis.report.to_json(), encoding="utf-8")
    paths["pooling_txt"].write_text(analysis.report.to_text(), encoding="utf-8")
    build_report(analysis, title, extra_sections, plots).write(paths["html"])
    return paths
