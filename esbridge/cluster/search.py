"""One way to talk to Elasticsearch 8/9 and OpenSearch 2/3: `elastic-transport` and plain JSON.

`SearchCluster` sends each request as `application/json` (bulk bodies as
`application/x-ndjson`) and nothing else: no `compatible-with` media types and no product
check. Both matter. elasticsearch-py 9 rewrites every request to
`application/vnd.elasticsearch+json; compatible-with=9`, which Elasticsearch 8 refuses
(400 `media_type_header_exception`), and it refuses any answer without the
`X-Elastic-Product` header, which OpenSearch never sends. A plain JSON request is served as
the server's current version by every engine (compatibility mode is opt-in per request), and
esbridge uses only APIs whose bodies are the same on all four: bulk, search, get/index/delete
with `if_seq_no`, aliases, rollover, composable and component templates. Where the engines
really differ (lifecycle policies: ILM or ISM; point-in-time search), the method hides it.

Connection pooling, TLS, timeouts and node selection are elastic-transport's (the transport
elasticsearch-py itself uses); this module only builds paths, parses answers and turns every
failure into one of `esbridge.cluster.errors`.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import quote, urlencode

import orjson
from elastic_transport import (
    HttpHeaders,
    JsonSerializer,
    NdjsonSerializer,
    NodeConfig,
    SerializationError,
    TextSerializer,
    TlsError,
    Transport,
    TransportError,
)
from elastic_transport.client_utils import url_to_node_config

from esbridge.cluster.errors import (
    AuthError,
    ClusterError,
    ClusterUnavailableError,
    NotFoundError,
    TlsFailureError,
    from_answer,
)
from esbridge.cluster.flavour import MINIMUM_MAJOR, NODES_PATH, Answer, Flavour, identify
from esbridge.config import ElasticsearchConfig

log = logging.getLogger(__name__)

JSON = "application/json"
NDJSON = "application/x-ndjson"
Lifecycle = Literal["ilm", "ism"]
OpType = Literal["index", "create"]
Refresh = bool | Literal["wait_for"]
_NEWEST_KNOWN_MAJOR = {"elasticsearch": 9, "opensearch": 3}
_NO_HANDLER = ("no handler found", "incorrect http method")


class _Orjson(JsonSerializer):
    """JSON through orjson, as the rest of esbridge encodes it (bulk answers are large)."""

    def json_dumps(self, data: Any) -> bytes:
        return orjson.dumps(data)

    def json_loads(self, data: bytes) -> Any:
        return orjson.loads(data)


class _Ndjson(NdjsonSerializer):
    """A bulk body that is already NDJSON bytes goes out as it is: the library's serializer
    copies it into a bytearray and back (two copies of ~5 MiB per request, ~1 CPU-µs per
    document in benchmarks/ingest.py)."""

    def dumps(self, data: Any) -> bytes:
        if isinstance(data, bytes) and data.endswith(b"\n"):
            return data
        return super().dumps(data)


@dataclass(frozen=True)
class Document:
    """A stored document and the version a conditional write must name."""

    index: str
    id: str
    seq_no: int
    primary_term: int
    source: dict[str, Any]


@dataclass(frozen=True)
class Written:
    """What an index, create or delete did (`result`: created, updated, deleted, ...)."""

    index: str
    id: str
    result: str
    seq_no: int
    primary_term: int


@dataclass(frozen=True)
class Rollover:
    old_index: str
    new_index: str
    rolled_over: bool
    dry_run: bool


def index_path(index: str) -> str:
    """An index, alias or comma list / wildcard expression as a path segment."""
    return quote(index, safe=",*")


def id_path(doc_id: str) -> str:
    """A document id as one path segment: `rule:subject/x` must not become two segments."""
    return quote(doc_id, safe="")


class SearchCluster:
    """A connected cluster whose engine and version are known (see `connect`)."""

    def __init__(self, transport: Transport, flavour: Flavour, where: str) -> None:
        self.transport = transport
        self.flavour = flavour
        self.where = where
        self._lifecycle: Lifecycle | None = None
        self._lifecycle_known = False

    @classmethod
    def connect(
        cls,
        hosts: Sequence[str],
        *,
        username: str | None = None,
        password: str | None = None,
        api_key: str | None = None,
        ca_certs: str | None = None,
        verify_certs: bool = True,
        request_timeout: float = 30.0,
    ) -> SearchCluster:
        """Connect and identify the engine; UnsupportedClusterError if esbridge cannot use it.

        No retries inside the transport: esbridge's callers (the bulk senders, the watcher's
        cycle) decide when to try again and account for what was settled in between.
        """
        headers = HttpHeaders()
        if username is not None:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            headers["authorization"] = f"Basic {token}"
        elif api_key is not None:
            headers["authorization"] = f"ApiKey {api_key}"
        nodes: list[NodeConfig] = []
        for host in hosts:
            node = url_to_node_config(host, use_default_ports_for_scheme=True)
            node = replace(
                node,
                headers=HttpHeaders({**node.headers, **headers}),
                request_timeout=request_timeout,
                verify_certs=verify_certs,
                ca_certs=ca_certs,
            )
            nodes.append(node)
        transport = Transport(
            nodes,
            serializers={
                JSON: _Orjson(),
                NDJSON: _Ndjson(),
                TextSerializer.mimetype: TextSerializer(),
            },
            max_retries=0,
            retry_on_timeout=False,
            meta_header=False,
        )
        where = ", ".join(hosts)
        try:
            flavour = identify(
                perform(transport, where, "GET", "/"),
                lambda: perform(transport, where, "GET", NODES_PATH),
                where,
            )
        except AuthError as exc:
            transport.close()
            check = "username/password or api_key" if exc.status == 401 else "user's privileges"
            raise AuthError(
                f"{where} refused esbridge's credentials: {exc}; check elasticsearch.{check}",
                status=exc.status,
                error_type=exc.error_type,
                reason=exc.reason,
            ) from None
        except BaseException:
            transport.close()
            raise
        if flavour.major > _NEWEST_KNOWN_MAJOR[flavour.distribution]:
            log.warning(
                "%s at %s is newer than esbridge was tested with (%s %d-%d)",
                flavour.label,
                where,
                flavour.product,
                MINIMUM_MAJOR[flavour.distribution],
                _NEWEST_KNOWN_MAJOR[flavour.distribution],
            )
        return cls(transport, flavour, where)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> SearchCluster:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- requests -------------------------------------------------------------------------

    def answer(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        ndjson: bool = False,
    ) -> Answer:
        """Any answer the cluster gives, error statuses included; raises only when there is
        no HTTP answer (ClusterUnavailableError) or it cannot be parsed (ClusterError)."""
        return perform(
            self.transport, self.where, method, path, params=params, body=body, ndjson=ndjson
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        ndjson: bool = False,
    ) -> Any:
        """The parsed body of a successful answer; any other answer raises its ClusterError."""
        answer = self.answer(method, path, params=params, body=body, ndjson=ndjson)
        if not 200 <= answer.status < 300:
            raise from_answer(f"{method} {path}", answer.status, answer.body)
        return answer.body

    def _exists(self, path: str) -> bool:
        answer = self.answer("HEAD", path)
        if answer.status == 404:
            return False
        if 200 <= answer.status < 300:
            return True
        raise from_answer(f"HEAD {path}", answer.status, answer.body)

    def _get_or_none(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        try:
            return self.request("GET", path, params=params)
        except NotFoundError:
            return None

    # --- documents ------------------------------------------------------------------------

    def bulk(
        self, body: bytes, *, filter_path: str | None = None, refresh: Refresh | None = None
    ) -> dict[str, Any]:
        """`POST /_bulk` with `body` as it is (NDJSON lines); the parsed answer, per-item
        failures included (a 200 with `errors: true` is not an exception)."""
        answer: dict[str, Any] = self.request(
            "POST",
            "/_bulk",
            params={"filter_path": filter_path, "refresh": refresh},
            body=body,
            ndjson=True,
        )
        return answer

    def search(self, index: str | None, body: Mapping[str, Any], **params: Any) -> dict[str, Any]:
        """`POST /<index>/_search` (`index` None: `/_search`, as a point-in-time search needs)."""
        path = f"/{index_path(index)}/_search" if index is not None else "/_search"
        found: dict[str, Any] = self.request("POST", path, params=params, body=dict(body))
        return found

    def count(self, index: str, query: Mapping[str, Any] | None = None) -> int:
        body = {"query": dict(query)} if query is not None else None
        found = self.request("POST", f"/{index_path(index)}/_count", body=body)
        return int(found["count"])

    def get(self, index: str, doc_id: str) -> Document | None:
        """The document, real-time; None when it (or its index) does not exist."""
        found = self._get_or_none(f"/{index_path(index)}/_doc/{id_path(doc_id)}")
        if found is None or not found.get("found"):
            return None
        return _document(found)

    def mget(
        self, docs: Sequence[Mapping[str, Any]], *, filter_path: str | None = None
    ) -> list[dict[str, Any]]:
        """`POST /_mget` of `docs` (`_index`, `_id`, optional `_source`), answers in order."""
        found = self.request(
            "POST", "/_mget", params={"filter_path": filter_path}, body={"docs": list(docs)}
        )
        result: list[dict[str, Any]] = found.get("docs", [])
        return result

    def index(
        self,
        index: str,
        document: Mapping[str, Any],
        *,
        doc_id: str | None = None,
        op_type: OpType = "index",
        if_seq_no: int | None = None,
        if_primary_term: int | None = None,
        refresh: Refresh | None = None,
    ) -> Written:
        """Store `document`; ConflictError when `op_type=create` finds the id taken or
        `if_seq_no`/`if_primary_term` is no longer the stored version."""
        path = f"/{index_path(index)}/_doc"
        if doc_id is not None:
            path += f"/{id_path(doc_id)}"
        params = {
            "op_type": op_type if op_type != "index" else None,
            "if_seq_no": if_seq_no,
            "if_primary_term": if_primary_term,
            "refresh": refresh,
        }
        method = "PUT" if doc_id is not None else "POST"
        return _written(self.request(method, path, params=params, body=dict(document)))

    def create(
        self,
        index: str,
        doc_id: str,
        document: Mapping[str, Any],
        *,
        refresh: Refresh | None = None,
    ) -> Written:
        return self.index(index, document, doc_id=doc_id, op_type="create", refresh=refresh)

    def delete(
        self,
        index: str,
        doc_id: str,
        *,
        if_seq_no: int | None = None,
        if_primary_term: int | None = None,
        refresh: Refresh | None = None,
    ) -> Written:
        """Delete one document; NotFoundError if it is gone, ConflictError if it changed."""
        params = {"if_seq_no": if_seq_no, "if_primary_term": if_primary_term, "refresh": refresh}
        path = f"/{index_path(index)}/_doc/{id_path(doc_id)}"
        return _written(self.request("DELETE", path, params=params))

    def refresh(self, index: str) -> None:
        self.request("POST", f"/{index_path(index)}/_refresh")

    def open_pit(self, index: str, keep_alive: str) -> str | None:
        """A point in time over `index` (None when the index does not exist).

        Elasticsearch: `POST /<index>/_pit` answering `id`; OpenSearch (2.4+):
        `POST /<index>/_search/point_in_time` answering `pit_id`. The search body is the
        same on both: `{"pit": {"id": ..., "keep_alive": ...}}` against `/_search`.
        """
        path = "_pit" if self.flavour.distribution == "elasticsearch" else "_search/point_in_time"
        try:
            found = self.request(
                "POST", f"/{index_path(index)}/{path}", params={"keep_alive": keep_alive}
            )
        except NotFoundError:
            return None
        return str(found["id" if self.flavour.distribution == "elasticsearch" else "pit_id"])

    def close_pit(self, pit_id: str) -> None:
        """Release a point in time; one already expired is not an error."""
        body: dict[str, Any]
        if self.flavour.distribution == "elasticsearch":
            path, body = "/_pit", {"id": pit_id}
        else:
            path, body = "/_search/point_in_time", {"pit_id": [pit_id]}
        try:
            self.request("DELETE", path, body=body)
        except NotFoundError:
            return

    # --- indices and aliases --------------------------------------------------------------

    def index_exists(self, index: str) -> bool:
        return self._exists(f"/{index_path(index)}")

    def alias_exists(self, name: str) -> bool:
        return self._exists(f"/_alias/{index_path(name)}")

    def create_index(self, index: str, body: Mapping[str, Any] | None = None) -> None:
        self.request("PUT", f"/{index_path(index)}", body=dict(body or {}))

    def get_index(self, index: str) -> dict[str, Any]:
        """`GET /<index>` (settings, mappings, aliases by concrete index); {} if none match."""
        found = self._get_or_none(
            f"/{index_path(index)}", {"expand_wildcards": "all", "allow_no_indices": True}
        )
        return dict(found or {})

    def delete_index(self, index: str) -> None:
        self.request("DELETE", f"/{index_path(index)}")

    def get_alias(self, name: str) -> dict[str, Any]:
        """`{index: {"aliases": {name: {...}}}}` for each index behind alias `name`; {} if none."""
        return dict(self._get_or_none(f"/_alias/{index_path(name)}") or {})

    def put_alias(self, index: str, name: str, *, is_write_index: bool | None = None) -> None:
        body = {"is_write_index": is_write_index} if is_write_index is not None else {}
        self.request("PUT", f"/{index_path(index)}/_alias/{index_path(name)}", body=body)

    def rollover(
        self,
        alias: str,
        conditions: Mapping[str, Any] | None = None,
        *,
        dry_run: bool = False,
    ) -> Rollover:
        """`POST /<alias>/_rollover`, unconditional unless `conditions` (`max_age`, `max_docs`,
        `max_primary_shard_size`) are given; the new index is named by the engine."""
        body = {"conditions": dict(conditions)} if conditions else {}
        found = self.request(
            "POST", f"/{index_path(alias)}/_rollover", params={"dry_run": dry_run}, body=body
        )
        return Rollover(
            old_index=str(found["old_index"]),
            new_index=str(found["new_index"]),
            rolled_over=bool(found["rolled_over"]),
            dry_run=bool(found.get("dry_run", dry_run)),
        )

    # --- templates ------------------------------------------------------------------------

    def put_index_template(self, name: str, body: Mapping[str, Any]) -> None:
        self.request("PUT", f"/_index_template/{id_path(name)}", body=dict(body))

    def get_index_template(self, name: str) -> dict[str, Any] | None:
        """The stored body (`index_patterns`, `template`, `composed_of`, `_meta`, ...)."""
        found = self._get_or_none(f"/_index_template/{id_path(name)}")
        return _named(found, "index_templates", "index_template", name)

    def delete_index_template(self, name: str) -> None:
        self.request("DELETE", f"/_index_template/{index_path(name)}")

    def put_component_template(self, name: str, body: Mapping[str, Any]) -> None:
        self.request("PUT", f"/_component_template/{id_path(name)}", body=dict(body))

    def get_component_template(self, name: str) -> dict[str, Any] | None:
        found = self._get_or_none(f"/_component_template/{id_path(name)}")
        return _named(found, "component_templates", "component_template", name)

    def delete_component_template(self, name: str) -> None:
        self.request("DELETE", f"/_component_template/{index_path(name)}")

    # --- lifecycle ------------------------------------------------------------------------

    def lifecycle(self) -> Lifecycle | None:
        """`ilm` (Elasticsearch's module), `ism` (OpenSearch's plugin) or None (neither: the
        test distributions, a minimal OpenSearch). Asked once per connection."""
        if not self._lifecycle_known:
            if self.flavour.distribution == "elasticsearch":
                kind: Lifecycle = "ilm"
                path = "/_ilm/status"
            else:
                kind, path = "ism", "/_plugins/_ism/policies"
            answer = self.answer("GET", path)
            if not _no_handler(answer) and answer.status not in (200, 404):
                raise from_answer(f"GET {path}", answer.status, answer.body)
            self._lifecycle = None if _no_handler(answer) else kind
            self._lifecycle_known = True
        return self._lifecycle

    def put_lifecycle_policy(self, name: str, policy: Mapping[str, Any]) -> None:
        """Store `policy` (the object under `"policy"`) as ILM or ISM policy `name`.

        ISM refuses to overwrite a policy without its current `if_seq_no`/`if_primary_term`;
        ILM takes a plain PUT. ClusterError when the cluster has neither.
        """
        kind = self._require_lifecycle()
        body = {"policy": dict(policy)}
        if kind == "ilm":
            self.request("PUT", f"/_ilm/policy/{id_path(name)}", body=body)
            return
        path = f"/_plugins/_ism/policies/{id_path(name)}"
        stored = self._get_or_none(path)
        params = {}
        if stored is not None:
            params = {"if_seq_no": stored["_seq_no"], "if_primary_term": stored["_primary_term"]}
        self.request("PUT", path, params=params, body=body)

    def get_lifecycle_policy(self, name: str) -> dict[str, Any] | None:
        """The stored policy object (what `put_lifecycle_policy` took), or None."""
        kind = self._require_lifecycle()
        if kind == "ilm":
            found = self._get_or_none(f"/_ilm/policy/{id_path(name)}")
            entry = found.get(name) if isinstance(found, dict) else None
        else:
            entry = self._get_or_none(f"/_plugins/_ism/policies/{id_path(name)}")
        policy = entry.get("policy") if isinstance(entry, dict) else None
        return dict(policy) if isinstance(policy, dict) else None

    def _require_lifecycle(self) -> Lifecycle:
        kind = self.lifecycle()
        if kind is None:
            raise ClusterError(
                f"{self.flavour.label} at {self.where} has neither ILM nor ISM: "
                "lifecycle policies cannot be stored"
            )
        return kind

    # --- cluster --------------------------------------------------------------------------

    def health(
        self,
        index: str | None = None,
        *,
        wait_for_status: Literal["green", "yellow"] | None = None,
        timeout: str | None = None,
    ) -> dict[str, Any]:
        path = "/_cluster/health" + (f"/{index_path(index)}" if index else "")
        params = {"wait_for_status": wait_for_status, "timeout": timeout}
        found: dict[str, Any] = self.request("GET", path, params=params)
        return found


def connect(config: ElasticsearchConfig) -> SearchCluster:
    """The cluster of the config's `elasticsearch:` section, identified."""
    return SearchCluster.connect(
        [str(host) for host in config.hosts],
        username=config.username,
        password=config.password.get_secret_value() if config.password else None,
        api_key=config.api_key.get_secret_value() if config.api_key else None,
        ca_certs=str(config.ca_certs) if config.ca_certs is not None else None,
        verify_certs=config.verify_certs,
        request_timeout=config.request_timeout,
    )


def perform(
    transport: Transport,
    where: str,
    method: str,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    body: Any = None,
    ndjson: bool = False,
) -> Answer:
    """One request with plain JSON headers, answered whatever its status."""
    target = path
    query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
    if query:
        target += ("&" if "?" in path else "?") + urlencode(query)
    headers = {"accept": JSON}
    if body is not None:
        headers["content-type"] = NDJSON if ndjson else JSON
    try:
        response = transport.perform_request(method, target, headers=headers, body=body)
    except SerializationError as exc:
        raise ClusterError(f"{method} {path}: unreadable answer: {exc}") from exc
    except TlsError as exc:
        raise TlsFailureError(
            f"{where}: TLS handshake failed ({exc}); check elasticsearch.ca_certs "
            "(the CA that signed the node's certificate) and that the URL is the node's name"
        ) from exc
    except TransportError as exc:
        raise ClusterUnavailableError(f"{where}: {method} {path}: {exc}") from exc
    return Answer(response.meta.status, response.body, _lower(response.meta.headers))


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


def _no_handler(answer: Answer) -> bool:
    """The REST layer has no such API (a module or plugin that is not installed): 400 "no
    handler found" on Elasticsearch 9 and OpenSearch, 405 on Elasticsearch 8, whose router
    matches `/_ilm/status` to another route's pattern."""
    if answer.status not in (400, 404, 405):
        return False
    text = str(answer.body).lower()
    return any(marker in text for marker in _NO_HANDLER)


def _document(found: Mapping[str, Any]) -> Document:
    return Document(
        index=str(found["_index"]),
        id=str(found["_id"]),
        seq_no=int(found["_seq_no"]),
        primary_term=int(found["_primary_term"]),
        source=dict(found.get("_source") or {}),
    )


def _written(found: Mapping[str, Any]) -> Written:
    return Written(
        index=str(found["_index"]),
        id=str(found["_id"]),
        result=str(found["result"]),
        seq_no=int(found["_seq_no"]),
        primary_term=int(found["_primary_term"]),
    )


def _named(found: Any, listing: str, key: str, name: str) -> dict[str, Any] | None:
    entries = found.get(listing) if isinstance(found, dict) else None
    for entry in entries or []:
        if entry.get("name") == name:
            return dict(entry[key])
    return None
