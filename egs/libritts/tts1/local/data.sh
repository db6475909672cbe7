#!/usr/bin/env bash
# Stage 1 for LibriTTS or LibriTTS-R (no download: fetch them from openslr.org/60 or /141 yourself): import the
# training subsets (comma-separated) with the normalised text; dev (250) and test_seen (500) utterances of the
# training speakers are held out (seeded), and test-clean, whose speakers are never trained on, is test_unseen.
set -euo pipefail
corpus_dir=downloads/LibriTTS_R
train_subsets=train-clean-100,train-clean-360
n_dev=250               # utterances of the training speakers held out for validation ...
n_test=500              # ... and for test_seen
seed=1
. ../../../recipes/parse_options.sh

subset_opts=""
for s in ${train_subsets//,/ }; do subset_opts="$subset_opts --subset $s"; done
# shellcheck disable=SC2086
narspeech data import libritts "$corpus_dir" data/train_all $subset_opts
narspeech data split data/train_all data --parts "train:-$((n_dev + n_test)),dev:$n_dev,test_seen:$n_test" --seed "$seed"
narspeech data import libritts "$corpus_dir" data/test_unseen --subset test-clean
