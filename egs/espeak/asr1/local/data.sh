#!/usr/bin/env bash
# Stage 1 for the synthetic ASR corpus: many espeak-ng voices, random rate and pitch per utterance,
# 16 kHz, split train/dev/test (random, so every voice is in every part).
set -euo pipefail
num_utts=1500
voices=en-us,en-us+f2,en-us+m3,en-us+f4
nj=2
seed=1
. ../../../recipes/parse_options.sh

narspeech data synth data/all --num-utts "$num_utts" --voices "$voices" --rate 130:220 --pitch 20:80 \
  --sample-rate 16000 --seed "$seed" --jobs "$nj" --wav-dir downloads/wavs
narspeech data split data/all data --parts train:-200,dev:100,test:100 --seed "$seed"
