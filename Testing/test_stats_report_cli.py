"""The HTML report is self-contained and extensible; the CLI runs end to end and fails cleanly."""
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

from CMBQuantStatsLib.cli import main
from CMBQuantStatsLib.models import run_analysis
from CMBQuantStatsLib.options import AnalysisOptions
from CMBQuantStatsLib.pooling import pool_tables
from CMBQuantStatsLib.report import ReportSection, build_report, family_table, write_outputs
from CMBQuantStatsLib.simulate import simulate_cohort, write_simulated
from CMBQuantStatsLib.study import parse_model

PKG = Path(__file__).resolve().parents[1] / "CMBQuantStats" / "CMBQuantStatsLib"


@pytest.fixture(scope="module")
def analysis():
    s = simulate_cohort(250, seed=9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_analysis(pool_tables(s.cohort, s.clinical, s.wmh), AnalysisOptions())


def test_html_is_self_contained_with_plots_and_extra_sections(analysis):
    rep = build_report(analysis, extra_sections=[ReportSection("Validation", "<p id='val'>kappa 0.8</p>")])
    rep.add_section("Later section", "<p id='later'>x</p>")
    html = rep.to_html()
    assert html.count('src="data:image/png;base64,') >= 4  # 4 forest plots + scatters
    assert not re.search(r"""(src|href)=["']https?://""", html)
    for title in ("Pooling", "Table 1", "CMB counts: negative binomial (IRR)", "Collinearity (VIF)"):
        assert title in html
    assert html.index("id='val'") < html.index("id='later'")
    assert rep.sections[-1].title == "Later section"


def test_family_table_shows_ratios_for_count_models(analysis):
    t = family_table(analysis.results, "negbin_counts")
    r = analysis.results
    row = r[(r["model_id"] == "negbin:total") & (r["term"] == "age")].iloc[0]
    got = t[(t["outcome"] == "total") & (t["term"] == "age")].iloc[0]
    assert got["effect (95% CI)"] == f"{row['ratio']:.3f} ({row['ratio_low']:.3f} to {row['ratio_high']:.3f})"
    assert got["measure"] == "IRR"


def test_write_outputs_files(tmp_path, analysis):
    paths = write_outputs(analysis, tmp_path / "o", plots=False)
    res = pd.read_csv(paths["results"])
    assert len(res) == len(analysis.results)
    assert list(res.columns[:12]) == ["family", "model", "model_id", "outcome", "term", "focal", "estimate", "se",
                                      "ci_low", "ci_high", "p", "p_fdr"]
    assert json.loads(paths["pooling_json"].read_text())["n_pooled"] == 250
    assert "Pooled cases: 250" in paths["pooling_txt"].read_text()


def test_no_qt_import_anywhere():
    for f in PKG.glob("*.py"):
        src = f.read_text()
        assert not re.search(r"^\s*(import|from)\s+(qt|PythonQt|PyQt\d?|PySide\d?)\b", src, re.MULTILINE), f.name
        assert not re.search(r"import\s+matplotlib\.pyplot|from\s+matplotlib\s+import\s+pyplot", src), f.name


def test_cli_end_to_end_with_options(tmp_path, capsys):
    paths = write_simulated(simulate_cohort(150, seed=2), tmp_path / "in", "csv")
    out = tmp_path / "out"
    rc = main(["--cohort", paths["cohort"], "--clinical", paths["clinical"], "--wmh", paths["wmh"],
               "--out", str(out), "--robust", "--group", "sex", "--count-mode", "definite", "--ordinal",
               "--model", "full=ols:mmse ~ total + wmh_burden + age + sex + education",
               "--model", "negbin:deep ~ hypertension + age"])
    assert rc == 0, capsys.readouterr().err
    for name in ("results.csv", "model_summary.csv", "table1.csv", "vif.csv", "pooling_report.json",
                 "pooling_report.txt", "report.html"):
        assert (out / name).stat().st_size > 0, name
    res = pd.read_csv(out / "results.csv")
    assert {"full", "custom2", "ordinal:cat_deep"} <= set(res["model_id"])
    assert set(res.loc[res["model"] == "ols", "cov_type"]) == {"HC3"}
    assert json.loads((out / "pooling_report.json").read_text())["count_mode"] == "definite"
    assert "sex=1" in (out / "table1.csv").read_text()
    assert "pooled 150 cases" in capsys.readouterr().out


def test_cli_config_file_with_relative_paths_and_roles(tmp_path):
    s = simulate_cohort(120, seed=4)
    clin = s.clinical.rename(columns={"case_id": "subject", "sex": "gender"})
    clin["gender"] = clin["gender"].str.lower()
    (tmp_path / "data").mkdir()
    clin.to_excel(tmp_path / "data" / "clinical.xlsx", index=False)
    s.cohort.to_csv(tmp_path / "data" / "cohort.csv", index=False)
    s.wmh.to_csv(tmp_path / "data" / "wmh.tsv", index=False, sep="\t")
    cfg = {"cohort": "data/cohort.csv", "clinical": "data/clinical.xlsx", "wmh": "data/wmh.tsv",
           "roles": {"clinical_id": "subject", "sex": "gender", "sex_coding": {"m": 1, "f": 0}},
           "analysis": {"regions": ["total", "deep"], "zinb": True, "logistic": False},
           "custom_models": [{"id": "age_only", "formula": "log_total ~ age"}], "title": "My study"}
    (tmp_path / "study.json").write_text(json.dumps(cfg))
    rc = main(["--config", str(tmp_path / "study.json"), "--out", str(tmp_path / "out"), "--no-plots"])
    assert rc == 0
    res = pd.read_csv(tmp_path / "out" / "results.csv")
    assert set(res["model_id"]) >= {"ols:log_total", "ols:log_deep", "zinb:deep", "age_only"}
    assert not any(m.startswith("logit") for m in res["model_id"])
    assert "<title>My study</title>" in (tmp_path / "out" / "report.html").read_text()


def test_cli_bad_value_exits_2_with_one_clear_message(tmp_path, capsys):
    s = simulate_cohort(30, seed=1)
    paths = write_simulated(s, tmp_path)
    clin = pd.read_csv(paths["clinical"], dtype=str)
    clin.loc[9, "mmse"] = "35"
    clin.to_csv(paths["clinical"], index=False)
    rc = main(["--cohort", paths["cohort"], "--clinical", paths["clinical"], "--wmh", paths["wmh"],
               "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("cmbquant-stats: error: clinical.csv, row 11, column 'mmse': mmse = 35 is outside")
    assert "Traceback" not in err and "Fix:" in err


@pytest.mark.parametrize("argv,words", [
    (["--cohort", "a.csv", "--out", "o"], "give --cohort and --clinical"),
    (["--config", "missing.json", "--out", "o"], "config file missing.json not found"),
    (["--cohort", "a.csv", "--clinical", "b.csv", "--out", "o", "--role", "sexgender"], "must look like KEY=VALUE"),
    (["--cohort", "a.csv", "--clinical", "b.csv", "--out", "o", "--model", "poisson:y ~ x"], "model kind 'poisson'"),
    (["--cohort", "nope.csv", "--clinical", "b.csv", "--out", "o"], "nope.csv: file not found"),
])
def test_cli_usage_errors_exit_2(tmp_path, capsys, monkeypatch, argv, words):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert words in capsys.readouterr().err


def test_cli_help_and_module_entry(capsys):
    assert main(["--help"]) == 0
    assert "config file (JSON" in capsys.readouterr().out
    assert main([]) == 2  # --out is required: argparse prints usage
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-m", "CMBQuantStatsLib.cli", "--help"], capture_output=True, text=True, check=False,
                       cwd=root / "CMBQuantStats")
    assert r.returncode == 0 and "cmbquant-stats" in r.stdout


def test_parse_model():
    m = parse_model("deep_nb=negbin:deep ~ age + sex", 1)
    assert (m.model_id, m.kind, m.formula) == ("deep_nb", "negbin", "deep ~ age + sex")
    assert parse_model("mmse ~ total", 3).model_id == "custom3"


def test_demo_study_runs_through_the_cli(tmp_path, capsys):
    from CMBQuantStatsLib.simulate import main as demo_main

    assert demo_main([str(tmp_path / "demo"), "--n", "120", "--seed", "3"]) == 0
    assert main(["--config", str(tmp_path / "demo" / "study.json"), "--out", str(tmp_path / "res"), "--no-plots"]) == 0
    res = pd.read_csv(tmp_path / "res" / "results.csv")
    assert "mmse_full" in set(res["model_id"]) and (res["n"] == 120).all()


def test_study_config_round_trip(tmp_path):
    from CMBQuantStatsLib.simulate import write_demo
    from CMBQuantStatsLib.study import load_study, save_study

    paths = write_demo(tmp_path / "demo", n=50, seed=1)
    study = load_study(paths["config"])
    assert study.cohort == str(tmp_path / "demo" / "cohort.csv") and study.options.table1_group == "hypertension"
    study.roles.count_mode = "definite"
    study.options.robust = True
    again = load_study(save_study(study, tmp_path / "saved.json"))
    assert again.roles == study.roles and again.options == study.options and again.cohort == study.cohort
