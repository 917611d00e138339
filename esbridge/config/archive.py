"""The `archive:` section: where `esbridge archive` keeps every stream, and when it rolls files."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from esbridge.config.base import Section
from esbridge.config.units import Bytes, Seconds

ArchiveFormat = Literal["parquet", "jsonl.gz"]

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def _local_root(value: str) -> str:
    """A local or mounted (NFS) path: the archive's exactly-once rests on an atomic rename in
    one file system, which object stores such as S3 do not have (docs/archive.md)."""
    if _URL.match(value):
        raise ValueError(
            "a URL: the archive needs a local or mounted path (e.g. dCache over NFS), since its "
            "exactly-once rests on an atomic rename, which S3 and other object stores lack"
        )
    if not value.strip():
        raise ValueError("must not be empty")
    return value


class ArchiveConfig(Section):
    """Every producer's stream kept in daily Parquet (or JSON lines gz) files, exactly once."""

    root: Annotated[str, AfterValidator(_local_root)]
    format: ArchiveFormat = "parquet"
    roll_size: Annotated[Bytes, Field(ge=1)] = 64 * 1024**2
    """A partition's files are written once one of its day buffers holds this many raw bytes."""
    roll_interval: Annotated[Seconds, Field(gt=0)] = 600.0
    """...or once its oldest buffered record waited this long (wall clock of the archiver)."""
    group_id: Annotated[str, Field(min_length=1)] = "esbridge-archive"
    """Its own consumer group: the archive reads every message whatever ingest does."""
    stats_interval: Seconds = 60.0
