#!/usr/bin/env bash
# The whole test suite: everything under Keras 3, then the legacy-Keras subset (tests marked
# `legacy`) under TF_USE_LEGACY_KERAS=1. Extra arguments go to every pytest run.
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=2
echo "== Keras 3 =="
python -m pytest -q -p no:cacheprovider --durations=15 "$@"
echo "== legacy Keras (TF_USE_LEGACY_KERAS=1) =="
TF_USE_LEGACY_KERAS=1 python -m pytest -q -p no:cacheprovider -m legacy "$@"
