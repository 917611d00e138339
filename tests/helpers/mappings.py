"""The field contract of docs/fields.md and the effective mappings of rendered templates."""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from esbridge.setup.templates import (
    Resource,
    Target,
    render_resources,
)
from tests.helpers.paths import FIELDS_MD

PARSERS = ("billing", "logs", "access", "poolinfo")
SECTIONS = {
    "Envelope": "envelope",
    "billing": "billing",
    "logs": "logs",
    "access": "access",
    "poolinfo": "poolinfo",
    "dead letters": "deadletter",
}


@dataclass(frozen=True)
class Producer:
    name: str
    parser: str
    index: str
    shards: int = 1
    replicas: int = 0
    total_fields_limit: int = 1000
    retention_days: int = 30
    rollover_max_primary_shard_size: int = 50 * 1024**3
    rollover_max_age: float = 86400.0


@dataclass(frozen=True)
class Deadletter:
    index: str = "esbridge-deadletter"
    retention_days: int = 90


PRODUCERS = tuple(Producer(p, p, f"dcache-{p}") for p in PARSERS)


PLAIN = Target()
"""Elasticsearch without ILM, as the test distributions are."""
ILM = Target("elasticsearch", "ilm")
ISM = Target("opensearch", "ism")


def render(target: Target = PLAIN, producers: tuple[Producer, ...] = PRODUCERS) -> list[Resource]:
    return render_resources(producers, Deadletter(), target=target)


def by_name(resources: list[Resource], kind: str) -> dict[str, dict[str, Any]]:
    return {r.name: r.body for r in resources if r.kind == kind}


# --- docs/fields.md ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentedField:
    section: str
    path: str
    spec: str  # the documented type of this one field, e.g. "keyword + `.text`"


def documented_fields() -> list[DocumentedField]:
    fields: list[DocumentedField] = []
    section = None
    for line in FIELDS_MD.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = SECTIONS[line[3:].split(" (")[0]]
        elif line.startswith("| `") and section is not None:
            field_cell, type_cell = (cell.strip() for cell in line.strip("| ").split("|")[:2])
            fields += (DocumentedField(section, p, s) for p, s in row_fields(field_cell, type_cell))
    return fields


def row_fields(field_cell: str, type_cell: str) -> Iterator[tuple[str, str]]:
    """A row's (path, type) pairs; expands `a.b.c` / `.d`, `a.b.c/d` and `x` (type) shorthands."""
    paths: list[str] = []
    inline_types: list[str | None] = []
    for token, inline in re.findall(r"`([^`]+)`(?:\s*\(([^)]*)\))?", field_cell):
        if token.startswith("."):
            expanded = [paths[-1].rsplit(".", 1)[0] + token]
        else:
            first, *rest = token.split("/")
            expanded = [first] + [first.rsplit(".", 1)[0] + "." + leaf for leaf in rest]
        paths += expanded
        inline_types += [inline or None] * len(expanded)
    if type_cell == "mapped explicitly":
        specs = [(t or "keyword").split(",")[0] for t in inline_types]
    else:
        parts = type_cell.split(" / ")
        specs = parts if len(parts) == len(paths) else parts * len(paths)
        assert len(specs) == len(paths), f"cannot pair types with fields in {field_cell!r}"
    return zip(paths, specs, strict=True)


def expected_mapping(spec: str) -> dict[str, object]:
    """The documented type as mapping parameters: `text+keyword` means a `.keyword` subfield."""
    main_type = re.match(r"[a-z]+", spec)
    assert main_type, f"no type in {spec!r}"
    expected: dict[str, object] = {"type": main_type[0]}
    subfield = re.search(r"\+\s*`?\.?([a-z]+)", spec)
    if subfield:
        expected[f"fields.{subfield[1]}.type"] = subfield[1]
    for name, value in re.findall(r"`(\w+): (true|false)`", spec):
        expected[name] = value == "true"
    return expected


ALL_FIELDS = documented_fields()
ENVELOPE = {f.path: f.spec for f in ALL_FIELDS if f.section == "envelope"}


def resolved_spec(field: DocumentedField) -> str:
    """The field's own type, or the envelope's for rows that defer to it."""
    return ENVELOPE[field.path] if field.spec in ("envelope", "as envelope") else field.spec


def field_cases(*, dynamic: bool) -> Iterator[Any]:
    for field in ALL_FIELDS:
        if ("dynamic template" in field.spec) != dynamic:
            continue
        sections = PARSERS if field.section == "envelope" else (field.section,)
        for section in sections:
            yield pytest.param(section, field, id=f"{section}:{field.path}")


# --- mappings as Elasticsearch composes them ---------------------------------------------------


def effective_mappings(resources: list[Resource], template: str) -> dict[str, Any]:
    """Properties and dynamic templates of `template`'s components, merged in composed_of order."""
    components = by_name(resources, "component_template")
    composed_of = by_name(resources, "index_template")[template]["composed_of"]
    merged: dict[str, Any] = {"properties": {}, "dynamic_templates": []}
    for name in composed_of:
        mappings = components[name]["template"].get("mappings", {})
        merge_properties(merged["properties"], mappings.get("properties", {}))
        merged["dynamic_templates"] += mappings.get("dynamic_templates", [])
        merged.update({k: v for k, v in mappings.items() if k not in merged})
    return merged


def merge_properties(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    for name, mapping in new.items():
        if name in into and "properties" in mapping:
            merge_properties(into[name].setdefault("properties", {}), mapping["properties"])
        else:
            into[name] = json.loads(json.dumps(mapping))


def lookup(properties: Mapping[str, Any], path: str) -> dict[str, Any] | None:
    node: Mapping[str, Any] = {"properties": properties}
    for part in path.split("."):
        child = node.get("properties", {}).get(part)
        if child is None:
            return None
        node = child
    return dict(node)


def dig(mapping: Mapping[str, Any], dotted: str) -> object:
    value: Any = mapping
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def dynamic_mapping_for(mappings: Mapping[str, Any], path: str, json_type: str) -> dict[str, Any]:
    """The mapping Elasticsearch picks for a new field: the first dynamic template that matches."""
    for entry in mappings["dynamic_templates"]:
        (template,) = entry.values()
        types = template.get("match_mapping_type", "*")
        types = types if isinstance(types, list) else [types]
        path_ok = fnmatch.fnmatchcase(path, template.get("path_match", "*"))
        if path_ok and (json_type in types or "*" in types):
            return dict(template["mapping"])
    return {"type": {"string": "text", "double": "float"}.get(json_type, json_type)}


def walk_leaves(properties: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, mapping in properties.items():
        if "properties" in mapping:
            yield from walk_leaves(mapping["properties"], f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", mapping


# --- the field contract --------------------------------------------------------------------------
