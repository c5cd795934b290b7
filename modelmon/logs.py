"""Logging for modelmon's own packages.

In local mode PyFlink runs its Python worker inside this process (loopback), and the worker
replaces the root logger's handlers with one that ships records to the JVM's log file. Our
packages therefore log through their own stderr handler and do not propagate to the root.
"""

from __future__ import annotations

import logging
import sys



def configure_logging(level: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("modelmon")  # every module of ours logs under it
    logger.handlers = [handler]
    logger.setLevel(level)
    logger.propagate = False
