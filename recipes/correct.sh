#!/usr/bin/env bash
# Shared ASR error-correction recipe (FastCorrect vs an AR corrector), run in egs/<corpus>/ec1 beside
# the ASR recipe (asr_dir: its data/, dump/, exp/). Stages:
#   1 units and text   pretraining text (+ in-domain transcripts ×k), held-out text, subword units
#   2 ASR pairs        the ASR decodes its own training set: checkpoints × perturbations (SpecAugment
#                      left on, speed), as real (hypothesis, reference) pairs; speakers split into
#                      fine-tuning and detector-tuning sets; error profiles beside the dev hypotheses'
#   3 noise            pretraining pairs: the text corrupted by an error model learned on the stage-2
#                      pairs (noise=learned) or by phonetic word substitution (noise=phonetic); alignment
#   4 pretraining      FastCorrect and the AR corrector on the noisy text; synthetic held-out scores
#   5 fine-tuning      both on the stage-2 pairs (front=snap: on the pairs with every non-word hypothesis
#                      word snapped to its nearest lexicon word first; exp dirs get the suffix _snap)
#   6 detector         confidence threshold (and FastCorrect's granularity) tuned on held-out speakers
#   7 correction       every dev decode dir of the ASR recipe (eval_decodes) corrected and scored
#   8 speed            FastCorrect vs AR corrector, batch 1 and full batch
# Every stage reads and writes files under data/ and exp/ and can be re-run alone (training stages
# resume from exp/*/last.pt; a finished run is not trained again).
#   ./run.sh --stage 1 --stop_stage 4 --noise phonetic    # the synthetic variant: no ASR needed
set -euo pipefail

stage=1
stop_stage=100
device=auto
nthreads=1                # OMP_NUM_THREADS of every step
pretrain_text=""          # plain text (one sentence per line) or LJSpeech metadata.csv
pretrained=""             # another run dir of this recipe: its text, units and pretrained correctors are linked here
heldout_sentences=500     # last N sentences of pretrain_text: synthetic evaluation set (unless heldout_text)
heldout_text=""           # or: this file is the synthetic evaluation set, all of pretrain_text is trained on
indomain_copies=4         # the ASR training transcripts join the pretraining text this many times ("0": not at all)
unit=bpe                  # bpe (subword units trained on the pretraining text), word or char
bpe_size=1000
noise=learned             # learned (error model fitted on the stage-2 pairs) or phonetic (word substitution)
noise_copies=2            # corrupted versions of each pretraining sentence
noise_scale=1.0           # learned: multiplies the fitted word-level error rates
noise_sub=0.10            # phonetic: per-word rates
noise_del=0.025
noise_ins=0.025
asr_dir=../asr1           # the ASR recipe (its data/, dump/, exp/)
train_set=train
eval_sets=dev
eval_decodes="*/decode_{set}/*"   # decode dirs to correct: patterns under $asr_dir/exp (or ./… here); {set}: each eval set
ref_name=text_asr         # reference transcripts in $asr_dir/data/<set>/
asr_exp=exp/maskctc       # ASR model that decodes the training set (inside asr_dir)
asr_ckpts="best"          # "best" and/or checkpoints under asr_exp (./… or /…: here): early ones err more, like unseen speakers
asr_perturb="none"        # per checkpoint: none, specaug:SEED, speed:SEED (0.9/1.1), specaug+speed:SEED
asr_method=maskctc
tune_speakers_mod=10      # speakers whose number % mod == 0 are held out from fine-tuning (detector tuning)
fc_conf=conf/fastcorrect.yaml
ar_conf=conf/ar.yaml
fc_args=""
ar_args=""
ft_steps=600             # fine-tuning updates (each corrector)
ft_lr=0.0005             # fine-tuning peak learning rate (pretraining: the config's)
front=none                # none, or snap: correctors fine-tuned and run on lexicon-snapped hypotheses (correct snap)
snap_lexicon=ft          # snap's lexicon: ft (fine-tuning speakers' transcripts: tune speakers stay held out) | text
snap_min_sim=0.5          # chosen on the held-out tune speakers (egs/speechocean762/ec1/RESULTS.md)
beam=5
decode_batch_size=64
oov=correct               # decode: lines with tokens outside the vocabulary are corrected (as <unk>) or "pass"ed through
score_by=spk2age
bench_batch_sizes="1,all"
bench_sentences=200

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/parse_options.sh"
. "$here/lib.sh"
export OMP_NUM_THREADS=$nthreads

units_opt() { if [ "$unit" = bpe ]; then echo "--spm-model data/units/bpe$bpe_size.model"; else echo "--unit $unit"; fi; }
train_ref=$asr_dir/data/$train_set/$ref_name
case "$front" in none) sfx="" ;; snap) sfx=_snap ;; *) log "front must be none or snap"; exit 1 ;; esac
snap_text() {  # the lexicon source of `correct snap` (plain text, one sentence per line)
  case "$snap_lexicon" in
    ft) mkdir -p data/ft_snap; cut -d' ' -f2- data/ft/text_train | LC_ALL=C sort -u > data/ft_snap/lexicon.txt
        echo data/ft_snap/lexicon.txt ;;
    text) echo data/text/train.txt ;;
    *) log "snap_lexicon must be ft or text"; exit 1 ;;
  esac
}
snap() { ns correct snap --hyp "$1" --text "$(snap_text)" --out "$2" --min-sim "$snap_min_sim"; }
eval_dirs() {  # decode dirs of eval set $1 (patterns under $asr_dir/exp, or under . when they start with / or ./)
  local pat base d
  for pat in $eval_decodes; do
    pat=${pat//\{set\}/$1}
    case "$pat" in /*|./*) base="" ;; *) base="$asr_dir/exp/" ;; esac
    for d in $base$pat/; do [ -f "$d/hyp" ] && echo "${d%/}"; done
  done
  return 0
}

link_pretrained() {  # link $pretrained/$1 here (a run dir of this recipe must have it)
  [ -e "$pretrained/$1" ] || { log "--pretrained $pretrained has no $1: run its stages 1-4 first"; exit 1; }
  mkdir -p "$(dirname "$1")"; rm -rf "$1"; ln -s "$(cd "$pretrained/$(dirname "$1")" && pwd)/$(basename "$1")" "$1"
}

if run_stage 1 && [ -n "$pretrained" ]; then
  banner 1 "pretraining text and units: linked from $pretrained"
  link_pretrained data/text; link_pretrained data/units
elif run_stage 1; then
  banner 1 "pretraining text ($pretrain_text + $indomain_copies × $train_ref) and $unit units"
  [ -n "$pretrain_text" ] || { log "give --pretrain_text FILE"; exit 1; }
  mkdir -p data/text data/units
  if [ -n "$heldout_text" ]; then
    cp "$pretrain_text" data/text/train.txt
    cp "$heldout_text" data/text/heldout.txt
  else
    n=$(grep -c . "$pretrain_text")
    head -n $((n - heldout_sentences)) "$pretrain_text" > data/text/train.txt
    tail -n "$heldout_sentences" "$pretrain_text" > data/text/heldout.txt
  fi
  if [ -f "$train_ref" ]; then
    for _ in $(seq "$indomain_copies"); do cut -d' ' -f2- "$train_ref"; done >> data/text/train.txt
  fi
  [ "$unit" = bpe ] && ns correct subword --text data/text/train.txt --out "data/units/bpe$bpe_size.model" --vocab-size "$bpe_size"
fi

if run_stage 2; then
  banner 2 "ASR pairs: $asr_dir/$asr_exp decodes $train_set (checkpoints: $asr_ckpts; perturbations: $asr_perturb)"
  decodes=()
  for c in $asr_ckpts; do
    case "$c" in best) ck="" ;; /*|./*) ck="--checkpoint $c" ;; *) ck="--checkpoint $asr_dir/$asr_exp/$c" ;; esac
    for p in $asr_perturb; do
      kind=${p%%:*}; seed=${p#*:}; [ "$seed" = "$p" ] && seed=1
      opts=""
      case "$kind" in
        none) ;;
        specaug) opts="--specaug" ;;
        speed) opts="--speeds 0.9,1.1" ;;
        specaug+speed) opts="--specaug --speeds 0.9,1.1" ;;
        *) log "unknown perturbation $p (none, specaug:SEED, speed:SEED, specaug+speed:SEED)"; exit 1 ;;
      esac
      tag=$(basename "$c" .pt)_${kind/+/_}$([ "$kind" = none ] || echo "$seed")
      out=exp/asr_train/$tag
      # shellcheck disable=SC2086
      [ -f "$out/hyp" ] || ns correct hyps --asr "$asr_dir/$asr_exp" --dump "$asr_dir/dump/$train_set" --out "$out" \
        $ck --method "$asr_method" $opts --seed "$seed" --device "$device"
      decodes+=("$tag=$out/hyp")
    done
  done
  ns correct pairs "${decodes[@]}" --ref "$train_ref" --utt2spk "$asr_dir/data/$train_set/utt2spk" \
    --tune-every "$tune_speakers_mod" --out data/ft
  prof=()
  for d in exp/asr_train/*/; do prof+=("train_$(basename "$d")=$d/hyp"); done
  refs=(--ref "$train_ref")
  for s in $eval_sets; do
    for d in $(eval_dirs "$s"); do prof+=("${s}_$(basename "$(dirname "$(dirname "$d")")")_$(basename "$d")=$d/hyp"); done
    refs+=(--ref "$asr_dir/data/$s/$ref_name")
  done
  ns correct stats "${prof[@]}" "${refs[@]}" --lexicon "$train_ref" --json exp/asr_train/profiles.json | tee exp/asr_train/profiles.md
fi

if run_stage 3 && [ -n "$pretrained" ]; then
  banner 3 "pretraining pairs: linked from $pretrained"
  link_pretrained exp/align/text_train; link_pretrained exp/align/text_heldout
elif run_stage 3; then
  banner 3 "pretraining pairs: $noise noise on the text"
  if [ "$noise" = learned ]; then
    ns correct errmodel --hyp data/ft/hyp_train --ref data/ft/text_train --out exp/errmodel.json
    for s in train heldout; do
      ns correct noise --text "data/text/$s.txt" --out "data/text_$s" --error-model exp/errmodel.json --scale "$noise_scale" \
        --copies "$([ $s = train ] && echo "$noise_copies" || echo 1)" --seed "$([ $s = train ] && echo 1 || echo 2)" --prefix "${s:0:1}"
    done
  else
    extra=""; [ -f "$train_ref" ] && extra="--extra-words $train_ref"
    # shellcheck disable=SC2086
    ns correct noise --text data/text/train.txt --out data/text_train --copies "$noise_copies" \
      --sub "$noise_sub" --del "$noise_del" --ins "$noise_ins" --seed 1 --prefix t $extra
    ns correct noise --text data/text/heldout.txt --out data/text_heldout --neighbours data/text_train/neighbours.json \
      --sub "$noise_sub" --del "$noise_del" --ins "$noise_ins" --seed 2 --prefix h
  fi
  for s in text_train text_heldout; do
    # shellcheck disable=SC2046
    ns correct align --hyp "data/$s/hyp" --ref "data/$s/text" --out "exp/align/$s" $(units_opt)
  done
fi

if run_stage 4 && [ -n "$pretrained" ]; then
  banner 4 "pretrained correctors: linked from $pretrained"
  link_pretrained exp/fc_pretrain; link_pretrained exp/ar_pretrain
elif run_stage 4; then
  banner 4 "pretraining FastCorrect and the AR corrector on the noisy text; synthetic held-out scores"
  # shellcheck disable=SC2086
  ns correct train --config "$fc_conf" --train exp/align/text_train --valid exp/align/text_heldout --out exp/fc_pretrain --resume $fc_args
  # shellcheck disable=SC2086
  ns correct train --config "$ar_conf" --train exp/align/text_train --valid exp/align/text_heldout --out exp/ar_pretrain --resume $ar_args
  for m in fc_pretrain ar_pretrain; do
    ns correct decode --model "exp/$m" --hyp data/text_heldout/hyp --ref data/text_heldout/text --out "exp/$m/decode_text_heldout" \
      --threshold 0 --beam "$beam" --batch-size "$decode_batch_size" --oov "$oov" --device "$device"
  done
fi

if run_stage 5; then
  banner 5 "fine-tuning both correctors on the ASR pairs (front: $front)"
  for s in train tune; do
    if [ "$front" = snap ]; then
      snap "data/ft/hyp_$s" "data/ft_snap/snap_$s"
      cp "data/ft_snap/snap_$s/hyp" "data/ft_snap/hyp_$s"
      cp "data/ft/text_$s" "data/ft_snap/text_$s"
    fi
    # shellcheck disable=SC2046
    ns correct align --hyp "data/ft$sfx/hyp_$s" --ref "data/ft$sfx/text_$s" --out "exp/align/ft${sfx}_$s" $(units_opt)
  done
  # shellcheck disable=SC2086
  ns correct train --config "$fc_conf" --init exp/fc_pretrain --train "exp/align/ft${sfx}_train" --valid "exp/align/ft${sfx}_tune" \
    --out "exp/fc$sfx" --resume --set train.max_steps="$ft_steps" --set train.optim.lr="$ft_lr" $fc_args
  # shellcheck disable=SC2086
  ns correct train --config "$ar_conf" --init exp/ar_pretrain --train "exp/align/ft${sfx}_train" --valid "exp/align/ft${sfx}_tune" \
    --out "exp/ar$sfx" --resume --set train.max_steps="$ft_steps" --set train.optim.lr="$ft_lr" $ar_args
fi

if run_stage 6; then
  banner 6 "detector: confidence threshold tuned on held-out speakers (never-change if nothing helps)"
  for m in fc ar; do
    ns correct tune --model "exp/$m$sfx" --hyp "data/ft$sfx/hyp_tune" --ref "data/ft$sfx/text_tune" --beam "$beam" --oov "$oov" --device "$device"
  done
fi

if run_stage 7; then
  banner 7 "correct the ASR recipe's ${eval_sets} hypotheses; score before/after"
  for s in $eval_sets; do
    by_opt=""; [ -n "$score_by" ] && [ -f "$asr_dir/data/$s/$score_by" ] && by_opt="--by $asr_dir/data/$s/$score_by"
    for d in $(eval_dirs "$s"); do
      name=$(basename "$(dirname "$(dirname "$d")")")_$(basename "$d")
      # shellcheck disable=SC2086
      ns asr score "$asr_dir/data/$s/$ref_name" "$d/hyp" $by_opt --out "exp/score_$s/$name/asr" > /dev/null
      src=$d/hyp; shown="asr"
      if [ "$front" = snap ]; then
        snap "$d/hyp" "exp/snap_$s/$name"
        src=exp/snap_$s/$name/hyp; shown="asr snap"
        # shellcheck disable=SC2086
        ns asr score "$asr_dir/data/$s/$ref_name" "$src" $by_opt --out "exp/score_$s/$name/snap" > /dev/null
      fi
      for m in fc$sfx ar$sfx; do
        ns correct decode --model "exp/$m" --hyp "$src" --ref "$asr_dir/data/$s/$ref_name" --out "exp/$m/decode_$s/$name" \
          --beam "$beam" --batch-size "$decode_batch_size" --oov "$oov" --device "$device"
        # shellcheck disable=SC2086
        ns asr score "$asr_dir/data/$s/$ref_name" "exp/$m/decode_$s/$name/hyp" $by_opt --out "exp/score_$s/$name/$m" > /dev/null
      done
      res=(); for x in $shown fc$sfx ar$sfx; do res+=("exp/score_$s/$name/$x/result.json"); done
      log "$name: WER ${shown// / \/ } / fc$sfx / ar$sfx = $(ns correct wer "${res[@]}")"
    done
  done
fi

if run_stage 8; then
  banner 8 "speed: FastCorrect vs AR corrector, batch 1 and full batch"
  for s in $eval_sets; do
    h=$(eval_dirs "$s" | head -n 1); h=${h:+$h/hyp}
    [ -n "$h" ] || h=data/text_heldout/hyp
    fc=exp/fc$sfx; [ -f "$fc/config.yaml" ] || fc=exp/fc_pretrain   # same architecture: speed does not need fine-tuning
    ar=exp/ar$sfx; [ -f "$ar/config.yaml" ] || ar=exp/ar_pretrain
    ns bench correct --fastcorrect "$fc" --ar "$ar" --hyp "$h" --limit "$bench_sentences" --batch-sizes "$bench_batch_sizes" \
      --beam "$beam" --device "$device" --out "exp/speed_$s$sfx.json"
  done
fi
log "done (stages $stage..$stop_stage)"
