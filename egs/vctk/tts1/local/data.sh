#!/usr/bin/env bash
# Stage 1 for VCTK 0.92 (no download: fetch VCTK-Corpus-0.92 from the Edinburgh DataShare yourself): import one
# microphone, split 500 utterances off at random (seeded) for dev and test, so every speaker is in all three.
set -euo pipefail
corpus_dir=downloads/VCTK-Corpus-0.92
mic=mic2
n_dev=250               # utterances held out for validation ...
n_test=250              # ... and for the test set
seed=1
. ../../../recipes/parse_options.sh

narspeech data import vctk "$corpus_dir" data/all --mic "$mic"
narspeech data split data/all data --parts "train:-$((n_dev + n_test)),dev:$n_dev,test:$n_test" --seed "$seed"
