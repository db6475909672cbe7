#!/usr/bin/env bash
# Shared ASR error-correction recipe (FastCorrect vs an AR corrector), run in egs/<corpus>/ec1:
# text-only pretraining on synthetic ASR-like errors → ASR hypotheses of the training set (early
# and final checkpoints) → fine-tuning → detector tuning on held-out speakers → correction of the
# dev hypotheses of the ASR recipe's decode dirs → scoring → speed.
# Every stage reads and writes files under data/ dump/ exp/ and can be re-run alone
# (training stages resume from exp/*/last.pt; a finished run is not trained again):
#   ./run.sh --stage 1 --stop_stage 3      # the synthetic variant: text noising → correct (no ASR needed)
set -euo pipefail

stage=1
stop_stage=100
device=auto
pretrain_text=""          # plain text (one sentence per line) or LJSpeech metadata.csv
heldout_sentences=500     # last N sentences of pretrain_text: synthetic evaluation set (unless heldout_text)
heldout_text=""           # or: this file is the synthetic evaluation set, all of pretrain_text is trained on
noise_copies=2            # corrupted versions of each pretraining sentence
noise_sub=0.10
noise_del=0.025
noise_ins=0.025
asr_dir=../asr1           # the ASR recipe (its data/, dump/, exp/)
train_set=train
eval_sets=dev
ref_name=text_asr         # reference transcripts in $asr_dir/data/<set>/
asr_exp=exp/maskctc       # ASR model whose checkpoints decode the training set (inside asr_dir)
asr_ckpts="best"          # "best" and/or step checkpoint files (e.g. "checkpoints/step00002000.pt best"): early ones err more
asr_decode_args="--method maskctc"
tune_speakers_mod=10      # speakers whose number % mod == 0 are held out from fine-tuning (detector tuning)
fc_conf=conf/fastcorrect.yaml
ar_conf=conf/ar.yaml
fc_args=""
ar_args=""
beam=5
decode_batch_size=64
oov=pass                  # decode: lines with words outside the vocabulary pass through, or "correct"
score_by=spk2age
bench_batch_sizes="1,all"
bench_sentences=200

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/parse_options.sh"

log() { echo -e "$(date '+%F %T') [$(basename "$0")] $*" >&2; }
banner() { log "===== stage $1: $2 ====="; }
run_stage() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
ns() { narspeech "$@"; }
vocab_opt=""; [ -f "$asr_dir/data/$train_set/$ref_name" ] && vocab_opt="--vocab-text $asr_dir/data/$train_set/$ref_name"

if run_stage 1; then
  banner 1 "text-only pretraining data: synthetic ASR-like errors on $pretrain_text"
  [ -n "$pretrain_text" ] || { log "give --pretrain_text FILE"; exit 1; }
  mkdir -p data/text
  if [ -n "$heldout_text" ]; then
    cp "$pretrain_text" data/text/train.txt
    cp "$heldout_text" data/text/heldout.txt
  else
    n=$(grep -c . "$pretrain_text")
    head -n $((n - heldout_sentences)) "$pretrain_text" > data/text/train.txt
    tail -n "$heldout_sentences" "$pretrain_text" > data/text/heldout.txt
  fi
  extra=""; [ -f "$asr_dir/data/$train_set/$ref_name" ] && extra="--extra-words $asr_dir/data/$train_set/$ref_name"
  # shellcheck disable=SC2086
  ns correct noise --text data/text/train.txt --out data/text_train --copies "$noise_copies" \
    --sub "$noise_sub" --del "$noise_del" --ins "$noise_ins" --seed 1 --prefix t $extra
  ns correct noise --text data/text/heldout.txt --out data/text_heldout --neighbours data/text_train/neighbours.json \
    --sub "$noise_sub" --del "$noise_del" --ins "$noise_ins" --seed 2 --prefix h
  for s in text_train text_heldout; do
    ns correct align --hyp "data/$s/hyp" --ref "data/$s/text" --out "exp/align/$s"
  done
fi

if run_stage 2; then
  banner 2 "pretraining FastCorrect and the AR corrector on the noisy text"
  # shellcheck disable=SC2086
  ns correct train --config "$fc_conf" --train exp/align/text_train --valid exp/align/text_heldout \
    --out exp/fc_pretrain --resume $vocab_opt $fc_args
  # shellcheck disable=SC2086
  ns correct train --config "$ar_conf" --train exp/align/text_train --valid exp/align/text_heldout \
    --out exp/ar_pretrain --resume $vocab_opt $ar_args
fi

if run_stage 3; then
  banner 3 "synthetic evaluation: held-out noisy sentences, before/after correction"
  for m in fc_pretrain ar_pretrain; do
    ns correct decode --model "exp/$m" --hyp data/text_heldout/hyp --ref data/text_heldout/text \
      --out "exp/$m/decode_text_heldout" --threshold 0 --beam "$beam" --batch-size "$decode_batch_size" --device "$device"
    ns asr score data/text_heldout/text "exp/$m/decode_text_heldout/hyp" > "exp/$m/decode_text_heldout/score.txt"
  done
  ns asr score data/text_heldout/text data/text_heldout/hyp --out exp/score_text_heldout_uncorrected | tail -1
fi

if run_stage 4; then
  banner 4 "ASR hypotheses of $train_set ($asr_dir/$asr_exp, checkpoints: $asr_ckpts); pairs; held-out speakers"
  mkdir -p data/ft
  : > data/ft/hyp.unsorted; : > data/ft/text.unsorted
  for c in $asr_ckpts; do
    tag=$(basename "$c" .pt)
    ck=""; [ "$c" != best ] && ck="--checkpoint $asr_dir/$asr_exp/$c"
    out=exp/asr_train/$tag
    # shellcheck disable=SC2086
    [ -f "$out/hyp" ] || ns asr decode --model "$asr_dir/$asr_exp" --dump "$asr_dir/dump/$train_set" --out "$out" \
      $ck $asr_decode_args --device "$device"
    awk -v t="$tag" '{print t "-" $0}' "$out/hyp" >> data/ft/hyp.unsorted
    awk -v t="$tag" '{print t "-" $0}' "$asr_dir/data/$train_set/$ref_name" >> data/ft/text.unsorted
  done
  # speechocean762 ids start with the 4-digit speaker: held-out speakers tune the detector
  for f in hyp text; do
    LC_ALL=C sort -k1,1 "data/ft/$f.unsorted" > "data/ft/$f"
    awk -v m="$tune_speakers_mod" '{split($1, a, "-"); if ((substr(a[2], 1, 4) + 0) % m != 0) print}' "data/ft/$f" > "data/ft/${f}_train"
    awk -v m="$tune_speakers_mod" '{split($1, a, "-"); if ((substr(a[2], 1, 4) + 0) % m == 0) print}' "data/ft/$f" > "data/ft/${f}_tune"
  done
  ns correct align --hyp data/ft/hyp_train --ref data/ft/text_train --out exp/align/ft_train
  ns correct align --hyp data/ft/hyp_tune --ref data/ft/text_tune --out exp/align/ft_tune
fi

if run_stage 5; then
  banner 5 "fine-tuning both correctors on the ASR pairs"
  # shellcheck disable=SC2086
  ns correct train --config "$fc_conf" --init exp/fc_pretrain --train exp/align/ft_train --valid exp/align/ft_tune \
    --out exp/fc --resume --set train.max_steps=0 --set train.max_epochs=30 $fc_args
  # shellcheck disable=SC2086
  ns correct train --config "$ar_conf" --init exp/ar_pretrain --train exp/align/ft_train --valid exp/align/ft_tune \
    --out exp/ar --resume --set train.max_steps=0 --set train.max_epochs=30 $ar_args
fi

if run_stage 6; then
  banner 6 "detector: confidence threshold tuned on held-out speakers (never-change if nothing helps)"
  for m in fc ar; do
    ns correct tune --model "exp/$m" --hyp data/ft/hyp_tune --ref data/ft/text_tune --beam "$beam" --oov "$oov" --device "$device"
  done
fi

if run_stage 7; then
  banner 7 "correct the ASR recipe's dev hypotheses; score before/after"
  for s in $eval_sets; do
    by_opt=""; [ -n "$score_by" ] && [ -f "$asr_dir/data/$s/$score_by" ] && by_opt="--by $asr_dir/data/$s/$score_by"
    for d in "$asr_dir"/exp/*/decode_"$s"/*/; do
      [ -f "$d/hyp" ] || continue
      name=$(basename "$(dirname "$(dirname "$d")")")_$(basename "$d")
      # shellcheck disable=SC2086
      ns asr score "$asr_dir/data/$s/$ref_name" "$d/hyp" $by_opt --out "exp/score_$s/$name/asr" > /dev/null
      for m in fc ar; do
        ns correct decode --model "exp/$m" --hyp "$d/hyp" --ref "$asr_dir/data/$s/$ref_name" --out "exp/$m/decode_$s/$name" \
          --beam "$beam" --batch-size "$decode_batch_size" --oov "$oov" --device "$device"
        # shellcheck disable=SC2086
        ns asr score "$asr_dir/data/$s/$ref_name" "exp/$m/decode_$s/$name/hyp" $by_opt --out "exp/score_$s/$name/$m" > /dev/null
      done
      log "$name: WER asr / fc / ar = $(for x in asr fc ar; do python3 -c "import json,sys; print(f\"{100*json.load(open(sys.argv[1]))['wer']['error_rate']:.2f}\")" "exp/score_$s/$name/$x/result.json"; done | tr '\n' ' ')"
    done
  done
fi

if run_stage 8; then
  banner 8 "speed: FastCorrect vs AR corrector, batch 1 and full batch"
  for s in $eval_sets; do
    h=$(ls "$asr_dir"/exp/*/decode_"$s"/*/hyp 2>/dev/null | head -n 1 || true)
    [ -n "$h" ] || h=data/text_heldout/hyp
    fc=exp/fc; [ -f exp/fc/config.yaml ] || fc=exp/fc_pretrain   # same architecture: speed does not need fine-tuning
    ar=exp/ar; [ -f exp/ar/config.yaml ] || ar=exp/ar_pretrain
    ns bench correct --fastcorrect "$fc" --ar "$ar" --hyp "$h" --limit "$bench_sentences" --batch-sizes "$bench_batch_sizes" \
      --beam "$beam" --device "$device" --out "exp/speed_$s.json"
  done
fi
log "done (stages $stage..$stop_stage)"
