#!/usr/bin/env python3
"""A stand-in for NextCloud's `occ files:scan`, which cannot run here (no PHP, no NextCloud).

It answers as occ does (docs: admin_manual/occ_files.rst; apps/files/lib/Command/Scan.php):
the scan summary table on success; `--path` must be `/<user>/files[/...]` with the user as the
first component. It records every call, as a JSON line with its argv, pid and uid, in
`occ-calls.jsonl` beside itself, and reads `occ-mode.json` beside itself (the test writes it;
the action's environment is minimal, so a file rather than an environment variable):
`{"locked": N}` answers the first N calls the way occ reports overlapping scans
(`OCP\\Lock\\LockedException ... is locked`, exit code 0, as occ long did), `{"fail": true}`
fails every call with exit code 1, `{"sleep": S}` takes S seconds per call.
Tests copy it into their own folder, so each gets its own record.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CALLS = HERE / "occ-calls.jsonl"
MODE = HERE / "occ-mode.json"

TABLE = """\
+---------+-------+-----+---------+---------+--------+--------------+
| Folders | Files | New | Updated | Removed | Errors | Elapsed time |
+---------+-------+-----+---------+---------+--------+--------------+
| 1       | 1     | 1   | 0       | 0       | 0      | 00:00:00     |
+---------+-------+-----+---------+---------+--------+--------------+
"""


def main(args: list[str]) -> int:
    mode = json.loads(MODE.read_text()) if MODE.exists() else {}
    line = json.dumps({"argv": args, "pid": os.getpid(), "uid": os.getuid()}) + "\n"
    with CALLS.open("a", encoding="utf-8") as calls:
        calls.write(line)
    number = sum(1 for _ in CALLS.open(encoding="utf-8"))
    time.sleep(float(mode.get("sleep", 0)))
    if args[:1] != ["files:scan"]:
        print(f'Command "{args[0] if args else ""}" is not defined.', file=sys.stderr)
        return 1
    paths = [a.removeprefix("--path=") for a in args if a.startswith("--path=")]
    if len(paths) != 1:
        print("Please specify the user id to scan, --all to scan for all users or --path=...")
        return 1
    parts = paths[0].strip("/").split("/")
    if len(parts) < 2 or parts[1] != "files":
        print(f"Invalid path given: {paths[0]}")
        return 1
    if number <= int(mode.get("locked", 0)):
        print(f"Starting scan for user 1 out of 1 ({parts[0]})")
        print('Exception during scan: "files/5b3fc3cd1ea5b8d6b3c3a9f4" is locked')
        print("#0 OCP\\Lock\\LockedException")
        return 0
    if mode.get("fail"):
        print(f"Starting scan for user 1 out of 1 ({parts[0]})")
        print("Exception during scan: Home storage for user not writable")
        return 1
    print(f"Starting scan for user 1 out of 1 ({parts[0]})")
    print(TABLE, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
