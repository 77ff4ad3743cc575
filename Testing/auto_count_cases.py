"""Case folders as the pipeline leaves them (case.json complete, cmbs.csv, counts through the one counts writer),
made from records without running detection, so a cohort of hundreds of cases builds in seconds; and a reader's
review of one, written the way the review session saves (cmbs.csv + ``write_counts``)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from CMBQuantLib.core.case_folder import STATUS_COMPLETE, new_case_info, write_case_json, write_cmbs_csv
from CMBQuantLib.core.counts import write_counts
from CMBQuantLib.core.records import FILTER_REASON, FLAG_TUBULAR, PIPELINE_DECIDER, CMBRecord

LOBES = ("frontal", "parietal", "temporal", "occipital", "insula")
# simulated region -> (MARS region, lobe) of the records made for it
PLACES = {**{lobe: ("lobar", lobe) for lobe in LOBES}, "deep": ("deep", "thalamus"),
          "cerebellar": ("infratentorial", "cerebellum"), "brainstem": ("infratentorial", "brainstem")}


def pipeline_case(root: Path, case_id: str, records: list[CMBRecord]) -> Path:
    """A complete case folder whose files the pipeline wrote (its first ``write_counts`` records the auto set)."""
    folder = root / case_id
    folder.mkdir(parents=True)
    info = new_case_info(case_id, None, None, model={"name": "sim-detector"})
    info.status = STATUS_COMPLETE
    write_case_json(folder, info)
    write_cmbs_csv(folder, records)
    write_counts(folder, records, case_id)
    return folder


def records_for(row: pd.Series) -> list[CMBRecord]:
    """One pending candidate per simulated CMB (definite + possible of each region), plus two the pipeline does not
    accept: one rejected by the CMB filter and one flagged tubular (vessel-shaped)."""
    recs: list[CMBRecord] = []
    for name, (region, lobe) in PLACES.items():
        for _ in range(int(row[f"{name}_definite"]) + int(row[f"{name}_possible"])):
            recs.append(CMBRecord(cmb_id=len(recs) + 1, region=region, lobe=lobe, side="L", p_cmb=0.9,
                                  source="nnunet"))
    recs.append(CMBRecord(cmb_id=len(recs) + 1, status="rejected", reason=FILTER_REASON, decided_by=PIPELINE_DECIDER,
                          region="deep", lobe="thalamus", p_cmb=0.1, source="dark_spot"))
    recs.append(CMBRecord(cmb_id=len(recs) + 1, region="lobar", lobe="frontal", flags=[FLAG_TUBULAR], p_cmb=0.8,
                          source="nnunet"))
    return recs


def simulated_batch(root: Path, cohort: pd.DataFrame) -> list[Path]:
    """One unreviewed pipeline case folder per row of a simulated cohort table."""
    return [pipeline_case(root, row["case_id"], records_for(row)) for _, row in cohort.iterrows()]


def save_review(folder: Path, records: list[CMBRecord]) -> None:
    """What the review session's save writes after reader decisions: cmbs.csv and the counts."""
    write_cmbs_csv(folder, records)
    write_counts(folder, records, folder.name)
