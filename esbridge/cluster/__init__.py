"""The search cluster esbridge writes to and reads from: clients built from the config."""

from esbridge.cluster.client import make_client

__all__ = ["make_client"]
