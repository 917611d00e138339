"""Log lines an operator can grep: UTC time, level, component, then key=value where it helps."""

from __future__ import annotations

import logging
import sys
import time


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter(
        "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("esbridge").setLevel(level.upper())
    logging.getLogger("kafka").setLevel(logging.ERROR)  # its event-loop timing notes are noise
