"""Types of the compiled hot path (native/, built by setuptools-rust when cargo is present)."""

def billing_lines(
    values: list[bytes | None],
    partitions: list[int],
    offsets: list[int],
    topic: str,
    producer: str,
    index: str,
    id_prefix: str,
    deterministic_ids: bool,
    dcache_instance: str | None,
    mandatory: list[list[str]],
    max_message_bytes: int,
    original_max_bytes: int,
    ingested: str,
) -> list[tuple[bytes, str] | None]: ...

def logs_lines(
    values: list[bytes | None],
    partitions: list[int],
    offsets: list[int],
    topic: str,
    producer: str,
    index: str,
    id_prefix: str,
    deterministic_ids: bool,
    dcache_instance: str | None,
    mandatory: list[list[str]],
    max_message_bytes: int,
    original_max_bytes: int,
    ingested: str,
    log_zone: tuple[int, int, list[int], list[int]],
) -> list[tuple[bytes, str] | None]: ...

def access_lines(
    values: list[bytes | None],
    partitions: list[int],
    offsets: list[int],
    topic: str,
    producer: str,
    index: str,
    id_prefix: str,
    deterministic_ids: bool,
    dcache_instance: str | None,
    mandatory: list[list[str]],
    max_message_bytes: int,
    original_max_bytes: int,
    ingested: str,
    log_zone: tuple[int, int, list[int], list[int]],
) -> list[tuple[bytes, str] | None]: ...

def poolinfo_lines(
    values: list[bytes | None],
    partitions: list[int],
    offsets: list[int],
    topic: str,
    producer: str,
    index: str,
    id_prefix: str,
    deterministic_ids: bool,
    dcache_instance: str | None,
    mandatory: list[list[str]],
    max_message_bytes: int,
    original_max_bytes: int,
    ingested: str,
    log_zone: tuple[int, int, list[int], list[int]],
) -> list[tuple[bytes, str] | None]: ...
