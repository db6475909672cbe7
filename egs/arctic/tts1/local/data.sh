#!/usr/bin/env bash
# Stage 1 for ARCTIC: download one speaker (needs internet) and import it, or import a corpus that is
# already split into Kaldi train/dev/test dirs (--kaldi_dir, e.g. ../shared/data/arctic_fb).
set -euo pipefail
spk=slt
kaldi_dir=""   # no spaces in paths (Kaldi convention)
seed=1
. ../../../recipes/parse_options.sh

if [ -n "$kaldi_dir" ]; then
  for s in train dev test; do
    narspeech data import kaldi "$kaldi_dir/$s" "data/$s" --base "$kaldi_dir"
  done
  exit 0
fi
[ -d "downloads/cmu_us_${spk}_arctic" ] || narspeech data download arctic downloads --subset "$spk"
narspeech data import arctic "downloads/cmu_us_${spk}_arctic" data/all
# ARCTIC convention (as in ESPnet): the last 100 utterances are dev (50) and test (50)
narspeech data split data/all data --parts train:-100,dev:50,test:50 --ordered
