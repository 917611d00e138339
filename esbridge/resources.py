"""Files that commands read at run time, found inside the installed package.

The operator-facing folders stay at the top of the repository (`index-templates/`,
`pipelines/logstash/templates/`, `examples/`); `esbridge/_data/` holds one symbolic link to
each, and the wheel build copies what they point at into the package. So a checkout, an
editable install and a wheel all find the same files by the same names, and nothing is
committed twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import jinja2

INDEX_TEMPLATES = "index-templates"
LOGSTASH_TEMPLATES = "logstash"
EXAMPLES = "examples"


def data(*parts: str) -> Traversable:
    """`esbridge/_data/<parts...>`, wherever the package is installed."""
    return resources.files("esbridge").joinpath("_data", *parts)


def jinja_environment(folder: str) -> jinja2.Environment:
    """A strict Jinja2 environment over one data folder, for JSON and config text, not HTML."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("esbridge", f"_data/{folder}"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - the output is JSON or Logstash config, never HTML
        keep_trailing_newline=True,
    )


@contextlib.contextmanager
def example_config() -> Iterator[Path]:
    """The shipped `examples/dcache.yml` as a file path (its `rules/` folder beside it)."""
    with resources.as_file(data(EXAMPLES)) as folder:
        yield folder / "dcache.yml"


def shipped_rule_packs() -> list[str]:
    """Names of the rule packs in the package (`examples/rules/<name>.yml`)."""
    folder = data(EXAMPLES, "rules")
    return sorted(e.name.removesuffix(".yml") for e in folder.iterdir() if e.name.endswith(".yml"))


def rule_pack(name: str) -> Path | None:
    """The file of a shipped rule pack, or None when no pack has that name."""
    if name not in shipped_rule_packs():
        return None
    return Path(str(data(EXAMPLES, "rules", f"{name}.yml")))
