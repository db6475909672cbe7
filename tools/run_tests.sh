#!/usr/bin/env bash
# The test command on a fresh machine: install (cached), then the test suite on CPU.
# Real-data tests read ../shared/data (override with NARSPEECH_SHARED_DATA) and skip if absent.
# Extra arguments go to pytest (e.g. -m "not slow", -k feats). NARSPEECH_TEST_TIMEOUT (s, default 2700) caps the run.
# NARSPEECH_TEST_JOBS (default 2, CI's cores): pytest-xdist workers, one test file each at a time, one torch thread each.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$(bash "$root/tools/install.sh" | tail -n 1)
cd "$root"
export NARSPEECH_PROGRESS=0 PYTHONDONTWRITEBYTECODE=1
NARSPEECH_VENV="$venv" . "$root/tools/activate.sh"  # this checkout's code first, also in the tests' subprocesses
# A hard cap far above the suite's ~8 min, so a hang fails with a message inside CI's 90 min.
rc=0
jobs=${NARSPEECH_TEST_JOBS:-2}
par=()
if [ "$jobs" -gt 1 ]; then
  par=(-n "$jobs" --dist loadfile)
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # workers side by side: threads fighting over the cores slow tiny models
fi
timeout --kill-after=30 "${NARSPEECH_TEST_TIMEOUT:-2700}" "$venv/bin/python" -m pytest -q -p no:cacheprovider --durations=15 "${par[@]}" "$@" || rc=$?
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
  echo "the test suite ran past ${NARSPEECH_TEST_TIMEOUT:-2700} s and was stopped: a hung test, or a process that kept pytest from exiting" >&2
fi
exit "$rc"
