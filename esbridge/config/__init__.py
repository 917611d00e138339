"""esbridge's configuration: one YAML file, validated up front so mistakes surface at start-up.

Load it with `load_config`; everything else in esbridge takes the resulting `Config`.
"""

from esbridge.config.loader import ConfigError, ConfigProblem, load_config
from esbridge.config.models import (
    Config,
    DeadletterConfig,
    ElasticsearchConfig,
    IngestConfig,
    KafkaConfig,
    ProducerConfig,
)
from esbridge.config.units import parse_duration, parse_size

__all__ = [
    "Config",
    "ConfigError",
    "ConfigProblem",
    "DeadletterConfig",
    "ElasticsearchConfig",
    "IngestConfig",
    "KafkaConfig",
    "ProducerConfig",
    "load_config",
    "parse_duration",
    "parse_size",
]
