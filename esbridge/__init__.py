"""esbridge: dCache monitoring streams from Kafka into Elasticsearch, watched and alerted on."""

__version__ = "0.1.0"
