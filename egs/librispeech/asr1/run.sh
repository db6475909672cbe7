#!/usr/bin/env bash
# Mask-CTC vs a joint CTC/attention AR baseline on LibriSpeech, at scale on GPUs (conf/gpu/), subword units.
#   ./run.sh --device cuda --ngpu 8                                     # downloads train-clean-100, dev-clean, test-clean
#   ./run.sh --corpus_dir /data/LibriSpeech --train_subsets train-clean-100,train-clean-360,train-other-500
# Options of this script: --corpus_dir --train_subsets --nj; all others go to recipes/asr.sh (--help lists them).
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh

corpus_dir=""           # an extracted LibriSpeech root; empty: stage 1 downloads into downloads/
train_subsets=train-clean-100   # comma-separated
nj=8

passthrough=true . ../../../recipes/parse_options.sh
exec ../../../recipes/asr.sh --nj "$nj" --token_type subword --subword_vocab 300 --subword_kind unigram \
  --train_set train --valid_set dev_clean --test_sets "test_clean test_other" \
  --maskctc_conf conf/gpu/maskctc.yaml --ar_conf conf/gpu/ar.yaml --decode_batch_size 64 \
  --data_script local/data.sh --data_args "--corpus_dir ${corpus_dir:-none} --train_subsets ${train_subsets}" "$@"
