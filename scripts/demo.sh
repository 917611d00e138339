#!/usr/bin/env bash
# The main job on a local default stack: start Kafka + Elasticsearch, install the templates,
# produce a simulated dCache site's traffic (with pool incidents), ingest it, and show what
# landed where. The stack keeps running afterwards; `esbridge stack down` stops it.
source "$(dirname "$0")/bootstrap.sh"
COUNT="${ESBRIDGE_DEMO_COUNT:-20000}"
CONFIG="examples/dcache.yml"

echo "== esbridge stack up"
esbridge stack up --json > .esbridge-stack.json
ESBRIDGE_KAFKA_BOOTSTRAP=$(python -c 'import json; print(json.load(open(".esbridge-stack.json"))["kafka"]["bootstrap"])')
ESBRIDGE_ES_URL=$(python -c 'import json; print(json.load(open(".esbridge-stack.json"))["elasticsearch"]["url"])')
export ESBRIDGE_KAFKA_BOOTSTRAP ESBRIDGE_ES_URL
rm -f .esbridge-stack.json
echo "kafka $ESBRIDGE_KAFKA_BOOTSTRAP, elasticsearch $ESBRIDGE_ES_URL"

echo "== esbridge setup -c $CONFIG"
esbridge setup -c "$CONFIG"

echo "== esbridge simulate -c $CONFIG --rate 0 --count $COUNT --incidents"
esbridge simulate -c "$CONFIG" --rate 0 --count "$COUNT" --incidents

echo "== esbridge ingest -c $CONFIG --idle-exit 5"
esbridge ingest -c "$CONFIG" --idle-exit 5

echo "== documents per index"
python - "$CONFIG" <<'PY'
import sys
from pathlib import Path

from esbridge.config import load_config
from esbridge.es import make_client

config = load_config(Path(sys.argv[1]))
es = make_client(config.elasticsearch)
indices = [p.index for p in config.producers] + [config.deadletter.index]
es.indices.refresh(index=",".join(indices))
for index in indices:
    print(f"{index:<24} {es.count(index=index)['count']:>9}")
reasons = es.search(
    index=config.deadletter.index, size=0,
    aggs={"by": {"terms": {"field": "error.type"}}},
)["aggregations"]["by"]["buckets"]
for bucket in reasons:
    print(f"  dead letters {bucket['key']:<16} {bucket['doc_count']:>6}")
PY
echo "The stack keeps running (esbridge stack status); stop it with: esbridge stack down"
