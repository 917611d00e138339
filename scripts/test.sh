#!/usr/bin/env bash
# The whole test suite: lint, format check, strict typing, then unit and integration tests
# against a real Kafka broker and Elasticsearch node that the suite starts itself.
source "$(dirname "$0")/bootstrap.sh"
echo "== ruff check" && ruff check .
echo "== ruff format --check" && ruff format --check .
echo "== mypy (strict on esbridge/)" && mypy
echo "== pytest"
set +e
pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
