#!/usr/bin/env bash
# FastSpeech 2 from an AR teacher on LJSpeech 1.1 (one speaker, ~24 h, 22.05 kHz).
#   ./run.sh                                   # downloads LJSpeech-1.1 (stage 1)
#   ./run.sh --corpus_dir /data/LJSpeech-1.1   # an existing copy
# conf/*.yaml are paper-size models for a GPU (add --device cuda; multi-GPU: see README).
# Options of this script: --corpus_dir --nj; all others go to recipes/tts.sh.
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh

corpus_dir=downloads/LJSpeech-1.1
nj=8

passthrough=true . ../../../recipes/parse_options.sh
exec ../../../recipes/tts.sh --nj "$nj" --token_type phoneme \
  --data_script local/data.sh --data_args "--corpus_dir $corpus_dir" "$@"
