"""What can be checked of the Slicer modules without the desktop app: .ui files, widget names, CMake lists, catalog."""
import ast
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = {"CMBQuant": "CMBQuantLib", "CMBQuantStats": "CMBQuantStatsLib"}
# Qt panels of a module (Slicer only; they bind the .ui)
PANELS = {"CMBQuant": "CMBQuantWidgets", "CMBQuantStats": "CMBQuantStatsWidgets"}
sys.path.insert(0, str(ROOT / "tools"))
from make_cmake import module_files  # noqa: E402


def ui_widget_names(module: str) -> set[str]:
    tree = ET.parse(ROOT / module / "Resources" / "UI" / f"{module}.ui")
    return {w.get("name") for w in tree.iter("widget")}


@pytest.mark.parametrize("module", MODULES)
def test_ui_file_parses_with_a_mrml_widget_root(module):
    root = ET.parse(ROOT / module / "Resources" / "UI" / f"{module}.ui").getroot()
    top = root.find("widget")
    assert top.get("class") == "qMRMLWidget" and top.get("name") == module
    assert len(ui_widget_names(module)) > 10


@pytest.mark.parametrize("module", MODULES)
def test_every_widget_the_module_uses_exists_in_its_ui(module):
    files = [ROOT / module / f"{module}.py"] + sorted((ROOT / module / PANELS.get(module, "-")).glob("*.py"))
    source = "\n".join(p.read_text(encoding="utf-8") for p in files)  # the module file and its panels
    used = set(re.findall(r"(?:self\.ui|\bu)\.([A-Za-z_]\w*)", source))
    missing = used - ui_widget_names(module)
    assert used, "the module binds no widget"
    assert not missing, f"{module}.py uses widgets absent from {module}.ui: {sorted(missing)}"


@pytest.mark.parametrize("module", MODULES)
def test_cmakelists_lists_every_script_and_resource(module):
    text = (ROOT / module / "CMakeLists.txt").read_text()
    scripts, resources = module_files(module)
    listed = set(re.findall(r"^\s+(\S+\.\w+)\s*$", text, re.M))
    missing = (set(scripts) | set(resources)) - listed
    assert not missing, f"not listed in {module}/CMakeLists.txt (run tools/make_cmake.py): {sorted(missing)}"
    assert all((ROOT / module / f).exists() for f in listed), "CMakeLists lists a file that does not exist"
    assert f"{module}.py" in scripts and f"Resources/UI/{module}.ui" in resources


@pytest.mark.parametrize("module", MODULES)
def test_each_module_registers_its_self_test_with_ctest(module):
    text = (ROOT / module / "CMakeLists.txt").read_text()
    assert "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in text
    assert f"set(MODULE_NAME {module})" in text
    source = (ROOT / module / f"{module}.py").read_text()
    assert re.search(rf"^class {module}Test\(ScriptedLoadableModuleTest\):", source, re.M)


def test_cmbquant_panels_ship_with_the_module():
    scripts, _ = module_files("CMBQuant")
    for panel in ("inference_panel", "review_panel", "regions_panel", "export_panel", "protocols"):
        assert f"CMBQuantWidgets/{panel}.py" in scripts


def test_cmbquant_panels_bind_the_evaluate_detector_section():
    names = ui_widget_names("CMBQuant")
    assert {"predictionsPathLineEdit", "referencePathLineEdit", "distanceSpinBox", "evaluateButton"} <= names


@pytest.mark.parametrize("module", MODULES)
def test_pure_package_never_imports_qt(module):
    for path in (ROOT / module / MODULES[module]).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert name.split(".")[0] not in {"qt", "ctk", "PythonQt", "PyQt5", "PySide2", "PySide6"}, \
                    f"{path.relative_to(ROOT)} imports {name}"


def test_extension_metadata_matches_catalog_entry():
    cmake = (ROOT / "CMakeLists.txt").read_text()
    assert re.search(r"^project\(CMBQuant\)", cmake, re.M)
    for key in ("EXTENSION_HOMEPAGE", "EXTENSION_CATEGORY", "EXTENSION_CONTRIBUTORS", "EXTENSION_DESCRIPTION",
                "EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS", "EXTENSION_DEPENDS"):
        assert re.search(rf"set\({key} ", cmake), key
    assert "add_subdirectory(CMBQuant)" in cmake and "add_subdirectory(CMBQuantStats)" in cmake
    catalog = json.loads((ROOT / "CMBQuant.json").read_text())
    assert catalog["category"] == re.search(r'set\(EXTENSION_CATEGORY "([^"]+)"', cmake).group(1)
    assert catalog["scm_url"].endswith(".git") and "PyTorch" in catalog["build_dependencies"]
    for path in ("LICENSE", "Resources/Icons/CMBQuant.png", "Resources/Screenshot.png"):
        assert (ROOT / path).stat().st_size > 0, path
    assert (ROOT / "Resources/Icons/CMBQuant.png").read_bytes()[:4] == b"\x89PNG"


def test_generated_ui_files_are_up_to_date():
    sys.path.insert(0, str(ROOT / "tools"))
    import make_ui

    assert (ROOT / "CMBQuant/Resources/UI/CMBQuant.ui").read_text() == make_ui.cmbquant_ui()
    assert (ROOT / "CMBQuantStats/Resources/UI/CMBQuantStats.ui").read_text() == make_ui.stats_ui()
