#!/usr/bin/env bash
# Shared ASR recipe (like ESPnet's asr.sh): called from egs/<corpus>/asr1/run.sh, run in that folder.
# data → tokens → features → Mask-CTC → AR baseline → decode (CTC greedy, Mask-CTC, AR beam; the Mask-CTC settings
# chosen on dev and stored with the model) → score → speed.
# Every stage reads and writes files under data/, dump/, exp/ and can be re-run alone
# (training stages resume from exp/*/last.pt; a finished run is not trained again):
#   ./run.sh --stage 6 --stop_stage 7 --mask_thresholds "0.9 0.999" --mask_iterations "1 5 10"
set -euo pipefail

stage=1                 # first stage to run
stop_stage=100          # last stage to run
nj=2                    # CPU worker processes (features)
device=auto             # auto | cpu | cuda
ngpu=1                  # GPUs for training stages 4 and 5 (> 1: DDP through torchrun)
train_set=train
valid_set=dev
test_sets=test
token_type=char         # char | subword (own copies data/<set>_<kind><vocab>, exp/*_<kind><vocab>: both live side by side)
subword_vocab=300       # sentencepiece pieces (token_type=subword)
subword_kind=unigram    # unigram | bpe
feats_conf=conf/feats.yaml
maskctc_conf=conf/maskctc.yaml
ar_conf=conf/ar.yaml
exp_tag=""              # added to the default exp names, e.g. _espeak: exp/maskctc_espeak
maskctc_exp=""          # default exp/maskctc<exp_tag> (+ _<kind><vocab> for subwords)
ar_exp=""               # default exp/ar<exp_tag> (idem)
maskctc_args=""         # extra options for `asr train` (e.g. "--set train.max_steps=100")
ar_args=""
skip_ar=false           # true: no AR baseline (stages 5, and its decoding)
mask_thresholds="0.5 0.9 0.999" # Mask-CTC decoding settings tried in stage 6 (a weak decoder wants few masks: 0.5-0.9)
mask_iterations="10"
mask_ctc_fusion="0"     # Mask-CTC decoding also with these CTC fusion weights (asr decode --ctc-fusion; 0 = decoder alone)
length_adjust=auto      # Mask-CTC decoding also with length adjustment (Improved Mask-CTC): auto = when the model has a length predictor
beam=10
ctc_weight=0.3
decode_batch_size=32
average_num=5           # decode with the average of the N best validated checkpoints (all kept if fewer; 0: best.pt / last.pt)
score_by=""             # utt2X / spk2X table name in data/<set>/ for a breakdown (e.g. spk2age)
bench_utts=20           # utterances timed in stage 8 (the AR beam search is slow on CPU)
data_script=local/data.sh   # corpus-specific stage 1
data_args=""

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/parse_options.sh"
. "$here/lib.sh"
all_sets="$train_set $valid_set $test_sets"
spm_model=data/subword/${subword_kind}${subword_vocab}.model
spm_opt=""; tag=""
if [ "$token_type" = subword ]; then spm_opt="--subword-model $spm_model"; tag="_${subword_kind}${subword_vocab}"; fi
tokens=data/tokens${tag}.txt
maskctc_exp=${maskctc_exp:-exp/maskctc$exp_tag$tag}
ar_exp=${ar_exp:-exp/ar$exp_tag$tag}

if run_stage 1; then
  banner 1 "data preparation ($data_script)"
  # shellcheck disable=SC2086
  $data_script $data_args
fi

if run_stage 2; then
  banner 2 "normalised transcripts, $token_type tokens, token list $tokens"
  if [ "$token_type" = subword ]; then
    ns asr subword "data/$train_set" --out "$spm_model" --vocab-size "$subword_vocab" --type "$subword_kind"
    for s in $all_sets; do rm -rf "data/$s$tag"; cp -r "data/$s" "data/$s$tag"; done
  fi
  for s in $all_sets; do
    # shellcheck disable=SC2086
    ns asr tokenize "data/$s$tag" --unit "$token_type" $spm_opt
  done
  ns text vocab "data/$train_set$tag" --out "$tokens"
  for s in $valid_set $test_sets; do
    ns text check "data/$s$tag" --tokens "$tokens" || log "warning: data/$s$tag has tokens missing from $tokens"
  done
fi

if run_stage 3; then
  banner 3 "features: log-mel; global statistics"
  # shellcheck disable=SC2086
  feats_stage "$train_set" $all_sets
fi

train_stage() {  # $1 conf, $2 exp, $3 extra args
  # shellcheck disable=SC2086
  ns_train asr train --config "$1" --tokens "$tokens" \
    --train-data "data/$train_set$tag" --train-dump "dump/$train_set" \
    --valid-data "data/$valid_set$tag" --valid-dump "dump/$valid_set" \
    --exp "$2" --device "$device" --resume $spm_opt $3
}

if run_stage 4; then
  banner 4 "Mask-CTC (CTC + conditional masked LM decoder) → $maskctc_exp"
  train_stage "$maskctc_conf" "$maskctc_exp" "$maskctc_args"
fi

if run_stage 5 && [ "$skip_ar" != true ]; then
  banner 5 "AR baseline (joint CTC/attention, same encoder) → $ar_exp"
  train_stage "$ar_conf" "$ar_exp" "$ar_args"
fi

if run_stage 6; then
  banner 6 "decoding: CTC greedy, Mask-CTC, AR beam search (batched)"
  exps=("$maskctc_exp"); [ "$skip_ar" != true ] && exps+=("$ar_exp")
  declare -A ckpt
  for e in "${exps[@]}"; do
    ckpt[$e]=""
    if [ "$average_num" -gt 0 ]; then
      ns train average "$e" --num "$average_num" --fewer-ok --out "$e/avg${average_num}.pt"
      ckpt[$e]="--checkpoint $e/avg${average_num}.pt"
    fi
  done
  dec() {  # $1 exp, $2 set, $3 decode dir name, rest: options
    local e=$1 s=$2 name=$3; shift 3
    # shellcheck disable=SC2086
    ns asr decode --model "$e" ${ckpt[$e]} --dump "dump/$s" --out "$e/decode_$s/$name" --batch-size "$decode_batch_size" \
      --device "$device" "$@"
  }
  lp=false
  if [ "$length_adjust" = true ] || { [ "$length_adjust" = auto ] && grep -q "length_predictor: true" "$maskctc_exp/config.yaml"; }; then
    lp=true
  fi
  for s in $valid_set $test_sets; do
    dec "$maskctc_exp" "$s" ctc --method ctc
    for th in $mask_thresholds; do
      for it in $mask_iterations; do
        for fu in $mask_ctc_fusion; do
          f=""; [ "$fu" != 0 ] && f="_fu$fu"
          dec "$maskctc_exp" "$s" "maskctc_th${th}_it${it}$f" --method maskctc --threshold "$th" --iterations "$it" --ctc-fusion "$fu" \
            --no-length-adjust  # explicit: a stored default must not leak into the grid
          if [ "$lp" = true ]; then
            dec "$maskctc_exp" "$s" "maskctc_lp_th${th}_it${it}$f" --method maskctc --threshold "$th" --iterations "$it" --ctc-fusion "$fu" \
              --length-adjust
          fi
        done
      done
    done
    if [ "$s" = "$valid_set" ]; then  # choose the Mask-CTC settings on dev; stored as the model's decoding defaults
      for d in "$maskctc_exp/decode_$s"/*/; do ns asr score "data/$s$tag/text_asr" "$d/hyp" > /dev/null; done
      ns asr tune --model "$maskctc_exp" "$maskctc_exp/decode_$s"/*/ --out "exp/tune_$s$tag.md"
    fi
    dec "$maskctc_exp" "$s" maskctc_tuned --method maskctc  # the stored defaults, as `asr decode` uses them
    if [ "$skip_ar" != true ]; then
      dec "$ar_exp" "$s" "beam$beam" --method beam --beam "$beam" --ctc-weight "$ctc_weight"
    fi
  done
fi

if run_stage 7; then
  banner 7 "scoring (WER, CER; breakdown by ${score_by:-nothing}); one table per set: exp/results_<set>$tag.md"
  for s in $valid_set $test_sets; do
    by_opt=""; [ -n "$score_by" ] && [ -f "data/$s$tag/$score_by" ] && by_opt="--by data/$s$tag/$score_by"
    for d in "$maskctc_exp"/decode_"$s"/*/ "$ar_exp"/decode_"$s"/*/; do
      [ -f "$d/hyp" ] || continue
      log "$d"
      # shellcheck disable=SC2086
      ns asr score "data/$s$tag/text_asr" "$d/hyp" $by_opt
    done
    ns asr summary "$maskctc_exp"/decode_"$s"/*/ "$ar_exp"/decode_"$s"/*/ --out "exp/results_$s$tag.md"
  done
fi

if run_stage 8; then
  banner 8 "speed: Mask-CTC vs AR beam search, batch 1 and full batch"
  ar_opt=""; [ "$skip_ar" != true ] && ar_opt="--ar $ar_exp --beam $beam --ctc-weight $ctc_weight"
  tuned=$(ns asr tune --model "$maskctc_exp" --show)  # time the Mask-CTC settings chosen on dev (none: bench's own)
  for s in $test_sets; do
    # shellcheck disable=SC2086
    ns bench asr --maskctc "$maskctc_exp" $tuned $ar_opt --dump "dump/$s" --limit "$bench_utts" \
      --batch-sizes "1,$bench_utts" --device "$device" --out "exp/speed_$s$tag.json"
  done
fi
log "done (stages $stage..$stop_stage)"
