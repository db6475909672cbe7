#!/usr/bin/env bash
# Stage 1 for the multispeaker corpus (4 speakers of SLR45, Kaldi train/dev/test dirs): import the three sets.
# --src: the corpus folder (default: multispeaker/ under the shared data folder, narspeech.paths.shared_data_dir).
# --hold_out SPK: leave that speaker out of train/dev (zero-shot); its test utterances go to data/test_<SPK>.
set -euo pipefail
src=""
hold_out=""
. ../../../recipes/parse_options.sh

[ -n "$src" ] || src=$(python -c "from narspeech.paths import shared_data_dir; print(shared_data_dir() / 'multispeaker')")
for s in train dev test; do
  narspeech data import kaldi "$src/$s" "data/$s" --base "$src"
done
if [ -n "$hold_out" ]; then  # zero-shot: the held-out speaker is only in data/test_<SPK>, never trained on
  echo "$hold_out" > data/held_out_spk
  cut -d' ' -f1 "$src/train/spk2utt" | grep -vxF "$hold_out" > data/seen_spks
  narspeech data subset data/test "data/test_$hold_out" --spk-list data/held_out_spk
  for s in train dev test; do
    mv "data/$s" "data/${s}_all"
    narspeech data subset "data/${s}_all" "data/$s" --spk-list data/seen_spks
    rm -rf "data/${s}_all"
  done
fi
