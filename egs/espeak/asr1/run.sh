#!/usr/bin/env bash
# Mask-CTC and an AR joint CTC/attention baseline on a multi-voice synthetic espeak-ng corpus:
# the quick end-to-end ASR recipe (tiny CPU configs; conf/gpu/ for bigger models on a GPU).
#   ./run.sh                                   # everything
#   ./run.sh --stage 6 --mask_thresholds "0.9 0.99 0.999" --mask_iterations "1 3 10"
# Options of this script: --num_utts --voices --nj; all others go to recipes/asr.sh (--help lists them).
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh

num_utts=1500
voices=en-us,en-us+f2,en-us+m3,en-us+f4,en-gb,en-gb+m2,en-gb+f3,en-us+m7
nj=2

passthrough=true . ../../../recipes/parse_options.sh
exec ../../../recipes/asr.sh --nj "$nj" --token_type char --test_sets test \
  --data_script local/data.sh --data_args "--num_utts $num_utts --voices $voices --nj $nj" "$@"
