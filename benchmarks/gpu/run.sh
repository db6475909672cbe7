#!/usr/bin/env bash
# The prepared GPU run (see benchmarks/gpu/run.py): on the device machine, from the repository root,
# with the folder from benchmarks/gpu/prepare.sh (.device) carried beside the working tree:
#   bash benchmarks/gpu/run.sh [--suite speed|quality|all] [--minutes M] [--device cuda|cpu] [--out DIR] [--smoke]
# report.md, report.json and logs.tar.gz go to --out, else $OUT. It ends within M minutes (default 8)
# whatever happens: every step has its own time box, and this script adds a last one around it all.
#   bash benchmarks/gpu/run.sh --minutes 8                       # GPU: speed then quality
#   bash benchmarks/gpu/run.sh --suite quality --minutes 9.5     # GPU: quality alone (≈ 6.5 min of training)
#   bash benchmarks/gpu/run.sh --device cpu --minutes 3 --smoke  # the CPU form the test suite runs
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
minutes=8
args=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=${2:-8}; shift 2 ;;
    --minutes=*) minutes=${1#*=}; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exec "${PYTHON:-python3}" benchmarks/gpu/run.py --help ;;
    *) shift ;;
  esac
done
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 NARSPEECH_PROGRESS=${NARSPEECH_PROGRESS:-0}
# the driver stops itself in time; this outer box only catches a driver that cannot
limit=$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 + 20 }')
timeout -k 10 "$limit" "$py" benchmarks/gpu/run.py "${args[@]}"
rc=$?
[ "$rc" -eq 124 ] && echo "run.sh: the driver overran its ${minutes} min and was stopped; the report holds every step that ended" >&2
exit "$rc"
