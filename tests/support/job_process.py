"""A ``modelmon run`` child process the tests can watch, wait on and kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.environment import child_environment


class JobProcess:
    """``modelmon run`` in its own process group, logging to a file."""

    def __init__(self, root: Path, name: str, arguments: list[str], settings: dict[str, str] | None = None):
        self.log = root / f"{name}.log"
        self.flink_logs = root / f"{name}-flink"
        command = [sys.executable, "-m", "modelmon.cli", "run", *arguments]
        environment = child_environment(MODELMON_MONITOR_INTERVAL_SECONDS="0.2", FLINK_LOG_DIR=str(self.flink_logs),
                                        **(settings or {}))
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment,
                                            start_new_session=True)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def flink_log(self) -> str:
        """The local Flink cluster's own log (JobManager and TaskManager in one JVM)."""
        return "".join(path.read_text(errors="replace") for path in self.flink_logs.glob("*.log"))

    def wait_for(self, condition, what: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                pytest.fail(f"the job exited ({self.process.returncode}) waiting for {what}:\n{self.text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}:\n{self.text()[-3000:]}")
            time.sleep(0.2)

    def interrupt(self, timeout: float = 120) -> int:
        """SIGINT to the whole process group, as Ctrl-C in a terminal sends it (the Flink JVM
        ignores it); returns the exit code."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL to the whole process group: the Python process and its Flink JVM, mid-stride."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:  # the job had already exited
            pass
        self.process.wait(timeout=30)


def completed_checkpoints(root: Path) -> int:
    """The number of the newest completed checkpoint under ``root / "checkpoints"`` (Flink keeps
    only the newest)."""
    return max((int(m.parent.name.removeprefix("chk-")) for m in (root / "checkpoints").glob("*/chk-*/_metadata")),
               default=0)
