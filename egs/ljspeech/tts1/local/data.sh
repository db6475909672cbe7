#!/usr/bin/env bash
# Stage 1 for LJSpeech: download (needs internet) unless present, import, split 12,500/250/250 (seeded).
set -euo pipefail
corpus_dir=downloads/LJSpeech-1.1
seed=1
. ../../../recipes/parse_options.sh

[ -f "$corpus_dir/metadata.csv" ] || narspeech data download ljspeech "$(dirname "$corpus_dir")"
narspeech data import ljspeech "$corpus_dir" data/all
narspeech data split data/all data --parts train:-500,dev:250,test:250 --seed "$seed"
