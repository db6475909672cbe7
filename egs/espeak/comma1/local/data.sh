#!/usr/bin/env bash
# Stage 1 for the three CoMMA tasks on espeak-ng speech and the shipped prompts:
#   data/tts_{train,test}: one voice at 22.05 kHz (phonemes -> mels), edge silence trimmed;
#   data/asr_{train,test}: several voices, random rate and pitch, 16 kHz (log-mel -> characters);
#   data/correct_{train,test}: text only: the prompts corrupted with phonetic word noise (hypothesis -> reference).
set -euo pipefail
tts_utts=300
asr_utts=600
correct_sentences=2000
asr_voices=en-us,en-us+f2,en-us+m3,en-gb,en-gb+f3
nj=2
seed=1
. ../../../recipes/parse_options.sh

prompts=../../../narspeech/resources/prompts.txt
test_tts=$(( tts_utts / 10 )); test_asr=$(( asr_utts / 10 )); test_cor=$(( correct_sentences / 10 ))

narspeech data synth data/tts_all --num-utts "$tts_utts" --voices en-us --sample-rate 22050 --seed "$seed" \
  --jobs "$nj" --wav-dir downloads/tts_wavs
narspeech data split data/tts_all data --parts "tts_train_raw:-$test_tts,tts_test_raw:$test_tts" --seed "$seed"
for s in tts_train tts_test; do
  rm -rf "data/$s"; narspeech data trim "data/${s}_raw" "data/$s" --top-db 40 --margin 0.05 --jobs "$nj"
done

narspeech data synth data/asr_all --num-utts "$asr_utts" --voices "$asr_voices" --rate 130:220 --pitch 20:80 \
  --sample-rate 16000 --seed "$seed" --jobs "$nj" --wav-dir downloads/asr_wavs
narspeech data split data/asr_all data --parts "asr_train:-$test_asr,asr_test:$test_asr" --seed "$seed"

mkdir -p data/correct_text
head -n $(( correct_sentences - test_cor )) "$prompts" > data/correct_text/train.txt
sed -n "$(( correct_sentences - test_cor + 1 )),${correct_sentences}p" "$prompts" > data/correct_text/test.txt
narspeech correct noise --text data/correct_text/train.txt --out data/correct_train --copies 2 --seed "$seed" --prefix tr
narspeech correct noise --text data/correct_text/test.txt --out data/correct_test --copies 1 --seed "$((seed + 1))" \
  --neighbours data/correct_train/neighbours.json --prefix te
