#!/usr/bin/env bash
# Multi-speaker FastSpeech 2 on 4 real voices (2 women, 2 men, ~1 h of 16 kHz phone recordings, SLR45); results:
# RESULTS.md. Durations from the teacher-free aligner (each speaker's cepstra mean-normalised: its default for
# several voices); a learned embedding per speaker (conf/fastspeech2.yaml, spks: auto); stage 3 also writes GE2E
# d-vectors (dump/spk_embed/<set>) that stage 8 scores speakers with.
#   ./run.sh                                   # everything (CPU: ~1 h of training)
#   ./run.sh --hold_out m0005 --spk_embed true --fs_conf conf/fastspeech2_dvector.yaml --stop_stage 6
#     # zero-shot: m0005 never trained on (its test set: data/test_m0005), a model on d-vectors; then synthesise it
#     # from a few seconds of its audio with `tts synthesize --data data/test_m0005 --reference-audio WAV` (RESULTS.md)
# Paper-size models for a GPU: --fs_conf conf/gpu/fastspeech2.yaml (--teacher transformer for the AR teacher too).
# Options of this script: --src --hold_out --nj; all others go to recipes/tts.sh.
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh

src=""                  # the corpus folder (default: multispeaker/ in the shared data folder)
hold_out=""             # a speaker left out of training (zero-shot); its test set is data/test_<SPK>
nj=2

passthrough=true . ../../../recipes/parse_options.sh
# phone recordings with 0.4-1.3 s of edge silence and a noise floor 40-46 dB down: trim at 35 dB
exec ../../../recipes/tts.sh --nj "$nj" --token_type phoneme --lang en-us --trim_db 35 --eval_trim_db 35 \
  --teacher none --multispk true \
  --data_script local/data.sh --data_args "${src:+--src $src }${hold_out:+--hold_out $hold_out}" "$@"
