"""`kafka:` as each client library spells it: the one place that maps bootstrap, security and
the connect timeout onto client settings.

Ingest's consumers and the simulator's producer build on these, so whatever reaches a secured
Kafka for one reaches it for the other.
"""

from __future__ import annotations

from typing import Any

from esbridge.config import KafkaConfig


def kafka_python_settings(config: KafkaConfig) -> dict[str, Any]:
    """Settings every kafka-python client of `config` takes: brokers, identity, security.

    `bootstrap_timeout_ms` bounds the first contact, which kafka-python makes in the client's
    constructor: no broker reachable, or none accepting the credentials, fails there.
    """
    settings: dict[str, Any] = {
        "bootstrap_servers": list(config.bootstrap),
        "client_id": config.client_id,
        "security_protocol": config.security_protocol,
        "bootstrap_timeout_ms": int(config.connect_timeout * 1000),
    }
    if config.sasl_mechanism:
        settings["sasl_mechanism"] = config.sasl_mechanism
        settings["sasl_plain_username"] = config.sasl_username
        if config.sasl_password is not None:
            settings["sasl_plain_password"] = config.sasl_password.get_secret_value()
    for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        value = getattr(config, key)
        if value is not None:
            settings[key] = str(value)
    return settings


def librdkafka_settings(config: KafkaConfig) -> dict[str, Any]:
    """The same for confluent-kafka (librdkafka's property names)."""
    settings: dict[str, Any] = {
        "bootstrap.servers": ",".join(config.bootstrap),
        "client.id": config.client_id,
        "security.protocol": config.security_protocol,
    }
    if config.sasl_mechanism:
        settings["sasl.mechanism"] = config.sasl_mechanism
        settings["sasl.username"] = config.sasl_username
        if config.sasl_password is not None:
            settings["sasl.password"] = config.sasl_password.get_secret_value()
    for key, name in (
        ("ssl_cafile", "ssl.ca.location"),
        ("ssl_certfile", "ssl.certificate.location"),
        ("ssl_keyfile", "ssl.key.location"),
    ):
        value = getattr(config, key)
        if value is not None:
            settings[name] = str(value)
    return settings


def describe_login(config: KafkaConfig) -> str:
    """How esbridge logs in, for error messages: protocol, mechanism and user, never the
    password."""
    if config.sasl_mechanism is None:
        return config.security_protocol
    return f"{config.security_protocol} {config.sasl_mechanism} as user {config.sasl_username}"
