"""A local run's processes: at most two glibc malloc arenas however many threads allocate."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.environment import child_environment

# 16 threads allocate at once (each first malloc of a thread takes an arena), then glibc's
# malloc_info lists the arenas, one <heap> each.
ARENAS_IN_A_CHILD = """
import ctypes, sys, tempfile, threading
from modelmon.pipelines.local_runtime import limit_malloc_arenas
if sys.argv[1] == "limited":
    limit_malloc_arenas()
together = threading.Barrier(16)
def allocate():
    kept = [bytearray(4096) for _ in range(1000)]
    together.wait()
threads = [threading.Thread(target=allocate) for _ in range(16)]
[thread.start() for thread in threads]
[thread.join() for thread in threads]
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
with tempfile.NamedTemporaryFile() as info:
    stream = libc.fopen(info.name.encode(), b"w")
    libc.malloc_info(0, ctypes.c_void_p(stream))
    libc.fclose(ctypes.c_void_p(stream))
    print(open(info.name).read().count("<heap nr="))
"""


def arenas(mode: str) -> int:
    environment = child_environment()
    environment.pop("MALLOC_ARENA_MAX", None)
    done = subprocess.run([sys.executable, "-c", ARENAS_IN_A_CHILD, mode], env=environment, capture_output=True,
                          text=True, timeout=60, check=True)
    return int(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's arenas")
def test_malloc_arenas_are_limited_to_two():
    assert arenas("default") > 2  # what the limit prevents
    assert arenas("limited") <= 2


def test_a_fleet_too_large_for_the_machine_is_refused_before_the_jvm_starts(tmp_path, monkeypatch, capsys):
    """With the heap sized from the registered references (the default), a fleet that needs
    more than a quarter of the machine stops at start and names the setting."""
    from benchmarks.job_bench import fresh_store_with_references
    from modelmon.cli import main
    from modelmon.pipelines import local_runtime, monitoring_job

    fresh_store_with_references(f"chdb://{tmp_path / 'store'}", 50, 20, tmp_path)
    monkeypatch.setattr(monitoring_job, "machine_memory_mb", lambda: 2_000)  # 500 MB: less than 50 x 20 need
    monkeypatch.delenv("JVM_ARGS", raising=False)
    (tmp_path / "spool").mkdir()
    code = main(["run", "--bounded", "--source", str(tmp_path / "spool"), "--store", f"chdb://{tmp_path / 'store'}"])
    said = capsys.readouterr().err
    assert code == 2
    assert "1,000 registered endpoint-features need about 523 MB of Java heap" in said
    assert "MODELMON_LOCAL_JVM_HEAP_MB" in said
    assert "JVM_ARGS" not in local_runtime.os.environ  # refused before anything was started
