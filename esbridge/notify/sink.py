"""A local SMTP sink for demos: every message it accepts is appended to one mbox file.

`python -m esbridge.notify.sink --port 8025 --out mail.mbox` runs until SIGTERM/SIGINT, so the
README's first command can show the digest `esbridge watch` mails without a real relay.
"""

from __future__ import annotations

import argparse
import mailbox
import signal
import threading
from email import message_from_bytes
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class MboxHandler:
    """Appends each message to an mbox file, which any mail reader (or `cat`) opens."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook
        message = message_from_bytes(envelope.original_content or envelope.content)
        with self._lock:
            box = mailbox.mbox(self.path)
            try:
                box.add(message)
                box.flush()
            finally:
                box.close()
        return "250 OK"


def main(argv: list[str] | None = None) -> None:
    """Serve on loopback (or `--host`, e.g. inside a container) until stopped."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--out", type=Path, required=True, help="mbox file to append to")
    args = parser.parse_args(argv)
    controller = Controller(MboxHandler(args.out), hostname=args.host, port=args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    controller.start()
    print(f"smtp sink on {args.host}:{args.port}, writing {args.out}", flush=True)
    try:
        stop.wait()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
