#!/usr/bin/env bash
# The test command on a fresh machine: install (cached), then the test suite on CPU.
# Real-data tests read ../shared/data (override with NARSPEECH_SHARED_DATA) and skip if absent.
# Extra arguments go to pytest (e.g. -m "not slow", -k feats).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$(bash "$root/tools/install.sh" | tail -n 1)
cd "$root"
export NARSPEECH_PROGRESS=0 PYTHONDONTWRITEBYTECODE=1
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider --durations=15 "$@"
