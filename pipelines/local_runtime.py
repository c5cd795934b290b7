"""How a local run sizes the processes it starts: the JVM PyFlink launches (its heap and
collector) and glibc's malloc arenas. The monitoring job and the benchmark's ceiling job use
the same settings, so that their figures compare. A cluster sizes its own processes."""

from __future__ import annotations

import ctypes
import os

MALLOC_ARENAS = 2
M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_malloc_arenas() -> None:
    """At most two glibc malloc arenas in this process and the processes it starts (the JVM,
    Python workers). By default glibc gives threads arenas of their own, up to 8 per core, and
    memory freed in one is not reused by the others: with gRPC's, Beam's and chdb's threads the
    job's Python process held about 0.3 GB more at the 1M-event run's peak.

    glibc fixes the limit when a ninth arena is wanted: this must run before the store, the
    JVM or the workers start their threads.
    """
    os.environ.setdefault("MALLOC_ARENA_MAX", str(MALLOC_ARENAS))  # read by processes started later
    try:
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, MALLOC_ARENAS)  # this process, from now on
    except (OSError, AttributeError):  # not glibc
        pass


# HotSpot's C2 compiler takes a method once it ran 5,000 times (15,000 with its loops); these
# thresholds are 20 and 8 times those.
C2_THRESHOLDS = ("-XX:Tier4InvocationThreshold=100000 -XX:Tier4MinInvocationThreshold=50000 "
                 "-XX:Tier4CompileThreshold=120000 -XX:Tier4BackEdgeThreshold=400000")


def set_local_jvm_options(heap_mb: int) -> None:
    """Options of the JVM PyFlink starts for a local run, through its ``JVM_ARGS`` (which wins
    when already set); read only when that JVM starts, so not under ``flink run``.

    Without a bound the heap grows towards a quarter of the machine's memory before collecting.
    The serial collector: G1's concurrent threads and structures cost more on 2 cores than they
    save (measured). Higher C2 thresholds: with the defaults, C2 compiled some 1,500 methods of
    Beam, gRPC, Flink and the planner that run per bundle or per block, not per value, for about
    10 s of a 1M-line run's JVM CPU. Methods that do run per line or per value, like the block
    reader's, still reach C2 within the first blocks, and a long run's others later.
    """
    if heap_mb and "JVM_ARGS" not in os.environ:
        os.environ["JVM_ARGS"] = f"-Xmx{heap_mb}m -XX:+UseSerialGC {C2_THRESHOLDS}"
