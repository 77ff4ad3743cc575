"""A batch without any review feeds the statistics with ``--count-mode auto`` (the seed study counted automatically),
and once half the cohort is reviewed the report compares model and reader on the reviewed half only.

The case folders are the pipeline's files (tests/auto_count_cases.py), the cohort table is ``write_cohort``'s, the
statistics run through ``cmbquant-stats``: the whole contract, end to end.
"""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from auto_count_cases import save_review, simulated_batch

from CMBQuantLib.core.records import FLAG_ADDED, CMBRecord, read_records_csv
from CMBQuantLib.export.cohort import case_folders, write_cohort
from CMBQuantStatsLib.cli import main
from CMBQuantStatsLib.models import run_analysis
from CMBQuantStatsLib.options import SEED_REGIONS, AnalysisOptions
from CMBQuantStatsLib.pooling import pool_tables
from CMBQuantStatsLib.roles import ColumnRoles
from CMBQuantStatsLib.simulate import simulate_cohort

N = 160


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    sim = simulate_cohort(N, seed=21)
    simulated_batch(root / "cases", sim.cohort)
    sim.clinical.to_csv(root / "clinical.csv", index=False)
    sim.wmh.to_csv(root / "wmh.csv", index=False)
    return root, sim


def _cli(root, cohort, out, *extra):
    args = ["--cohort", str(cohort), "--clinical", str(root / "clinical.csv"), "--wmh", str(root / "wmh.csv"),
            "--out", str(out), "--no-plots", *extra]
    assert main(args) == 0
    return pd.read_csv(out / "results.csv"), pd.read_csv(out / "agreement.csv"), (out / "report.html").read_text()


def test_an_unreviewed_batch_gives_the_seed_regressions_with_auto_counts(batch, tmp_path):
    root, sim = batch
    cohort = write_cohort(case_folders(root / "cases"), tmp_path / "cohort.csv")
    table = pd.read_csv(cohort)
    assert (table["review_complete"] == 0).all() and (table["total_definite"] == 0).all()  # nothing reviewed
    truth = sim.cohort.set_index("case_id")
    np.testing.assert_array_equal(table["total_auto"], (truth["total_definite"] + truth["total_possible"]).to_numpy())
    results, agreement, html = _cli(root, cohort, tmp_path / "out", "--count-mode", "auto")
    # the same models on the simulated counts themselves (definite + possible = every CMB the detector found)
    ref = run_analysis(pool_tables(sim.cohort, sim.clinical, sim.wmh, ColumnRoles(count_mode="definite+possible")),
                       AnalysisOptions(negbin=False, logistic=False))
    for region in SEED_REGIONS:
        ours = results[results["model_id"] == f"ols:log_{region}"].set_index("term")
        theirs = ref.results[ref.results["model_id"] == f"ols:log_{region}"].set_index("term")
        assert len(ours) == 8 and (ours["n"] == N).all()
        np.testing.assert_allclose(ours["estimate"], theirs["estimate"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(ours["p"], theirs["p"], rtol=1e-8)
    assert agreement.empty and "Model vs reader agreement" not in html  # no reader counts yet: nothing to compare
    definite = pool_tables(cohort, root / "clinical.csv", root / "wmh.csv", ColumnRoles(count_mode="definite"))
    assert (definite.data["total"] == 0).all()  # what an unreviewed batch gave the statistics before


def _review_half(cases):
    """The first half of the cases read: every candidate decided; the reader rejects the model's first CMB in every
    third case and the tubular candidate everywhere, and adds one it missed in every fourth."""
    auto, reader = [], []
    for n, folder in enumerate(cases[: len(cases) // 2]):
        records = read_records_csv(folder / "cmbs.csv")
        accepted = [r for r in records if r.status == "pending" and not r.flags]
        for r in records:
            if r.status == "pending":
                r.status, r.reason = ("rejected", "vessel") if r.flags else ("definite", "")
        if n % 3 == 0 and accepted:
            accepted[0].status, accepted[0].reason = "rejected", "iron"
        if n % 4 == 0:
            records.append(CMBRecord(cmb_id=len(records) + 1, status="possible", region="deep", lobe="thalamus",
                                     flags=[FLAG_ADDED], source="reader"))
        save_review(folder, records)
        auto.append(len(accepted))
        reader.append(len(accepted) - (n % 3 == 0 and bool(accepted)) + (n % 4 == 0))
    return np.array(auto), np.array(reader)


def test_agreement_on_a_half_reviewed_cohort_uses_the_reviewed_cases_only(batch, tmp_path):
    root, _ = batch
    shutil.copytree(root / "cases", tmp_path / "cases")
    cases = case_folders(tmp_path / "cases")
    auto, reader = _review_half(cases)
    cohort = write_cohort(cases, tmp_path / "cohort.csv")
    table = pd.read_csv(cohort)
    assert table["review_complete"].sum() == N // 2
    _, agreement, html = _cli(root, cohort, tmp_path / "out", "--count-mode", "auto")
    total = agreement.set_index("region").loc["total"]
    assert total["n_cases"] == N // 2 and total["n_not_reviewed"] == N // 2
    assert total["reader_count"] == "definite+possible"
    d = auto - reader
    assert total["bias"] == pytest.approx(d.mean()) and total["sd_difference"] == pytest.approx(d.std(ddof=1))
    assert total["n_differ"] == int((d != 0).sum()) and total["n_auto_higher"] == int((d > 0).sum())
    assert total["mean_auto"] == pytest.approx(auto.mean()) and total["mean_reader"] == pytest.approx(reader.mean())
    assert 0.5 < total["icc_absolute"] < 1
    assert "Model vs reader agreement" in html and f"unreviewed cases left out: {N // 2}" in html
