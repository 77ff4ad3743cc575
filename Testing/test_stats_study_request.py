"""One construction of a study for the CLI and the Slicer widget: build_study(StudyRequest) == study_from_args(argv)."""
import json

import pytest

from CMBQuantStatsLib.cli import build_parser, request_from_args, study_from_args
from CMBQuantStatsLib.study import CliError, StudyRequest, build_study, load_study


def from_argv(argv):
    return study_from_args(build_parser().parse_args(argv + ["--out", "unused"]))


@pytest.fixture()
def config(tmp_path):
    path = tmp_path / "study.json"
    path.write_text(json.dumps({
        "cohort": "cohort.csv", "clinical": "clinical.csv", "title": "From the file",
        "roles": {"clinical_id": "subject", "lipids": "ldl,hdl", "require_review_complete": "yes"},
        "analysis": {"zinb": True, "regions": "total,deep"},
        "custom_models": [{"id": "m1", "kind": "negbin", "formula": "deep ~ age"}]}))
    return path


def test_argv_parses_into_the_request_the_widget_builds():
    args = build_parser().parse_args(["--cohort", "/d/c.csv", "--count-mode", "definite", "--model",
                                      "np.log1p(total) ~ age", "--out", "o"])
    assert request_from_args(args) == StudyRequest(cohort="/d/c.csv", count_mode="definite",
                                                   models=["np.log1p(total) ~ age"])


@pytest.mark.parametrize("argv, request_kwargs", [
    ([], {}),
    (["--cohort", "/d/c.csv", "--clinical", "/d/k.csv", "--wmh", "/d/w.csv"],
     {"cohort": "/d/c.csv", "clinical": "/d/k.csv", "wmh": "/d/w.csv"}),
    (["--id-column", "subject", "--role", "sex=gender", "--role", "sex_coding=m:1,f:0", "--count-mode", "definite",
      "--require-review-complete"],
     {"id_column": "subject", "roles": ["sex=gender", "sex_coding=m:1,f:0"], "count_mode": "definite",
      "require_review_complete": True}),
    (["--regions", "total,lobar", "--covariates", "age,sex", "--robust", "--zinb", "--ordinal", "--no-negbin",
      "--no-logistic", "--group", "sex", "--model", "a=negbin:deep ~ age", "--model", "mmse ~ total",
      "--title", "T"],
     {"regions": "total,lobar", "covariates": "age,sex", "robust": True, "zinb": True, "ordinal": True,
      "no_negbin": True, "no_logistic": True, "group": "sex", "models": ["a=negbin:deep ~ age", "mmse ~ total"],
      "title": "T"}),
])
def test_build_study_matches_the_cli(argv, request_kwargs):
    assert build_study(StudyRequest(**request_kwargs)) == from_argv(argv)


def test_config_file_then_choices_that_win(config):
    study = build_study(StudyRequest(config=str(config), cohort="/mine/cohort.csv", count_mode="definite",
                                     robust=True, models=["mmse ~ total"]))
    assert study == from_argv(["--config", str(config), "--cohort", "/mine/cohort.csv", "--count-mode",
                               "definite", "--robust", "--model", "mmse ~ total"])
    assert study.cohort == "/mine/cohort.csv" and study.clinical == str(config.parent / "clinical.csv")
    assert study.roles.clinical_id == "subject" and study.roles.lipids == ["ldl", "hdl"]
    assert study.roles.require_review_complete is True and study.roles.count_mode == "definite"
    assert study.options.zinb and study.options.robust and study.options.regions == ["total", "deep"]
    assert [m.model_id for m in study.options.custom] == ["m1", "custom1"]
    assert study.title == "From the file"
    assert load_study(config) == from_argv(["--config", str(config)])


@pytest.mark.parametrize("request_kwargs, words", [
    ({"models": ["mmse total"]}, "has no '~'"),
    ({"models": ["poisson:deep ~ age"]}, "model kind 'poisson' unknown"),
    ({"roles": ["sex"]}, "must look like KEY=VALUE"),
    ({"roles": ["sex_coding=m1"]}, "must look like m:1,f:0"),
    ({"config": "/no/such/study.json"}, "not found"),
])
def test_bad_choices_raise_one_line_errors(request_kwargs, words):
    with pytest.raises(CliError, match=words):
        build_study(StudyRequest(**request_kwargs))
