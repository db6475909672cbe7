#!/usr/bin/env bash
# Multi-speaker FastSpeech 2 on VCTK 0.92 (109 speakers, ~44 h, 48 kHz; wav48_silence_trimmed, one microphone).
#   ./run.sh --corpus_dir /data/VCTK-Corpus-0.92 --device cuda
#   ./run.sh ... --spk_embed true   # also condition on GE2E d-vectors (zero-shot voices with --reference-audio)
# conf/gpu/*.yaml: paper-size teacher and FastSpeech 2, a learned vector per speaker (model.spks: auto).
# Options of this script: --corpus_dir --mic --nj; all others go to recipes/tts.sh.
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh

corpus_dir=downloads/VCTK-Corpus-0.92
mic=mic2                # mic1 | mic2 | both (ESPnet's VCTK recipe takes mic2)
nj=8

passthrough=true . ../../../recipes/parse_options.sh
# the release is already trimmed of edge silence (wav48_silence_trimmed): stage 1 only trims what is left at 40 dB
exec ../../../recipes/tts.sh --nj "$nj" --token_type phoneme --lang en-us --multispk true \
  --teacher_conf conf/gpu/teacher.yaml --fs_conf conf/gpu/fastspeech2.yaml \
  --data_script local/data.sh --data_args "--corpus_dir $corpus_dir --mic $mic" "$@"
