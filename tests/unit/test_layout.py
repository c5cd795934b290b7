"""DESIGN.md "Code layout": imports point one way (import-linter's contracts in pyproject.toml),
everything is imported as ``modelmon.*``, and no test module imports another."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUR_FOLDERS = ("modelmon", "udfs", "pipelines", "api", "sql", "benchmarks")
INSTALLED_AS_SUBPACKAGES = {"udfs", "pipelines", "api", "sql"}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, relative ones resolved to nothing."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
    return found


def python_files(*folders: str) -> list[Path]:
    return [path for folder in folders for path in sorted((ROOT / folder).rglob("*.py"))
            if not path.is_relative_to(ROOT / "modelmon") or path.parent == ROOT / "modelmon"]


def test_import_linter_contracts_are_kept():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize("folder", OUR_FOLDERS + ("tests",))
def test_our_folders_are_imported_only_under_modelmon(folder):
    """``import udfs`` works only from a checkout's root; installed, there is only modelmon.udfs."""
    wrong = [f"{path.relative_to(ROOT)}:{line}: {module}" for path in python_files(folder)
             for line, module in imported_modules(path) if module.split(".")[0] in INSTALLED_AS_SUBPACKAGES]
    assert not wrong


def test_no_test_module_imports_another():
    """Tests share code through tests/support only."""
    wrong = [f"{path.relative_to(ROOT)}:{line}: {module}" for path in python_files("tests")
             for line, module in imported_modules(path)
             if module.startswith("tests.") and not module.startswith("tests.support")]
    assert not wrong


def test_every_test_module_sits_in_a_layer():
    loose = [path.name for path in (ROOT / "tests").glob("test_*.py")]
    assert not loose, "tests/ has layers: unit/, job/, system/"
