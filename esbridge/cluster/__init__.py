"""The search cluster esbridge writes to and reads from: one layer for every engine."""

from esbridge.cluster.search import SearchCluster, connect

__all__ = ["SearchCluster", "connect"]
