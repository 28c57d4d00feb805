"""The code stays ruff-clean: part of the test suite, so CI checks it too."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (it is in the test extra)")
    done = subprocess.run([ruff, "check", "zoo", "tests", "tools"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_import_layers_and_no_torch_for_counting():
    """The import-linter contracts in pyproject.toml: every module imports only from the layers
    below it, and what counts, lists and reads metadata never imports torch."""
    lint = shutil.which("lint-imports")
    if lint is None:
        pytest.skip("import-linter is not installed (it is in the test extra)")
    done = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr


def test_no_import_cycles():
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("zoo")
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if imported != "zoo" and module != "zoo":
                assert not graph.chain_exists(imported, module), f"{module} <-> {imported}"
