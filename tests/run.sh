#!/usr/bin/env bash
# The whole test suite: everything under Keras 3, then the legacy-Keras subset (tests marked
# `legacy`) under TF_USE_LEGACY_KERAS=1. Two pytest-xdist workers share the two cores (model
# construction is single-threaded Python, so they overlap well); the slowest tests are printed
# so the cost stays visible. Extra arguments go to every pytest run.
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=2
WORKERS="${KC_TEST_WORKERS:-2}"
echo "== Keras 3 =="
python -m pytest -q -p no:cacheprovider -n "$WORKERS" --durations=30 "$@"
echo "== legacy Keras (TF_USE_LEGACY_KERAS=1) =="
TF_USE_LEGACY_KERAS=1 python -m pytest -q -p no:cacheprovider -n "$WORKERS" -m legacy \
    --durations=10 "$@"
