"""`esbridge setup`'s engine against the session's Elasticsearch 9: install, re-install, write.

Installs go through esbridge's own layer (`SearchCluster`); what they left in the cluster is
read back with elasticsearch-py, an independent client that speaks Elasticsearch 9. Every test
installs under its own name prefix, so runs never see each other's templates, and the `site`
fixture removes indices, aliases, templates and policies afterwards. The other three engines:
tests/integration/test_setup_engines.py.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from esbridge.cluster.search import SearchCluster
from esbridge.setup.installer import SetupError, install, no_lifecycle
from esbridge.setup.templates import (
    INSTALL_ORDER,
    Resource,
    Target,
    bootstrap_index_name,
    render_resources,
)
from esbridge.transforms import PARSERS as TRANSFORMS
from esbridge.transforms import ParseContext, ParseError
from tests.helpers.mappings import PARSERS, Deadletter, Producer


@dataclass(frozen=True)
class Site:
    """One test's producers and dead letters, every name under its own prefix."""

    prefix: str
    producers: tuple[Producer, ...]
    deadletter: Deadletter
    cluster: SearchCluster

    @property
    def ilm(self) -> bool:
        return self.cluster.lifecycle() == "ilm"

    def resources(self, producers: tuple[Producer, ...] | None = None) -> list[Resource]:
        return render_resources(
            self.producers if producers is None else producers,
            self.deadletter,
            target=Target.of(self.cluster),
            prefix=self.prefix,
        )

    def alias(self, parser: str) -> str:
        return f"{self.prefix}-dcache-{parser}"


@pytest.fixture
def site(es: Elasticsearch, search_cluster: SearchCluster) -> Iterator[Site]:
    """A site under a fresh prefix, removed afterwards.

    Not conftest's `unique_name`: its clean-up deletes indices by wildcard, which Elasticsearch
    refuses under its default `action.destructive_requires_name: true`.
    """
    prefix = f"esbt-{uuid.uuid4().hex[:10]}"
    producers = tuple(Producer(p, p, f"{prefix}-dcache-{p}") for p in PARSERS)
    site = Site(prefix, producers, Deadletter(f"{prefix}-deadletter"), search_cluster)
    yield site
    indices = es.indices.get(index=f"{prefix}*", expand_wildcards="all")
    if indices:
        es.indices.delete(index=",".join(indices))
    es.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}*")
    es.options(ignore_status=404).cluster.delete_component_template(name=f"{prefix}*")
    if site.ilm:
        for name in (*PARSERS, "deadletter"):
            es.options(ignore_status=404).ilm.delete_lifecycle(name=f"{prefix}-{name}")


def actions(changes: list[Any]) -> dict[tuple[str, str], str]:
    return {(c.kind, c.name): c.action for c in changes}


def index_doc(es: Elasticsearch, alias: str, doc_id: str, doc: dict[str, Any]) -> dict[str, Any]:
    response = es.index(index=alias, id=doc_id, document=doc, op_type="create", refresh=True)
    return dict(response.body)


def field_type(es: Elasticsearch, index: str, field: str) -> str:
    found = es.indices.get_field_mapping(index=index, fields=field)[index]["mappings"][field]
    leaf = field.rsplit(".", 1)[-1]
    return str(found["mapping"][leaf]["type"])


def envelope(parser: str, offset: int) -> dict[str, Any]:
    return {
        "producer": parser,
        "event": {"ingested": "2026-10-14T07:12:05.002Z"},
        "kafka": {"topic": parser, "partition": 3, "offset": offset},
        "dcache": {"instance": "desy-prod"},
    }


def billing_transfer() -> dict[str, Any]:
    doc = envelope("billing", 81_233_004)
    doc["@timestamp"] = "2026-10-14T07:12:03.410Z"
    doc["event"] |= {"action": "transfer", "outcome": "success", "original": '{"msgType": ...}'}
    doc["dcache"] |= {"domain": "dcache-xfel497-01Domain", "cell": "dcache-xfel497-01"}
    doc["dcache"]["cell_type"] = "pool"
    doc["billing"] = {
        "version": "1.0",
        "status": {"code": 0, "msg": ""},
        "session": "pool:dcache-xfel497-01@dcache-xfel497-01Domain:1760425923410-311",
        "initiator": "door:NFS-dcache-xfel-door01@nfsDomain:AAYH2k3Lw1A:1760425882180000",
        "pnfsid": "00003A1E5C0B7D2F4E8A9B6C1D2E3F405162",
        "path": "/pnfs/desy.de/xfel/raw/p3012/r0045/RAW-R0045-DA01-S00000.h5",
        "transfer_path": "/pnfs/desy.de/xfel/raw/p3012/r0045/RAW-R0045-DA01-S00000.h5",
        "file_size": 8_589_934_592,
        "transfer_size": 8_589_934_592,
        "transfer_time_ms": 41_230,
        "queuing_time_ms": 12,
        "storage_info": "xfel:raw@osm",
        "direction": "write",
        "is_write": True,
        "is_p2p": False,
        "mean_write_bandwidth": 208_347_000.0,
        "write_idle_ms": 1200.0,
        "write_active_ms": 39_900.0,
        "protocol": {"name": "NFS4", "version": "4.1", "host": "131.169.40.17", "port": 0},
        "local_endpoint": {"ip": "131.169.41.97", "port": 33115},
        "subject": ["UidPrincipal[4021]", "GidPrincipal[3100,primary]", "Origin[131.169.40.17]"],
    }
    doc["user"] = {"id": "4021", "name": "xfelops"}
    doc["group"] = {"id": "3100"}
    doc["client"] = {"ip": "131.169.40.17"}
    return doc


def billing_request() -> dict[str, Any]:
    """A door's request record: IPv6 client, FQAN, nested mover info, an unforeseen key."""
    doc = envelope("billing", 81_233_005)
    doc["@timestamp"] = "2026-10-14T07:12:04.000Z"
    doc["event"] |= {"action": "request", "outcome": "failure"}
    doc["dcache"] |= {"domain": "webdavDomain", "cell": "WebDAV-dcache-door02", "cell_type": "door"}
    doc["billing"] = {
        "version": "1.0",
        "status": {"code": 10018, "msg": "Permission denied"},
        "fqan": "/cms/Role=production",
        "mover": {"transferTime": 3, "protocolInfo": {"protocol": "Http", "port": 2880}},
        "client_chain": "2001:638:700:1005::1:5a",
    }
    doc["client"] = {"ip": "2001:638:700:1005::1:5a"}
    return doc


def logs_pool_disabled() -> dict[str, Any]:
    doc = envelope("logs", 5_512)
    doc["@timestamp"] = "2026-10-14T07:49:55.000Z"
    doc["host"] = {"name": "xfel497"}
    doc["dcache"] |= {"domain": "dcache-xfel497-01Domain", "cell": "dcache-xfel497-01"}
    doc["dcache"]["pool"] = {
        "name": "dcache-xfel497-01",
        "mode": "disabled(fetch,store,stage,p2p-client,p2p-server,dead)",
        "flags": ["fetch", "store", "stage", "p2p-client", "p2p-server", "dead"],
        "reason": "Shutdown",
    }
    doc["message"] = (
        "Pool mode changed to disabled(fetch,store,stage,p2p-client,p2p-server,dead): Shutdown"
    )
    doc["log"] = {
        "logger": "dcache-xfel497-01",
        "parsed": True,
        "syslog": {"identifier": "dcache@dcache-xfel497-01Domain"},
    }
    return doc


def access_webdav_get() -> dict[str, Any]:
    doc = envelope("access", 77)
    doc["@timestamp"] = "2026-10-14T07:15:02.004Z"
    doc["host"] = {"name": "dcache-door02"}
    doc["dcache"]["domain"] = "webdavDomain"
    url = "https://dcache-door02.desy.de:2880/pnfs/desy.de/sync/users/jdoe/missing.txt"
    doc["log"] = {"level": "WARN", "file": {"path": "/var/log/dcache/webdavDomain.access"}}
    doc["event"]["action"] = "org.dcache.webdav.request"
    doc["access"] = {
        "request": {"method": "GET", "url": url},
        "response": {"code": 404, "reason": "Not Found"},
        "duration": 3,
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        "user": {"mapped": "20311:20000"},
        "session": "door:WebDAV-dcache-door02@webdavDomain:AAYH2k5aaa1:1760426102000000",
        "socket": {"remote": "[2001:638:700:1005::1:5a]:41874"},
        "retries": 2,
    }
    doc["url"] = {"full": url, "path": "/pnfs/desy.de/sync/users/jdoe/missing.txt"}
    doc["source"] = {"ip": "2001:638:700:1005::1:5a", "port": 41874}
    doc["http"] = {"request": {"method": "GET"}, "response": {"status_code": 404}}
    doc["user_agent"] = {"original": "Mozilla/5.0 (X11; Linux x86_64)"}
    return doc


def poolinfo_snapshot() -> dict[str, Any]:
    doc = envelope("poolinfo", 12)
    doc["@timestamp"] = "2026-10-14T08:00:00.000Z"
    doc["host"] = {"name": "cmsnode017"}
    doc["dcache"]["pool"] = {
        "name": "cms-pool017",
        "groups": ["cms"],
        "links": ["cms-link"],
        "mode": "disabled(fetch,store,stage,p2p-client,p2p-server)",
        "enabled": False,
        "read_only": False,
        "dead": False,
        "status_code": 99,
        "status_message": "Pool disabled: I/O test failed",
        "space": {
            "total": 21_990_232_555_520,
            "free": 5_497_558_138_880,
            "precious": 1_099_511_627_776,
            "removable": 10_995_116_277_760,
            "used": 16_492_674_416_640,
            "gap": 4_294_967_296,
        },
        "repository_state": "OPEN",
        "cached": True,
        "last_modified": "2026-10-14T07:59:30.000Z",
    }
    return doc


def dead_letter() -> dict[str, Any]:
    return {
        "@timestamp": "2026-10-14T07:12:06.000Z",
        "producer": "billing",
        "error": {"type": "json_decode", "message": "Expecting ',' delimiter: line 1 column 88"},
        "deadletter": {"payload": '{"msgType": "transfer", "date": ', "payload_size": 33},
        "kafka": {"topic": "billing", "partition": 3, "offset": 81_233_006},
        "pipeline_version": "0.1.0",
    }


def test_first_install_creates_everything_in_dependency_order(
    es: Elasticsearch, site: Site
) -> None:
    changes = install(site.cluster, site.resources(), dry_run=False)

    assert [c.kind for c in changes] == sorted((c.kind for c in changes), key=INSTALL_ORDER.index)
    policy_action = "created" if site.ilm else "skipped"
    assert [c.action for c in changes if c.kind == "ilm_policy"] == [policy_action] * 5
    assert {c.action for c in changes if c.kind != "ilm_policy"} == {"created"}
    assert len(changes) == 21
    for alias in [*map(site.alias, PARSERS), site.deadletter.index]:
        assert es.indices.get_alias(name=alias).body == {
            bootstrap_index_name(alias): {"aliases": {alias: {"is_write_index": True}}}
        }


def test_second_install_changes_nothing(es: Elasticsearch, site: Site) -> None:
    install(site.cluster, site.resources(), dry_run=False)

    again = install(site.cluster, site.resources(), dry_run=False)

    policy_action = "unchanged" if site.ilm else "skipped"
    assert [c.action for c in again if c.kind == "ilm_policy"] == [policy_action] * 5
    assert {c.action for c in again if c.kind != "ilm_policy"} == {"unchanged"}
    alias_change = next(c for c in again if c.name == site.alias("billing"))
    assert alias_change.detail == f"alias exists on {bootstrap_index_name(site.alias('billing'))}"


def test_changed_setting_updates_only_the_resource_it_belongs_to(
    es: Elasticsearch, site: Site
) -> None:
    install(site.cluster, site.resources(), dry_run=False)
    grown = (replace(site.producers[0], total_fields_limit=2000), *site.producers[1:])

    changes = install(site.cluster, site.resources(grown), dry_run=False)

    updated = {(c.kind, c.name) for c in changes if c.action == "updated"}
    assert updated == {("component_template", f"{site.prefix}-billing-mappings")}
    stored = es.cluster.get_component_template(name=f"{site.prefix}-billing-mappings")
    settings = stored["component_templates"][0]["component_template"]["template"]["settings"]
    assert settings["index"]["mapping"]["total_fields"]["limit"] == "2000"


def test_documents_of_every_producer_land_in_the_bootstrap_index(
    es: Elasticsearch, site: Site
) -> None:
    install(site.cluster, site.resources(), dry_run=False)
    documents = {
        "billing": [billing_transfer(), billing_request()],
        "logs": [logs_pool_disabled()],
        "access": [access_webdav_get()],
        "poolinfo": [poolinfo_snapshot()],
    }

    for parser, docs in documents.items():
        for number, doc in enumerate(docs):
            response = index_doc(es, site.alias(parser), f"{parser}-3-{number}", doc)
            assert (response["result"], response["_index"]) == (
                "created",
                bootstrap_index_name(site.alias(parser)),
            )
    response = index_doc(es, site.deadletter.index, "billing-3-81233006", dead_letter())
    assert response["_index"] == bootstrap_index_name(site.deadletter.index)

    billing = bootstrap_index_name(site.alias("billing"))
    assert field_type(es, billing, "billing.file_size") == "long"
    assert field_type(es, billing, "client.ip") == "ip"
    assert field_type(es, billing, "billing.client_chain") == "keyword"
    assert field_type(es, bootstrap_index_name(site.alias("access")), "access.retries") == "keyword"
    in_subnet = {"term": {"client.ip": "2001:638:700:1005::/64"}}
    assert es.count(index=site.alias("billing"), query=in_subnet)["count"] == 1


def test_every_parsed_sample_record_is_accepted_by_the_mappings(
    es: Elasticsearch, site: Site, samples_dir: Path
) -> None:
    """The parsers' real output, not only hand-made documents, fits the installed mappings."""
    install(site.cluster, site.resources(), dry_run=False)
    context = ParseContext(producer="sample", dcache_instance="desy-prod")

    for parser in PARSERS:
        operations: list[dict[str, Any]] = []
        lines = (samples_dir / f"{parser}.jsonl").read_text(encoding="utf-8").splitlines()
        for line in lines:
            try:
                doc = TRANSFORMS[parser](json.loads(line), context)
            except ParseError:
                continue  # a dead letter by design, never sent to the producer's index
            operations += [{"create": {"_index": site.alias(parser)}}, doc]
        response = es.bulk(operations=operations)

        results = [item["create"] for item in response["items"]]
        assert results, parser
        assert [r["error"] for r in results if "error" in r] == [], parser


def test_redelivered_document_with_the_same_id_is_refused_as_a_duplicate(
    es: Elasticsearch, site: Site
) -> None:
    install(site.cluster, site.resources(), dry_run=False)
    index_doc(es, site.alias("poolinfo"), "poolinfo-0-12", poolinfo_snapshot())

    response = es.bulk(
        operations=[
            {"create": {"_index": site.alias("poolinfo"), "_id": "poolinfo-0-12"}},
            poolinfo_snapshot(),
        ]
    )

    assert response["items"][0]["create"]["status"] == 409


def test_type_conflict_is_rejected_so_the_pipeline_can_dead_letter_it(
    es: Elasticsearch, site: Site
) -> None:
    install(site.cluster, site.resources(), dry_run=False)
    doc = billing_transfer()
    doc["billing"]["file_size"] = "8 GiB"

    response = es.bulk(
        operations=[{"create": {"_index": site.alias("billing"), "_id": "billing-3-1"}}, doc]
    )

    item = response["items"][0]["create"]
    assert item["status"] == 400
    assert item["error"]["type"] == "document_parsing_exception"
    assert "billing.file_size" in item["error"]["reason"]


def test_malformed_ip_is_kept_and_only_that_field_is_ignored(es: Elasticsearch, site: Site) -> None:
    install(site.cluster, site.resources(), dry_run=False)
    doc = billing_transfer()
    doc["client"]["ip"] = "dcache-door02.desy.de"

    response = index_doc(es, site.alias("billing"), "billing-3-2", doc)

    stored = es.get(index=site.alias("billing"), id="billing-3-2", stored_fields="_ignored")
    assert response["result"] == "created"
    assert stored["_ignored"] == ["client.ip"]


def test_ilm_policies_are_skipped_with_a_warning_on_a_cluster_without_ilm(
    es: Elasticsearch, site: Site
) -> None:
    if site.ilm:
        pytest.skip("this Elasticsearch has ILM")

    changes = install(site.cluster, site.resources(), dry_run=False)

    policies = [c for c in changes if c.kind == "ilm_policy"]
    assert len(policies) == 5
    skipped = no_lifecycle(site.cluster, "ilm_policy")
    assert all((c.action, c.detail) == ("skipped", skipped) for c in policies)
    assert skipped.startswith(f"{site.cluster.flavour.label} has no ILM")
    index = bootstrap_index_name(site.alias("logs"))
    settings = es.indices.get_settings(index=index, flat_settings=True)[index]["settings"]
    assert not any(key.startswith("index.lifecycle") for key in settings)


def test_dry_run_reports_what_would_change_and_writes_nothing(
    es: Elasticsearch, site: Site
) -> None:
    changes = install(site.cluster, site.resources(), dry_run=True)

    assert {c.action for c in changes if c.kind != "ilm_policy"} == {"created"}
    assert all("dry run" in c.detail for c in changes if c.kind != "ilm_policy")
    pattern = f"{site.prefix}*"
    lenient = es.options(ignore_status=404)
    assert lenient.cluster.get_component_template(name=pattern)["component_templates"] == []
    assert lenient.indices.get_index_template(name=pattern)["index_templates"] == []
    assert es.indices.get(index=pattern, expand_wildcards="all").body == {}


def test_dry_run_of_a_change_leaves_the_stored_resource_alone(
    es: Elasticsearch, site: Site
) -> None:
    install(site.cluster, site.resources(), dry_run=False)
    template = f"{site.prefix}-access"
    before = es.indices.get_index_template(name=template)["index_templates"][0]["index_template"]
    more_replicas = (*site.producers[:2], replace(site.producers[2], replicas=1), site.producers[3])

    changes = install(site.cluster, site.resources(more_replicas), dry_run=True)

    assert actions(changes)["index_template", template] == "updated"
    after = es.indices.get_index_template(name=template)["index_templates"][0]["index_template"]
    assert after == before


def test_index_in_the_place_of_an_alias_is_reported_and_kept(es: Elasticsearch, site: Site) -> None:
    squatter = site.alias("logs")
    es.index(index=squatter, document={"message": "written before setup"}, refresh=True)

    with pytest.raises(
        SetupError, match=rf"write_alias {squatter}: an index named {squatter} exists"
    ):
        install(site.cluster, site.resources(), dry_run=False)

    assert es.count(index=squatter)["count"] == 1
    assert not es.indices.exists_alias(name=squatter)


def test_elasticsearch_refusal_names_the_resource_and_the_reason(
    es: Elasticsearch, site: Site
) -> None:
    no_shards = (replace(site.producers[0], shards=0), *site.producers[1:])

    with pytest.raises(SetupError) as refused:
        install(site.cluster, site.resources(no_shards), dry_run=False)

    message = str(refused.value)
    assert message.startswith(f"index_template {site.prefix}-billing: ")
    assert "index.number_of_shards" in message


def test_a_second_config_cannot_re_point_the_first_ones_template_and_nothing_is_written(
    es: Elasticsearch, site: Site
) -> None:
    install(site.cluster, site.resources(), dry_run=False)
    other_index = f"{site.prefix}-other-billing"
    other = (replace(site.producers[0], index=other_index, retention_days=7), *site.producers[1:])
    before = es.ilm.get_lifecycle(name=f"{site.prefix}-billing") if site.ilm else None

    with pytest.raises(SetupError) as refused:
        install(site.cluster, site.resources(other), dry_run=False)

    message = str(refused.value)
    assert message.startswith(f"index template {site.prefix}-billing is another config's")
    assert f"{site.alias('billing')}-*" in message and f"{other_index}-*" in message
    assert "template_prefix of its own" in message
    stored = es.indices.get_index_template(name=f"{site.prefix}-billing")["index_templates"][0]
    assert stored["index_template"]["index_patterns"] == [f"{site.alias('billing')}-*"]
    assert not es.indices.exists_alias(name=other_index)
    if before is not None:
        assert es.ilm.get_lifecycle(name=f"{site.prefix}-billing") == before


def test_an_upgrade_updates_templates_in_place_and_leaves_aliases_and_written_indices_alone(
    es: Elasticsearch, site: Site
) -> None:
    """What `setup` does when a new esbridge version renders different templates: the stored
    ones are replaced (their hash differs), the write aliases and the indices behind them are
    kept as they are, and the new mappings take effect at the next rollover."""
    install(site.cluster, site.resources(), dry_run=False)
    alias = site.alias("billing")
    name = f"{site.prefix}-billing-mappings"
    current = es.cluster.get_component_template(name=name)["component_templates"][0]
    older = json.loads(json.dumps(current["component_template"]))  # as an older version left it
    older["template"]["mappings"]["properties"]["billing"]["properties"].pop("transfer_size")
    older["_meta"]["esbridge_hash"] = "0" * 16
    for managed in ("created_date_millis", "modified_date_millis", "created_date", "modified_date"):
        older.pop(managed, None)  # set by Elasticsearch 9, refused on a PUT
    es.cluster.put_component_template(name=name, body=older)
    es.indices.rollover(alias=alias)  # an index made from the older template...
    written = sorted(es.indices.get_alias(name=alias))[-1]
    index_doc(es, alias, "before-upgrade", envelope("billing", 1))

    changes = actions(install(site.cluster, site.resources(), dry_run=False))

    assert changes[("component_template", name)] == "updated"
    assert changes[("write_alias", alias)] == "unchanged"
    assert {a for (kind, _), a in changes.items() if kind == "write_alias"} == {"unchanged"}
    assert es.count(index=alias)["count"] == 1
    mapping = es.indices.get_mapping(index=written)[written]["mappings"]
    assert "transfer_size" not in mapping["properties"]["billing"]["properties"]  # ...keeps it
    es.indices.rollover(alias=alias)
    newest = sorted(es.indices.get_alias(name=alias))[-1]
    assert field_type(es, newest, "billing.transfer_size") == "long"
