"""What each Python worker process of the job sets for itself, from its functions' ``open``,
and how a stopped job's worker threads end."""

from __future__ import annotations

import gc
import logging
import threading

import grpc

log = logging.getLogger(__name__)

# Python's default first threshold is 700 allocations. A worker allocates millions of small,
# short-lived objects (rows, slices, partial summaries) while it holds a large live state
# (every endpoint's windows), and its collections walk that state. A 3,000-endpoint run
# took 166.4-168.3 s at the default, 142.1-144.1 s at these (with the latency percentiles in
# plain Python; either change alone left it as it was).
COLLECTOR_THRESHOLDS = (50_000, 20, 100)


def tune_worker() -> None:
    """Collect cyclic garbage less often (:data:`COLLECTOR_THRESHOLDS`); cycles are still collected.

    >>> before = gc.get_threshold()
    >>> tune_worker(); gc.get_threshold() == COLLECTOR_THRESHOLDS
    True
    >>> gc.set_threshold(*before)
    """
    gc.set_threshold(*COLLECTOR_THRESHOLDS)


DATA_READER_THREAD = "read_grpc_client_inputs"  # Beam's thread reading a worker's data channel


def hang_ups_expected() -> None:
    """From now on (a stop we asked for), a worker data reader ending with CANCELLED is logged at
    debug level instead of printing a traceback: the JVM hangs up the channel once the
    savepoint holds the state ("Multiplexer hanging up"), and nothing is lost. Any other
    thread's exception prints as before."""
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        error = args.exc_value
        if (args.thread is not None and args.thread.name == DATA_READER_THREAD and isinstance(error, grpc.RpcError)
                and isinstance(error, grpc.Call) and error.code() == grpc.StatusCode.CANCELLED):
            log.debug("the stopped job's data channel hung up: %s", error.details())
            return
        previous(args)

    threading.excepthook = hook
