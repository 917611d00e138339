"""Log lines an operator can grep: UTC time, level, component, then key=value where it helps."""

from __future__ import annotations

import logging
import sys
import time

from esbridge.ingest.kafka.ratelimit import RepeatFilter


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter(
        "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(RepeatFilter())  # a Kafka client's retries would flood the journal
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("esbridge").setLevel(level.upper())
    logging.getLogger("kafka").setLevel(logging.ERROR)  # its event-loop timing notes are noise
