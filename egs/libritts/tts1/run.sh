#!/usr/bin/env bash
# Multi-speaker FastSpeech 2 on LibriTTS or LibriTTS-R (train-clean-100+360: ~1,150 speakers, ~245 h, 24 kHz).
#   ./run.sh --corpus_dir /data/LibriTTS_R --device cuda
#   ./run.sh --corpus_dir /data/LibriTTS   # the original release: same layout
# test_seen: held-out sentences of the training voices; test_unseen (test-clean): voices never trained on, for
#   zero-shot with --spk_embed true (GE2E d-vectors; `tts synthesize --reference-audio`).
# conf/gpu/*.yaml: paper-size teacher and FastSpeech 2, a learned vector per speaker (model.spks: auto).
# Options of this script: --corpus_dir --train_subsets --nj; all others go to recipes/tts.sh.
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh

corpus_dir=downloads/LibriTTS_R
train_subsets=train-clean-100,train-clean-360   # comma-separated
nj=8

passthrough=true . ../../../recipes/parse_options.sh
# a learned vector needs a seen speaker: the default test set is test_seen
exec ../../../recipes/tts.sh --nj "$nj" --token_type phoneme --lang en-us --multispk true --test_sets test_seen \
  --teacher_conf conf/gpu/teacher.yaml --fs_conf conf/gpu/fastspeech2.yaml \
  --data_script local/data.sh --data_args "--corpus_dir $corpus_dir --train_subsets $train_subsets" "$@"
