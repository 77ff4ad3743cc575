"""The CMBQuant module's parameter pack on a real slicer-core scene: round trip, types, defaults, scene file, and
the same run options as the CLI; machine-level choices (model, device) in a settings store."""
import argparse
from dataclasses import fields

import pytest
import slicer

from CMBQuantLib.pipeline.machine_settings import MachineSettings
from CMBQuantLib.pipeline.parameters import CMBQuantParameters, parameter_node, read_parameters, write_parameters
from CMBQuantLib.pipeline.run_options import RunOptions, add_arguments, options_from_args

CHOSEN = CMBQuantParameters(model="MyModel", device="cpu", step_size=1.0, mirroring=True, threshold=0.35,
                            filter="none", filter_threshold=0.4, reviewer="Dr. Ko", fov_mm=40.0, show_filtered=True,
                            hide_rejected=True, output_folder="/data/out", match_distance_mm=3.5)


class DictSettings(dict):
    def value(self, key, default=None):
        return self.get(key, default)

    def setValue(self, key, value):
        self[key] = value


def test_every_field_survives_the_node_with_its_type():
    scene = slicer.vtkMRMLScene()
    write_parameters(parameter_node(scene), CHOSEN)
    back = read_parameters(parameter_node(scene))
    assert back == CHOSEN
    for f in fields(CHOSEN):
        assert type(getattr(back, f.name)) is type(getattr(CHOSEN, f.name)), f.name
    assert parameter_node(scene).GetParameter("mirroring") == "true"
    assert parameter_node(scene).GetParameter("threshold") == "0.35"


def test_one_singleton_node_named_for_the_module():
    scene = slicer.vtkMRMLScene()
    node = parameter_node(scene)
    assert parameter_node(scene).GetID() == node.GetID()
    assert scene.GetNumberOfNodesByClass("vtkMRMLScriptedModuleNode") == 1
    assert (node.GetModuleName(), node.GetSingletonTag()) == ("CMBQuant", "CMBQuant")


def test_missing_and_unreadable_values_take_the_defaults():
    scene = slicer.vtkMRMLScene()
    node = parameter_node(scene)
    node.SetParameter("reviewer", "Dr. Ko")
    node.SetParameter("step_size", "fast")  # not a number: the default, not an error
    node.SetParameter("mirroring", "maybe")
    node.SetParameter("obsolete_option", "1")  # from another version: ignored
    back = read_parameters(node)
    assert back == CMBQuantParameters(reviewer="Dr. Ko")
    assert read_parameters(node, CMBQuantParameters(device="cuda")).device == "cuda"  # the caller's defaults


def test_parameters_are_saved_with_the_scene_file(tmp_path):
    scene = slicer.vtkMRMLScene()
    write_parameters(parameter_node(scene), CHOSEN)
    scene.SetURL(str(tmp_path / "scene.mrml"))
    scene.Commit()
    loaded = slicer.vtkMRMLScene()
    loaded.SetURL(str(tmp_path / "scene.mrml"))
    loaded.Import()
    assert read_parameters(parameter_node(loaded)) == CHOSEN
    assert loaded.GetNumberOfNodesByClass("vtkMRMLScriptedModuleNode") == 1


def test_panel_defaults_give_the_run_options_the_panel_always_sent():
    assert CMBQuantParameters().run_options() == RunOptions(model=None, device="auto", step_size=0.5,
                                                            mirroring=False, threshold=0.5, filter="auto",
                                                            filter_threshold=None)


def test_gui_and_cli_give_the_same_run_options_for_the_same_choices():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    cli = options_from_args(parser.parse_args(
        ["swi.nii.gz", "--out", "o", "--model", "MyModel", "--device", "cpu", "--step-size", "1.0", "--mirroring",
         "--threshold", "0.35", "--filter", "none", "--filter-threshold", "0.4"]))
    assert CHOSEN.run_options() == cli


@pytest.mark.parametrize("stored, expected", [({}, ("", "auto")),
                                              ({"CMBQuant/LastModel": "M1", "CMBQuant/Device": "cuda"}, ("M1", "cuda")),
                                              ({"CMBQuant/Device": "tpu"}, ("", "auto"))])
def test_machine_settings_seed_model_and_device(stored, expected):
    p = MachineSettings(DictSettings(stored)).defaults()
    assert (p.model, p.device) == expected
    assert p.threshold == CMBQuantParameters().threshold  # the rest stays the panel's default


def test_machine_settings_remember_the_last_model_and_device_and_fill_a_scene_without_them():
    store = DictSettings()
    MachineSettings(store).remember(CHOSEN)
    assert store == {"CMBQuant/LastModel": "MyModel", "CMBQuant/Device": "cpu"}
    node = parameter_node(slicer.vtkMRMLScene())  # a fresh scene: no saved choices
    node.SetParameter("device", "mps")  # the scene's own value wins over the machine's
    p = read_parameters(node, MachineSettings(store).defaults())
    assert (p.model, p.device) == ("MyModel", "mps")
