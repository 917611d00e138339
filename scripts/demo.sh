#!/usr/bin/env bash
# The main job on a local default stack: start Kafka + Elasticsearch, install the templates,
# produce a simulated dCache site's traffic (with pool incidents), ingest it, show what landed
# where, then run the watcher once: its digest goes to a local SMTP sink (an mbox file) and the
# issues it found are listed. The stack keeps running afterwards; `esbridge stack down` stops it.
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

# Backdated an hour, so the watcher below finds incidents older than its 10m notification delay.
echo "== esbridge simulate -c $CONFIG --rate 0 --count $COUNT --incidents --backdate 1h"
esbridge simulate -c "$CONFIG" --rate 0 --count "$COUNT" --incidents --backdate 1h

echo "== esbridge ingest -c $CONFIG --idle-exit 5"
esbridge ingest -c "$CONFIG" --idle-exit 5

echo "== documents per index"
python - "$CONFIG" <<'PY'
import sys
from pathlib import Path

from esbridge.cluster import connect
from esbridge.config import load_config

config = load_config(Path(sys.argv[1]))
cluster = connect(config.elasticsearch)
indices = [p.index for p in config.producers] + [config.deadletter.index]
cluster.refresh(",".join(indices))
for index in indices:
    print(f"{index:<24} {cluster.count(index):>9}")
reasons = cluster.search(
    config.deadletter.index, {"size": 0, "aggs": {"by": {"terms": {"field": "error.type"}}}}
)["aggregations"]["by"]["buckets"]
cluster.close()
for bucket in reasons:
    print(f"  dead letters {bucket['key']:<16} {bucket['doc_count']:>6}")
PY

MAIL_FILE="$ROOT/.esbridge-demo-mail.mbox"
rm -f "$MAIL_FILE"
ESBRIDGE_SMTP_HOST=127.0.0.1
ESBRIDGE_SMTP_PORT=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export ESBRIDGE_SMTP_HOST ESBRIDGE_SMTP_PORT
python -m esbridge.notify.sink --port "$ESBRIDGE_SMTP_PORT" --out "$MAIL_FILE" &
SINK_PID=$!
trap 'kill "$SINK_PID" 2>/dev/null || true' EXIT
python - <<'PY'
import os, socket, time
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", int(os.environ["ESBRIDGE_SMTP_PORT"])), 0.2).close()
        break
    except OSError:
        time.sleep(0.1)
PY

echo "== esbridge watch -c $CONFIG --once --since 24h"
esbridge watch -c "$CONFIG" --once --since 24h

echo "== esbridge issues list -c $CONFIG"
esbridge issues list -c "$CONFIG"
MAILS=$(python - "$MAIL_FILE" <<'PY'
import mailbox, os, sys
print(len(mailbox.mbox(sys.argv[1])) if os.path.exists(sys.argv[1]) else 0)
PY
)
if [ "$MAILS" -gt 0 ]; then
  echo "The watcher mailed $MAILS digest(s) to a local SMTP sink: $MAIL_FILE"
else
  echo "The watcher sent no digest mail (no issue was due for one)"
fi
echo "The stack keeps running (esbridge stack status); stop it with: esbridge stack down"
