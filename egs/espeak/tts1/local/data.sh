#!/usr/bin/env bash
# Stage 1 for the espeak corpus: synthesise prompts with one espeak-ng voice, split train/dev/test.
set -euo pipefail
num_utts=360
voice=en-us
nj=2
seed=1
. ../../../recipes/parse_options.sh

narspeech data synth data/all --num-utts "$num_utts" --voices "$voice" --sample-rate 22050 \
  --seed "$seed" --jobs "$nj" --wav-dir downloads/wavs
narspeech data split data/all data --parts train:0.9,dev:0.05,test:0.05 --seed "$seed"
