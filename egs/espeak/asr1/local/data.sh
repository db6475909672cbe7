#!/usr/bin/env bash
# Stage 1 for the synthetic ASR corpus: many espeak-ng voices, random rate and pitch per utterance,
# 16 kHz, split train/dev/test (random, so every voice is in every part), and data/test_unseen:
# sentences no other part has, spoken by voices not in training (the held-out check).
set -euo pipefail
num_utts=1500
voices=en-us,en-us+f2,en-us+m3,en-us+f4
unseen_voices=en-us+m5,en-gb+f1   # voices of data/test_unseen (keep them out of --voices)
nj=2
seed=1
exclude_text=auto       # Kaldi text file(s) whose sentences are left out; auto: the TTS recipe's test set (../tts1/data/test/text) when present,
                        # so this recogniser never trained on the sentences it scores when it judges the TTS
. ../../../recipes/parse_options.sh

if [ "$exclude_text" = auto ]; then
  exclude_text=""
  if [ -f ../tts1/data/test/text ]; then exclude_text=../tts1/data/test/text
  else echo "local/data.sh: ../tts1/data/test/text not there yet: the TTS test sentences may be among these prompts" >&2; fi
fi
excl=""; for f in $exclude_text; do excl="$excl --exclude-text $f"; done
for v in ${unseen_voices//,/ }; do
  case ",$voices," in *",$v,"*) echo "local/data.sh: unseen voice $v is also a training voice" >&2; exit 1;; esac
done

held=$(( num_utts / 10 < 100 ? num_utts / 10 : 100 ))   # dev, test and test_unseen: 100 each (10 % of a small corpus)
# held-out sentences first, so the training corpus can leave them out
narspeech data synth data/test_unseen --num-utts "$held" --voices "$unseen_voices" --rate 130:220 --pitch 20:80 \
  --sample-rate 16000 --seed $((seed + 1000)) --jobs "$nj" --wav-dir downloads/wavs_unseen $excl
narspeech data synth data/all --num-utts "$num_utts" --voices "$voices" --rate 130:220 --pitch 20:80 \
  --sample-rate 16000 --seed "$seed" --jobs "$nj" --wav-dir downloads/wavs $excl --exclude-text data/test_unseen/text
narspeech data split data/all data --parts "train:-$((2 * held)),dev:$held,test:$held" --seed "$seed"
