"""`esbridge check`: a config's validity and every endpoint it names, one verdict per line."""

from esbridge.check.probes import Verdict, offline_verdicts, online_verdicts

__all__ = ["Verdict", "offline_verdicts", "online_verdicts"]
