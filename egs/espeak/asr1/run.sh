#!/usr/bin/env bash
# Mask-CTC and an AR joint CTC/attention baseline on a multi-voice synthetic espeak-ng corpus:
# the quick end-to-end ASR recipe (tiny CPU configs; conf/gpu/ for bigger models on a GPU).
#   ./run.sh                                   # everything
#   ./run.sh --stage 6 --mask_thresholds "0.9 0.99 0.999" --mask_iterations "1 3 10"   # another dev grid, tuned again
# test_unseen: sentences in no other part, spoken by voices not in training (--unseen_voices).
# Options of this script: --num_utts --voices --unseen_voices --nj; all others go to recipes/asr.sh (--help lists them).
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh

num_utts=6000           # synthetic speech is free: 8 h, ~3 readings of each prompt by different voices
voices=en-us,en-us+f2,en-us+m3,en-us+f4,en-gb,en-gb+m2,en-gb+f3,en-us+m7,en-us+m1,en-gb+f4,en-us+m6,en-gb+m8
unseen_voices=en-us+m5,en-gb+f1   # data/test_unseen: voices not in training, sentences in no other part
nj=2

passthrough=true . ../../../recipes/parse_options.sh
# the Mask-CTC grid decoded on dev (stage 6): the best setting is stored with the model (exp/maskctc/decode_defaults.json);
# decoding averages the 2 best checkpoints (of 3-4: the 5 best would take in the step-250 one, far from converged)
exec ../../../recipes/asr.sh --nj "$nj" --token_type char --test_sets "test test_unseen" --average_num 2 \
  --mask_thresholds "0.5 0.9 0.999" --mask_iterations 10 --mask_ctc_fusion "0 1" \
  --data_script local/data.sh --data_args "--num_utts $num_utts --voices $voices --unseen_voices $unseen_voices --nj $nj" "$@"
