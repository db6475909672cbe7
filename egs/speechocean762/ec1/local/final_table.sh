#!/usr/bin/env bash
# The issue-10 dev table, after ./run.sh (stages 1-6) and ./run.sh --stage 5 --stop_stage 5 --front snap:
# detector of the snap-front correctors tuned on the held-out speakers, then the final ASR's dev decodes
# corrected and scored without and with the snap front end, then speed. Each step timed.
#   local/final_table.sh                      # DECS="maskctc/decode_{set}/NAME …" to choose the decode dirs
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 NARSPEECH_PROGRESS=0
decs=${DECS:-"maskctc/decode_{set}/ctc maskctc/decode_{set}/maskctc_lp_th0.5_it5 maskctc/decode_{set}/maskctc_lp_th0.9_it10"}
t() { local s=$SECONDS; "$@"; echo "[time] $(( SECONDS - s )) s: $*" >&2; }
t ./run.sh --stage 6 --stop_stage 6 --front snap
t ./run.sh --stage 7 --stop_stage 7 --eval_decodes "$decs"
t ./run.sh --stage 7 --stop_stage 7 --eval_decodes "$decs" --front snap
t ./run.sh --stage 8 --stop_stage 8 --eval_decodes "maskctc/decode_{set}/maskctc_lp_th0.5_it5" --bench_batch_sizes 1,all --front snap
