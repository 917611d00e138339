"""An Elasticsearch client built from the config's `elasticsearch` section."""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch

from esbridge.config import ElasticsearchConfig


def make_client(config: ElasticsearchConfig) -> Elasticsearch:
    options: dict[str, Any] = {
        "request_timeout": config.request_timeout,
        "verify_certs": config.verify_certs,
        "retry_on_timeout": False,
        "max_retries": 0,
    }
    if config.ca_certs is not None:
        options["ca_certs"] = str(config.ca_certs)
    if config.username is not None:
        password = config.password.get_secret_value() if config.password else ""
        options["basic_auth"] = (config.username, password)
    if config.api_key is not None:
        options["api_key"] = config.api_key.get_secret_value()
    return Elasticsearch(list(config.hosts), **options)
