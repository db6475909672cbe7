#!/usr/bin/env bash
# FastCorrect vs an AR corrector for the AR baseline (../asr1/exp/ar, joint CTC/attention beam 10): the
# correctors pretrained by ../ec1 (its units, noisy text and pretrained models are reused, not retrained)
# are fine-tuned on this system's own training-set errors, their detectors tuned on its held-out speakers,
# and its dev hypotheses corrected and scored. Run ../ec1 (stages 1-4) first.
#   ./run.sh                      # stages 1-8, snap front end (the better one on ../ec1)
# The AR model fits its training set closely (avg5 unperturbed: 26 % WER on held-out speakers' training
# utterances vs 63 % on dev), so the pairs come from an early checkpoint and perturbed decodes.
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
exec ../../../recipes/correct.sh --pretrained ../ec1 --asr_dir ../asr1 --asr_exp exp/ar --asr_method beam \
  --asr_ckpts "checkpoints/step00004000.pt checkpoints/step00005500.pt avg5.pt" \
  --asr_perturb "specaug+speed:1 specaug+speed:2" \
  --front snap --eval_sets dev --eval_decodes "ar/decode_{set}/beam10" --score_by spk2age "$@"
