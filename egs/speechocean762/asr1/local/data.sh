#!/usr/bin/env bash
# Stage 1 for speechocean762: data/train and data/dev with spk2age/spk2gender.
# --kaldi_dir: a copy already split into train/ and dev/ (../shared/data/speechocean762);
# --corpus_dir: the public release (train/, test/): dev = 25 held-out training speakers, test = test.
set -euo pipefail
kaldi_dir=none
corpus_dir=none
. ../../../recipes/parse_options.sh

if [ "$kaldi_dir" != none ]; then
  for s in train dev; do
    narspeech data import speechocean762 "$kaldi_dir" "data/$s" --split "$s"
  done
else
  narspeech data import speechocean762 "$corpus_dir" data/train_all --split train
  narspeech data import speechocean762 "$corpus_dir" data/test --split test
  narspeech data split data/train_all data --parts train:-25,dev:25 --by-speaker --seed 1
fi
