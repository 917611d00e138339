#!/usr/bin/env bash
# The whole test suite: lint, format check, strict typing, then unit and integration tests
# against a real Kafka broker and Elasticsearch node that the suite starts itself.
source "$(dirname "$0")/bootstrap.sh"
# Where cargo is, bootstrap built the native engine: its differential tests must run, not skip.
if command -v cargo >/dev/null 2>&1; then
  export ESBRIDGE_REQUIRE_NATIVE="${ESBRIDGE_REQUIRE_NATIVE:-1}"
fi
echo "== ruff check" && ruff check .
echo "== ruff format --check" && ruff format --check .
echo "== mypy (strict on esbridge/)" && mypy
# pytest's exit code 5 (no tests collected) is a failure here.
run_pytest() {
  set +e
  pytest "$@"
  local status=$?
  set -e
  if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure here" >&2
    return 1
  fi
  return "$status"
}
echo "== pytest (the whole suite, on Elasticsearch 9)"
run_pytest "$@"
# The compatibility suite: the operator's path on Elasticsearch 8, OpenSearch 2 and OpenSearch 3,
# one engine node at a time (tests/compat/conftest.py). Skipped when arguments select tests.
if [ "$#" -eq 0 ]; then
  echo "== pytest -m compat (Elasticsearch 8, OpenSearch 2, OpenSearch 3, one after another)"
  run_pytest -m compat tests/compat
fi
