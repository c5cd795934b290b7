"""``modelmon submit``: the monitoring job on a Flink session cluster, through Flink's own CLI.

It runs ``bin/flink run -py pipelines/monitoring_job.py`` with the job's options, so what
users see is exactly what a hand-written ``flink run`` line does: a bounded run waits for
the job to finish (and fails when it fails), a continuous run is submitted detached.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def flink_home() -> Path:
    """``FLINK_HOME``, else the Flink distribution inside the installed PyFlink package."""
    if os.environ.get("FLINK_HOME"):
        return Path(os.environ["FLINK_HOME"])
    from pyflink.find_flink_home import _find_flink_home

    return Path(_find_flink_home())


def flink_run_command(flink: Path, jobmanager: str, job_arguments: list[str], bounded: bool,
                      parallelism: int | None = None, worker_python: str | None = None) -> list[str]:
    """The ``flink run`` line for the job file; ``worker_python`` is the TaskManagers' interpreter
    (default: the job's own, which suits a cluster on this machine or in the same image).

    >>> flink_run_command(Path("/opt/flink"), "jm:8081", ["--source", "kafka://k:9092/p"], bounded=False,
    ...                   parallelism=2)[:8]
    ['/opt/flink/bin/flink', 'run', '-m', 'jm:8081', '-p', '2', '-d', '-pyclientexec']
    """
    from modelmon.pipelines import monitoring_job

    command = [str(flink / "bin" / "flink"), "run", "-m", jobmanager]
    if parallelism:
        command += ["-p", str(parallelism)]
    if not bounded:
        command.append("-d")
    command += ["-pyclientexec", sys.executable]
    if worker_python:
        command += ["-pyexec", worker_python]
    command += ["-py", monitoring_job.__file__, *job_arguments]
    if bounded:
        command.append("--bounded")
    return command


def submit(jobmanager: str, job_arguments: list[str], bounded: bool, parallelism: int | None = None,
           worker_python: str | None = None) -> int:
    """Run ``flink run``; returns its exit status."""
    command = flink_run_command(flink_home(), jobmanager, job_arguments, bounded, parallelism, worker_python)
    print("modelmon submit:", " ".join(command), file=sys.stderr, flush=True)
    return subprocess.run(command).returncode
