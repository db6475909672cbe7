#!/usr/bin/env bash
# Stage 1 for LibriSpeech: download (unless --corpus_dir) and import train / dev_clean / test_clean / test_other.
set -euo pipefail
corpus_dir=none
train_subsets=train-clean-100   # comma-separated
. ../../../recipes/parse_options.sh

if [ "$corpus_dir" = none ]; then
  corpus_dir=downloads
  for s in ${train_subsets//,/ } dev-clean test-clean test-other; do
    narspeech data download librispeech downloads --subset "$s"
  done
fi
sub_opts=""
for s in ${train_subsets//,/ }; do sub_opts="$sub_opts --subset $s"; done
# shellcheck disable=SC2086
narspeech data import librispeech "$corpus_dir" data/train $sub_opts
narspeech data import librispeech "$corpus_dir" data/dev_clean --subset dev-clean
narspeech data import librispeech "$corpus_dir" data/test_clean --subset test-clean
narspeech data import librispeech "$corpus_dir" data/test_other --subset test-other
