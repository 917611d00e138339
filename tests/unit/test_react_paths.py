"""Prefix mapping of a message's path, and the refusal of hostile ones."""

from __future__ import annotations

import pytest

from esbridge.config.react import PathConfig
from esbridge.react.paths import Mapped, Refused, map_path

NEXTCLOUD = PathConfig(strip_prefix="/pnfs/desy.de/sync/", add_prefix="/", only="/[^/]+/files/.+")


def test_a_file_maps_to_its_user_relative_path_and_folder() -> None:
    assert map_path("/pnfs/desy.de/sync/alice/files/Photos/x.jpg", NEXTCLOUD) == Mapped(
        "/alice/files/Photos/x.jpg", "/alice/files/Photos", "x.jpg"
    )


def test_the_prefix_is_removed_as_a_prefix_not_as_characters() -> None:
    """`str.strip(prefix)` would also eat the `s`, `y`, `n`, `c` of the user `sync`."""
    mapped = map_path("/pnfs/desy.de/sync/sync/files/c.txt", NEXTCLOUD)
    assert isinstance(mapped, Mapped)
    assert mapped.path == "/sync/files/c.txt"


@pytest.mark.parametrize(
    "path",
    [
        "/pnfs/desy.de/syncother/alice/files/x",
        "/pnfs/desy.de/other/alice/files/x",
        "/pnfs/desy.de/sync",
        "/pnfs/desy.de/sync/",
        "/pnfs/desy.de/sync/alice/cache/x",
        "/pnfs/desy.de/sync/appdata_oc1/preview/x",
        "relative/alice/files/x",
    ],
)
def test_paths_outside_the_prefix_or_the_files_tree_are_not_ours(path: str) -> None:
    assert map_path(path, NEXTCLOUD) is None


def test_a_non_string_is_not_ours() -> None:
    assert map_path(17, NEXTCLOUD) is None
    assert map_path(None, NEXTCLOUD) is None


def test_dot_segments_and_doubled_slashes_are_normalised() -> None:
    mapped = map_path("/pnfs/desy.de/sync/alice//files/./a/../b/x", NEXTCLOUD)
    assert mapped == Mapped("/alice/files/b/x", "/alice/files/b", "x")


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/pnfs/desy.de/sync/../../etc/passwd", "climbs out"),
        ("/pnfs/desy.de/sync/alice/../../x", "climbs out"),
        ("/pnfs/desy.de/sync/alice/files/a\0b", "NUL"),
        ("/pnfs/desy.de/sync/alice/files/a\nb", "U+000A"),
        ("/pnfs/desy.de/sync/alice/files/a\rb", "U+000D"),
        ("/pnfs/desy.de/sync/alice/files/a\x1b[2Jb", "U+001B"),
        ("/pnfs/desy.de/sync/alice/files/a\x85b", "U+0085"),
        ("/pnfs/desy.de/sync/alice/files/a\u2028b", "U+2028"),
        ("/pnfs/desy.de/sync/alice/files/\udcffx", "not valid UTF-8"),
        ("/pnfs/desy.de/sync/alice/files/" + "n" * 4096, "longer than 4096"),
    ],
)
def test_hostile_paths_are_refused_with_a_reason(path: str, reason: str) -> None:
    refused = map_path(path, NEXTCLOUD)
    assert isinstance(refused, Refused)
    assert reason in refused.reason


def test_a_mapped_path_starting_with_a_dash_is_refused() -> None:
    bare = PathConfig(strip_prefix="/data", add_prefix="")
    refused = map_path("/data/-rf/x", bare)
    assert isinstance(refused, Refused)
    assert "'-'" in refused.reason
    assert map_path("/data/a/-rf", bare) == Mapped("a/-rf", "a", "-rf")


@pytest.mark.parametrize("name", ["a b.txt", 'it\'s "q".txt', "x;rm -rf ~", "$(id)", "`id`", "-rf"])
def test_shell_syntax_is_just_characters(name: str) -> None:
    mapped = map_path(f"/pnfs/desy.de/sync/alice/files/d/{name}", NEXTCLOUD)
    assert mapped == Mapped(f"/alice/files/d/{name}", "/alice/files/d", name)
