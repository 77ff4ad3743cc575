"""The Stats module's choices live in a vtkMRMLScriptedModuleNode of a real scene (slicer-core) and save with it."""
import pytest

slicer = pytest.importorskip("slicer")
from CMBQuantStatsLib.parameters import (  # noqa: E402
    MODULE_NAME,
    NODE_CLASS,
    StatsParameters,
    load_parameters,
    parameter_node,
    save_parameters,
    study_request,
)
from CMBQuantStatsLib.study import StudyRequest, build_study  # noqa: E402

CHOSEN = StatsParameters(cohort="/data/cohort.csv", wmh="/data/wmh.csv", clinical="/data/clinical.xlsx",
                         config="/data/study.json", output="/data/out",
                         roles={"clinical_id": "subject", "sex": "gender", "sex_coding": "m:1,f:0"},
                         count_mode="definite+possible", robust=True, formula="negbin:deep ~ age + sex")


def scene_round_trip(scene):
    """Write the scene to MRML XML and read it into a fresh scene, as Save / Load Scene do."""
    scene.SetSaveToXMLString(1)
    scene.Commit()
    again = slicer.vtkMRMLScene()
    again.SetLoadFromXMLString(1)
    again.SetSceneXMLString(scene.GetSceneXMLString())
    again.Import()
    return again


def test_parameter_node_is_one_per_scene_and_tagged_with_the_module():
    scene = slicer.vtkMRMLScene()
    node = parameter_node(scene)
    assert parameter_node(scene) is node
    assert scene.GetNumberOfNodesByClass(NODE_CLASS) == 1
    assert node.GetAttribute("ModuleName") == MODULE_NAME and node.GetSingletonTag() == MODULE_NAME


def test_choices_round_trip_through_the_node_with_types_restored():
    scene = slicer.vtkMRMLScene()
    save_parameters(parameter_node(scene), CHOSEN)
    back = load_parameters(parameter_node(scene))
    assert back == CHOSEN
    assert back.robust is True and back.roles["sex_coding"] == "m:1,f:0"
    assert parameter_node(scene).GetParameter("robust") == "true"


def test_choices_survive_saving_and_loading_the_scene():
    scene = slicer.vtkMRMLScene()
    save_parameters(parameter_node(scene), CHOSEN)
    again = scene_round_trip(scene)
    assert again.GetNumberOfNodesByClass(NODE_CLASS) == 1
    assert load_parameters(parameter_node(again)) == CHOSEN


def test_missing_keys_read_as_defaults():
    scene = slicer.vtkMRMLScene()
    node = parameter_node(scene)
    assert load_parameters(node) == StatsParameters()
    node.SetParameter("cohort", "/old/cohort.csv")  # an older scene that stored only some keys
    node.SetParameter("robust", "true")
    got = load_parameters(node)
    assert got == StatsParameters(cohort="/old/cohort.csv", robust=True)
    assert got.count_mode == "definite" and got.roles == {} and got.formula == ""


def test_study_request_leaves_out_what_was_not_given():
    assert study_request(StatsParameters()) == StudyRequest(count_mode="definite")
    req = study_request(CHOSEN)
    assert req == StudyRequest(config="/data/study.json", cohort="/data/cohort.csv", clinical="/data/clinical.xlsx",
                               wmh="/data/wmh.csv", roles=["clinical_id=subject", "sex=gender", "sex_coding=m:1,f:0"],
                               count_mode="definite+possible", robust=True, models=["negbin:deep ~ age + sex"])


def test_chosen_roles_reach_the_study(tmp_path):
    params = StatsParameters(cohort="c.csv", clinical="k.csv", roles={"sex": "gender", "sex_coding": "m:1,f:0"},
                             formula="  mmse ~ total  ")
    study = build_study(study_request(params))
    assert study.roles.sex == "gender" and study.roles.sex_coding == {"m": 1, "f": 0}
    assert study.roles.count_mode == "definite"
    assert [(m.kind, m.formula) for m in study.options.custom] == [("ols", "mmse ~ total")]
