"""The root of every error a person can see: its message is the whole story, in a line or two.

The command line prints an `EsbridgeError` as `error: <message>` and exits with its
`exit_code` (2 for a config or usage mistake, 1 for a failure at run time); anything else is a
bug and keeps its traceback. Internal signals (a record that becomes a dead letter, an
optimistic-concurrency conflict) are not `EsbridgeError`s: nobody is meant to see them.
"""

from __future__ import annotations


class EsbridgeError(Exception):
    """A failure the user can act on; the message names what failed and never a secret."""

    exit_code = 1


class UsageError(EsbridgeError):
    """The command or its config is wrong; nothing was attempted."""

    exit_code = 2
