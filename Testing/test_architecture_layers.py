"""The architecture holds: stages import only downwards (import-linter), no import cycles, small files, thin modules.

The layers contract lives in pyproject.toml ([tool.importlinter]); the deliberate-violation tests prove it can fail.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")
PACKAGES = {"CMBQuantLib": ROOT / "CMBQuant" / "CMBQuantLib", "CMBQuantStatsLib": ROOT / "CMBQuantStats" / "CMBQuantStatsLib"}
GENERATED: set[str] = set()  # relative paths of generated sources allowed over the size limit (none today)


def lint(cwd: Path, pythonpath: list[Path]) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": ":".join(map(str, pythonpath)), "PATH": "/usr/bin:/bin"}
    return subprocess.run([str(LINT), "--config", str(cwd / "pyproject.toml"), "--no-cache"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def copy_tree(tmp: Path) -> Path:
    """The two packages and the contract, copied so a test can break them without touching the checkout."""
    for name, src in PACKAGES.items():
        shutil.copytree(src, tmp / name, ignore=shutil.ignore_patterns("__pycache__", "*.zip", "*.nii.gz"))
    shutil.copy(ROOT / "pyproject.toml", tmp / "pyproject.toml")
    return tmp


def test_layers_contract_is_kept():
    res = lint(ROOT, [ROOT / "CMBQuant", ROOT / "CMBQuantStats"])
    assert res.returncode == 0, res.stdout + res.stderr
    assert "2 kept, 0 broken" in res.stdout


@pytest.mark.parametrize("file, line, broken", [
    ("CMBQuantLib/core/records.py", "import CMBQuantLib.commands.cli", "CMBQuantLib.core.records -> CMBQuantLib.commands.cli"),
    ("CMBQuantLib/detection/screening.py", "from CMBQuantLib.review import keymap",
     "CMBQuantLib.detection.screening -> CMBQuantLib.review.keymap"),
    ("CMBQuantStatsLib/models.py", "import CMBQuantLib.review.keymap",
     "CMBQuantStatsLib.models -> CMBQuantLib.review.keymap"),
])
def test_an_upward_import_breaks_the_contract(tmp_path, file, line, broken):
    tree = copy_tree(tmp_path)
    target = tree / file
    target.write_text(target.read_text() + f"\n{line}  # deliberate violation\n")
    res = lint(tree, [tree])
    assert res.returncode != 0
    assert "1 broken" in res.stdout and broken in res.stdout, res.stdout


def strongly_connected(edges: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's components of more than one module: each is an import cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_planted_cycle():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_no_import_cycles_between_modules():
    sys.path[:0] = [str(ROOT / "CMBQuant"), str(ROOT / "CMBQuantStats")]
    graph = grimp.build_graph("CMBQuantLib", "CMBQuantStatsLib", cache_dir=None)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert strongly_connected(edges) == []


def test_no_source_file_over_400_lines():
    too_long = {}
    for base in ("CMBQuant", "CMBQuantStats", "Testing", "benchmarks", "tools"):
        for p in (ROOT / base).rglob("*.py"):
            rel = str(p.relative_to(ROOT))
            n = len(p.read_text().splitlines())
            if n > 400 and rel not in GENERATED:
                too_long[rel] = n
    assert too_long == {}


@pytest.mark.parametrize("module", ["CMBQuant/CMBQuant.py", "CMBQuantStats/CMBQuantStats.py"])
def test_slicer_module_files_are_thin(module):
    assert len((ROOT / module).read_text().splitlines()) <= 150
