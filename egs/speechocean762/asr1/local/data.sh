#!/usr/bin/env bash
# Stage 1 for speechocean762: data/train and data/dev with spk2age/spk2gender.
# --kaldi_dir: a copy already split into train/ and dev/ (../shared/data/speechocean762);
# --corpus_dir: the public release (train/, test/): dev = 25 held-out training speakers, test = test.
# --espeak_aug N: also N synthetic espeak-ng utterances (6 voices, the shipped LJSpeech prompts minus the
# dev/test sentences) in data/espeak, and data/train_espeak = train + espeak (run.sh trains on it).
set -euo pipefail
kaldi_dir=none
corpus_dir=none
espeak_aug=0
seed=1
nj=2
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

if [ "$espeak_aug" -gt 0 ]; then
  excl=""; for s in dev test; do [ -f "data/$s/text" ] && excl="$excl --exclude-text data/$s/text"; done
  # shellcheck disable=SC2086
  narspeech data synth data/espeak --num-utts "$espeak_aug" --voices en-us,en-us+f2,en-us+m3,en-us+f4,en-gb,en-gb+m3 \
    --rate 130:200 --pitch 20:80 --sample-rate 16000 --seed "$seed" --jobs "$nj" --wav-dir downloads/espeak_wavs $excl
  narspeech data combine data/train_espeak data/train data/espeak
fi
