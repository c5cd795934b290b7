"""A real standalone Flink session cluster from the installed PyFlink package, for tests.

``bin/start-cluster.sh`` starts one JobManager and one TaskManager with the given slots,
every port bound to 127.0.0.1, with configuration and logs in a temporary directory.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import yaml
from pyflink.find_flink_home import _find_flink_home

from tests.support.environment import child_environment
from tests.support.loopback import free_port

FLINK_HOME = Path(_find_flink_home())


def _write_configuration(conf_dir: Path, rest_port: int, slots: int) -> None:
    default = yaml.safe_load((FLINK_HOME / "conf" / "config.yaml").read_text())
    loopback = "127.0.0.1"
    settings = {
        "env": default["env"],  # the JVM flags Flink needs on Java 17
        "jobmanager": {"rpc": {"address": loopback, "port": free_port()}, "bind-host": loopback,
                       "memory": {"process": {"size": "1024m"}}},
        "taskmanager": {"bind-host": loopback, "host": loopback, "numberOfTaskSlots": slots,
                        "memory": {"process": {"size": "2560m"}}},
        "rest": {"address": loopback, "bind-address": loopback, "port": rest_port},
        "blob": {"server": {"port": str(free_port())}},
        "parallelism": {"default": 1},
    }
    conf_dir.mkdir(parents=True)
    (conf_dir / "config.yaml").write_text(yaml.safe_dump(settings))
    for name in ("log4j.properties", "log4j-cli.properties", "log4j-console.properties"):
        (conf_dir / name).write_text((FLINK_HOME / "conf" / name).read_text())
    (conf_dir / "masters").write_text(f"{loopback}:{rest_port}\n")
    (conf_dir / "workers").write_text(f"{loopback}\n")


def _wait_for_slots(rest_url: str, slots: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{rest_url}/overview", timeout=2) as response:
                if json.load(response).get("slots-total", 0) >= slots:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the Flink cluster at {rest_url} did not offer {slots} slots in {timeout:.0f} s")


@contextmanager
def standalone_cluster(root: Path, slots: int = 2) -> Iterator[tuple[str, dict[str, str]]]:
    """Yields the JobManager address (host:port) and the environment for ``bin/flink``."""
    rest_port = free_port()
    environment = child_environment(FLINK_CONF_DIR=str(root / "conf"), FLINK_LOG_DIR=str(root / "log"),
                                    FLINK_PID_DIR=str(root / "pid"))
    _write_configuration(root / "conf", rest_port, slots)
    for directory in ("log", "pid"):
        (root / directory).mkdir()
    subprocess.run([str(FLINK_HOME / "bin" / "start-cluster.sh")], env=environment, check=True,
                   capture_output=True, timeout=120)
    try:
        _wait_for_slots(f"http://127.0.0.1:{rest_port}", slots, timeout=120)
        yield f"127.0.0.1:{rest_port}", environment
    finally:
        subprocess.run([str(FLINK_HOME / "bin" / "stop-cluster.sh")], env=environment, capture_output=True,
                       timeout=120)
