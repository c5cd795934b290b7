"""How a local run sizes the processes it starts: the JVM PyFlink launches (its heap and
collector) and glibc's malloc arenas. The monitoring job and the benchmark's ceiling job use
the same settings, so that their figures compare. A cluster sizes its own processes."""

from __future__ import annotations

import ctypes
import os

BASE_HEAP_MB = 512  # a local run's JVM without any endpoint state
# Heap per registered endpoint-feature: its feature windows and the rows they become while a
# bounded input's end closes them. Measured with 20 features and an hour of events: 3,000
# endpoints ran out of 512 MB and ran in 2 GB, 10,000 ran in 3 GB.
HEAP_KB_PER_ENDPOINT_FEATURE = 12

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


def launches_its_jvm() -> bool:
    """Whether this process will start the JVM it runs the job in (not under ``flink run``,
    which hands it a gateway to the CLI's JVM, nor with JVM_ARGS set, which wins)."""
    return "PYFLINK_GATEWAY_PORT" not in os.environ and "JVM_ARGS" not in os.environ


def machine_memory_mb() -> int:
    """This machine's physical memory."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20


def local_heap_mb(configured: int, endpoint_features: int, machine_mb: int) -> int:
    """The heap of a local run's JVM: ``configured`` when set (not 0), else sized from the
    registered endpoint-features, at most a quarter of the machine's memory; a fleet that needs
    more fails here, at start, with the setting to change, not later out of heap.

    >>> local_heap_mb(0, 0, 24_000), local_heap_mb(0, 10_000 * 20, 24_000), local_heap_mb(1024, 10**6, 24_000)
    (512, 2855, 1024)
    >>> local_heap_mb(0, 10_000 * 20, 8_000)
    Traceback (most recent call last):
    ...
    ValueError: 200,000 registered endpoint-features need about 2855 MB of Java heap in a local run, more than a quarter of this machine's 8000 MB: set local_jvm_heap_mb (MODELMON_LOCAL_JVM_HEAP_MB) to give it that much anyway, or submit the job to a cluster
    """
    if configured:
        return configured
    needed = BASE_HEAP_MB + endpoint_features * HEAP_KB_PER_ENDPOINT_FEATURE // 1024
    if needed > machine_mb // 4:
        raise ValueError(f"{endpoint_features:,} registered endpoint-features need about {needed} MB of Java heap in a "
                         f"local run, more than a quarter of this machine's {machine_mb} MB: set local_jvm_heap_mb "
                         "(MODELMON_LOCAL_JVM_HEAP_MB) to give it that much anyway, or submit the job to a cluster")
    return needed
