#!/usr/bin/env bash
# HiFi-GAN on CMU ARCTIC: copy synthesis (the ceiling of every TTS score), fine-tuning, scores, speed.
#   ./run.sh --kaldi_dir ../../../../shared/data/arctic_fb          # corpus already split in Kaldi dirs
#   ./run.sh --stage 3 --ft_conf conf/hifigan_finetune.yaml --ft_limit ""   # the real fine-tuning (GPU)
#   ./run.sh --gta_train ../tts1/dump/train_gta --gta_dev ../tts1/dump/dev_gta   # on FastSpeech 2's GTA mels
#   ./run.sh --stage 3 --stop_stage 4 --ft_conf conf/istft_spectral.yaml --init "" --ft_exp exp/istft_spectral --ft_limit ""   # the fast vocoder (CPU)
# Options of this script: --spk --kaldi_dir; all others go to recipes/vocoder.sh (--help lists them).
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh

spk=slt
kaldi_dir=""

passthrough=true . ../../../recipes/parse_options.sh
exec ../../../recipes/vocoder.sh --data_script ../tts1/local/data.sh \
  --data_args "--spk $spk${kaldi_dir:+ --kaldi_dir $kaldi_dir}" "$@"
