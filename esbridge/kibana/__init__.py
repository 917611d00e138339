"""Kibana and OpenSearch Dashboards data views, dashboards and saved search for esbridge's
indices, and their loader."""
