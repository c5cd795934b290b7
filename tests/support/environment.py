"""The environment for child processes: ``os.environ`` as it was before any test ran a job.

PyFlink's in-process (loopback) Python worker copies the variables Flink hands it into
``os.environ``, among them ``PYFLINK_GATEWAY_DISABLED``, which stops a child's PyFlink from
starting its Java gateway. conftest imports this module first, so the copy is clean.
"""

from __future__ import annotations

import os

BEFORE_JOBS = dict(os.environ)


def child_environment(**changes: str) -> dict[str, str]:
    return dict(BEFORE_JOBS, **changes)
