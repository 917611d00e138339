"""The parent of one action: it runs the command and kills the command's process group when the
watcher dies, however it dies.

`actions.py` starts it as `python -I -S supervisor.py <lifeline fd> <program> <args...>` in a new
session, so this process leads a new process group that the command and everything it starts
join. The lifeline is the read end of a pipe whose only write end the watcher holds and never
writes to: when the watcher exits, is killed (SIGKILL included) or crashes, the kernel closes
that end, the read here returns end-of-file, and the whole group is SIGKILLed, this process
with it. Standard library only, and run in isolated mode, so that nothing of esbridge's
environment or import path reaches the command.

Exit status: the command's (a command killed by a signal is re-raised on this process, so the
watcher sees the same status), or `CANNOT_START` with the reason on stderr when it did not start.

`esbridge react` may pass `<lifeline fd>:<uid>:<gid>`: the command alone then runs as that
account (this process stays react's, so it can still kill the group, and it need not be
readable by that account).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

CANNOT_START = 127
CANNOT_START_PREFIX = "cannot start"


def main(args: list[str]) -> int:
    """Run `args[1:]` with `args[0]` as the lifeline descriptor; the command's exit status."""
    fd, _, account = args[0].partition(":")
    lifeline, command = int(fd), args[1:]
    uid, _, gid = account.partition(":")
    try:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            user=int(uid) if uid else None,
            group=int(gid) if gid else None,
            extra_groups=[] if uid else None,
        )
    except (OSError, ValueError) as exc:
        print(f"{CANNOT_START_PREFIX} {command[0]!r}: {exc}", file=sys.stderr, flush=True)
        return CANNOT_START
    threading.Thread(target=_kill_group_at_eof, args=(lifeline,), daemon=True).start()
    code = child.wait()
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


def _kill_group_at_eof(lifeline: int) -> None:
    while os.read(lifeline, 1):
        pass
    os.killpg(0, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
