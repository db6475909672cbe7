#!/usr/bin/env bash
# Shared vocoder recipe: called from egs/<corpus>/voc1/run.sh, run in that folder.
# Stages: 1 data, 2 copy synthesis (Griffin-Lim, released HiFi-GAN: the ceiling of every TTS score),
#         3 fine-tune HiFi-GAN, 4 copy synthesis with the fine-tuned model, 5 speed (RTF, batch 1 and full).
# Every stage reads and writes data/ and exp/ and can be re-run alone (training resumes from exp/*/last.pt).
set -euo pipefail

stage=1
stop_stage=100
device=auto
ngpu=1                            # > 1: fine-tune with DDP through torchrun
nthreads=1                        # torch threads per process (OMP_NUM_THREADS)
train_set=train
valid_set=dev
test_set=test
copy_vocoders="griffin-lim hifigan:universal"
copy_limit=""                     # score only the first N test utterances (CPU smoke runs)
init=hifigan:universal            # fine-tuning starts from these generator weights ("" = from scratch)
ft_conf=conf/hifigan_smoke.yaml   # CPU smoke run; conf/hifigan_finetune.yaml on a GPU
ft_exp=exp/hifigan_ft
ft_limit=4                        # only the first N utterances of train/dev ("" on a GPU: all)
ft_args=""                        # extra options for `vocoder train` (e.g. "--set train.max_steps=100")
gta_train=""                      # dump dirs of FastSpeech 2 ground-truth-aligned mels (ESPnet-style fine-tuning)
gta_dev=""
bench_vocoders="hifigan:universal,random:v3"
bench_utts=8
data_script=local/data.sh         # corpus-specific stage 1
data_args=""

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/parse_options.sh"
. "$here/lib.sh"
export OMP_NUM_THREADS=$nthreads
limit_opt=""; [ -n "$copy_limit" ] && limit_opt="--limit $copy_limit"

if run_stage 1; then
  banner 1 "data preparation ($data_script)"
  # shellcheck disable=SC2086
  $data_script $data_args
fi

if run_stage 2; then
  banner 2 "copy synthesis of $test_set: $copy_vocoders"
  for v in $copy_vocoders; do
    # shellcheck disable=SC2086
    ns vocoder copy "data/$test_set" "exp/copy_${v//[:\/]/_}/$test_set" --vocoder "$v" --device "$device" $limit_opt
  done
fi

if run_stage 3; then
  banner 3 "fine-tune HiFi-GAN ($ft_conf, from ${init:-scratch}) -> $ft_exp"
  opts=""
  [ -n "$init" ] && opts="--init $init"
  [ -n "$gta_train" ] && opts="$opts --mels $gta_train"
  [ -n "$gta_dev" ] && opts="$opts --valid-mels $gta_dev"
  [ -n "$ft_limit" ] && opts="$opts --limit $ft_limit"
  # shellcheck disable=SC2086
  ns_train vocoder train --config "$ft_conf" --train-data "data/$train_set" --valid-data "data/$valid_set" --exp "$ft_exp" \
    --device "$device" --resume $opts $ft_args
fi

if run_stage 4; then
  banner 4 "copy synthesis of $test_set with $ft_exp"
  # shellcheck disable=SC2086
  ns vocoder copy "data/$test_set" "$ft_exp/copy/$test_set" --vocoder "$ft_exp" --device "$device" $limit_opt
fi

if run_stage 5; then
  banner 5 "speed: $bench_vocoders"
  ns bench vocoder "data/$test_set" --vocoders "$bench_vocoders" --limit "$bench_utts" --device "$device" \
    --out exp/bench_vocoder.json
fi
log "done (stages $stage..$stop_stage)"
