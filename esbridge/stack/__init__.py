"""A local Apache Kafka broker and Elasticsearch node on loopback, built from Maven Central."""
