"""A non-editable install is one package, ``modelmon``, and runs the job without writing into
itself: the reader's jar goes to the user's cache, never into site-packages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from modelmon.simulator import simulate
from tests.support.environment import child_environment

ROOT = Path(__file__).resolve().parents[2]


def tree(directory: Path) -> dict[str, int]:
    """Every file below ``directory`` with its modification time."""
    return {str(path.relative_to(directory)): path.stat().st_mtime_ns for path in directory.rglob("*")}


def test_a_read_only_install_runs_a_bounded_job_and_nothing_is_written_into_it(tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(ROOT)],
                   check=True, cwd=tmp_path)
    assert sorted(path.name for path in site.iterdir() if not path.name.endswith(".dist-info")) == ["bin", "modelmon"]
    assert {"udfs", "pipelines", "api", "sql"} <= {path.name for path in (site / "modelmon").iterdir()}
    assert not list(site.rglob("*.jar"))
    for path in [site, *site.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)  # read-only (a root run can still write: the tree is compared too)
    before = tree(site)
    simulate(tmp_path / "spool", 2_000, endpoints=2, features=3, seed=5)
    environment = child_environment(PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE="1",
                                    MODELMON_CACHE_DIR=str(tmp_path / "cache"))

    def python(*arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *arguments], cwd=tmp_path, env=environment, capture_output=True,
                              text=True, timeout=600)

    assert python("-c", "import modelmon.udfs; print(modelmon.udfs.__file__)").stdout.startswith(str(site))
    for top_level in ("api", "udfs", "pipelines", "sql"):
        assert "ModuleNotFoundError" in python("-c", f"import {top_level}").stderr
    run = python("-m", "modelmon.cli", "run", "--bounded", "--source", str(tmp_path / "spool"),
                 "--store", f"chdb://{tmp_path / 'store'}")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "'endpoint_metrics': 0" not in run.stdout and "rows in the store" in run.stdout
    assert tree(site) == before
    assert list((tmp_path / "cache" / "jars").glob("*.jar"))
    for path in [site, *site.rglob("*")]:
        os.chmod(path, path.stat().st_mode | 0o200)  # so that pytest can remove it
