#!/usr/bin/env bash
# Detectors for another ASR system's hypotheses (issue 10: the AR baseline). The correctors were fine-tuned
# and their detectors tuned on the Mask-CTC model's errors; on the AR model's dev hypotheses the AR
# corrector's detector let 443 of 500 rewrites through (WER +6 %). Here that system decodes the held-out
# tune speakers (data/ft/tune_speakers) as stage 2 decodes the training set — averaged model unperturbed,
# with SpecAugment + speed, an earlier checkpoint with both — every corrector's detector is tuned on those
# pairs into exp/det_<name>/ (correct tune --out; the corrector's own detector.json is untouched), and the
# system's dev decode is corrected with them (correct decode --detector) and scored.
# The full route for another system — its own pairs, fine-tuning and detectors from the same pretraining —
# is the recipe itself: ../ec1_ar (correct.sh --pretrained ../ec1). This script reproduces RESULTS.md's
# "detectors only" rows.
#   local/system_detectors.sh    # defaults: ASR=exp/ar AVG=avg5.pt EARLY=checkpoints/step00004000.pt METHOD=beam DEC=ar/decode_dev/beam10
# After ./run.sh stages 1-6 and the --front snap run (exp/{fc,ar,fc_snap,ar_snap}, data/ft_snap/lexicon.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
. ./path.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} NARSPEECH_PROGRESS=0
A=../asr1
asr=${ASR:-exp/ar}; name=${NAME:-$(basename "$asr")}; method=${METHOD:-beam}
avg=${AVG:-avg5.pt}; early=${EARLY:-checkpoints/step00004000.pt}
dec=${DEC:-ar/decode_dev/beam10}
out=exp/det_$name; pairs=data/ft_$name
mkdir -p "$out" "$pairs/dump"
t() { local s=$SECONDS; "$@"; echo "[time] $(( SECONDS - s )) s: $*" >&2; }

# the tune speakers' training utterances as a small dump
awk 'FILENAME == ARGV[1] {t[$1] = 1; next} ($2 in t) {print $1}' data/ft/tune_speakers "$A/data/train/utt2spk" | LC_ALL=C sort > "$pairs/utts"
for f in feats.scp f0.scp energy.scp utt2num_frames; do  # the dump reader wants all three tables
  awk 'FILENAME == ARGV[1] {u[$1] = 1; next} ($1 in u)' "$pairs/utts" "$A/dump/train/$f" > "$pairs/dump/$f"
done
cp "$A/dump/train/feats.yaml" "$A/dump/train/stats.npz" "$pairs/dump/"
awk 'FILENAME == ARGV[1] {u[$1] = 1; next} ($1 in u)' "$pairs/utts" "$A/data/train/text_asr" > "$pairs/text_asr"

: > "$pairs/hyp_tune"; : > "$pairs/text_tune"
for v in "$avg none" "$avg specaug_speed" "$early specaug_speed"; do
  set -- $v
  case "$2" in none) o="" ;; specaug_speed) o="--specaug --speeds 0.9,1.1" ;; esac
  tag=$(basename "$1" .pt)_$2; d=$out/hyps/$tag
  # shellcheck disable=SC2086
  [ -f "$d/hyp" ] || t narspeech correct hyps --asr "$A/$asr" --checkpoint "$A/$asr/$1" --dump "$pairs/dump" --out "$d" \
    --method "$method" $o --seed 1 --device cpu
  awk -v t="$tag" '{print t "-" $0}' "$d/hyp" >> "$pairs/hyp_tune"
  awk -v t="$tag" '{print t "-" $0}' "$pairs/text_asr" >> "$pairs/text_tune"
done
narspeech correct snap --hyp "$pairs/hyp_tune" --text data/ft_snap/lexicon.txt --out "$pairs/snap" --min-sim 0.5
narspeech asr score "$pairs/text_tune" "$pairs/hyp_tune" --out "$pairs/score" | sed -n 1,2p

src=$A/exp/$dec/hyp; snapped=$out/snap_dev/hyp
narspeech correct snap --hyp "$src" --text data/ft_snap/lexicon.txt --out "$out/snap_dev" --min-sim 0.5
for m in fc ar fc_snap ar_snap; do
  case "$m" in *_snap) h=$pairs/snap/hyp; in=$snapped ;; *) h=$pairs/hyp_tune; in=$src ;; esac
  t narspeech correct tune --model "exp/$m" --hyp "$h" --ref "$pairs/text_tune" --beam 5 --device cpu --out "$out/$m.json"
  narspeech correct decode --model "exp/$m" --hyp "$in" --out "$out/dev_$m" --detector "$out/$m.json" --beam 5 --device cpu
done
for d in snap_dev dev_fc dev_ar dev_fc_snap dev_ar_snap; do
  echo "== $name $dec: $d"
  (cd "$A" && narspeech asr score data/dev/text_asr "../ec1/$out/$d/hyp" --by data/dev/spk2age --out "../ec1/$out/score_$d" | sed -n 1,4p)
done
