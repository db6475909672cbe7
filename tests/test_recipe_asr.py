"""The espeak ASR recipe, all stages, with tiny settings: proves the stage wiring (data → tokens →
features → Mask-CTC with a length head → AR → averaged checkpoints → CTC / Mask-CTC / length-adjusted /
beam decoding → Mask-CTC settings chosen on dev and stored with the model → scoring → speed) on a copy of the
recipe in tmp, the held-out test set (sentences and voices not in training), and that a finished stage re-runs."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_espeak_asr_recipe_end_to_end(tmp_path, espeak):
    for part in ("recipes", "tools", "egs/espeak/asr1"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("data", "dump", "exp", "downloads"))
    tts = tmp_path / "egs/espeak/tts1/data/test"  # the TTS test sentences must stay out of the ASR corpus
    tts.mkdir(parents=True)
    from narspeech.data.prompts import load_prompts
    from narspeech.text.normalize import normalize

    held = [normalize(p) for p in load_prompts()[:1900]]
    (tts / "text").write_text("".join(f"t{i:04d} {t}\n" for i, t in enumerate(held)))
    egs = tmp_path / "egs/espeak/asr1"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "NARSPEECH_VENV": str(tmp_path / "no-venv"), "NARSPEECH_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    tiny = ("--set train.max_steps=4 --set train.valid_interval=2 --set model.d_model=32 --set model.enc_ff=64 "
            "--set model.dec_ff=64 --set model.enc_layers=1 --set train.batch_bins=3000")
    cmd = ["./run.sh", "--num_utts", "24", "--voices", "en-us,en-us+f2", "--nj", "1", "--maskctc_args",
           tiny + " --set model.length_predictor=true", "--ar_args", tiny, "--beam", "2", "--bench_utts", "2",
           "--average_num", "2", "--mask_iterations", "2", "--mask_thresholds", "0.999",
           "--test_sets", "test_unseen"]  # run.sh's plain test set repeats dev's decode path at ~20 CLI calls
    r = subprocess.run(cmd, cwd=egs, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    for stage in range(1, 9):
        assert f"stage {stage}:" in r.stderr
    texts = [l.split(maxsplit=1)[1] for l in (egs / "data/all/text").read_text().splitlines()]
    assert texts and not set(texts) & set(held)  # only the 100 prompts not held out were spoken
    u_text = [l.split(maxsplit=1)[1] for l in (egs / "data/test_unseen/text").read_text().splitlines()]
    u_spk = {l.split()[1] for l in (egs / "data/test_unseen/utt2spk").read_text().splitlines()}
    assert u_text and not set(u_text) & set(texts) and not set(u_text) & set(held)  # sentences no other part has
    assert u_spk and not u_spk & {l.split()[1] for l in (egs / "data/all/utt2spk").read_text().splitlines()}  # unseen voices
    tuned = json.loads((egs / "exp/maskctc/decode_defaults.json").read_text())  # chosen on dev, stored with the model
    assert tuned["tuned_on"].endswith("decode_dev") and len(tuned["curve"]) == 4  # length adjust x CTC fusion
    assert (egs / "exp/tune_dev.md").is_file()
    for d in ("exp/maskctc/decode_dev/ctc", "exp/maskctc/decode_dev/maskctc_th0.999_it2",
              "exp/maskctc/decode_dev/maskctc_lp_th0.999_it2", "exp/maskctc/decode_dev/maskctc_th0.999_it2_fu1", "exp/ar/decode_dev/beam2",
              "exp/maskctc/decode_test_unseen/maskctc_tuned", "exp/ar/decode_test_unseen/beam2"):
        hyp = (egs / d / "hyp").read_text().splitlines()
        assert len(hyp) == len((egs / "data" / d.split("decode_")[1].split("/")[0] / "text").read_text().splitlines()), d
        info = json.loads((egs / d / "decode.json").read_text())
        assert info["model"]["checkpoint"].endswith("avg2.pt"), info["model"]
        assert (egs / d / "result.json").is_file(), d  # stage 7 scored it
    assert "| maskctc | ctc |" in (egs / "exp/results_dev.md").read_text()  # stage 7's one table
    tuned_opts = json.loads((egs / "exp/maskctc/decode_test_unseen/maskctc_tuned/decode.json").read_text())["options"]
    assert tuned_opts["threshold"] == tuned["threshold"] and (egs / "exp/results_test_unseen.md").is_file()
    speed = json.loads((egs / "exp/speed_test_unseen.json").read_text())
    systems = {r["system"] for r in speed["rows"]}
    assert {"ctc_greedy", "maskctc", "maskctc_length_adjust", "ar_beam2"} <= systems, systems
    r = subprocess.run(["./run.sh", "--stage", "4", "--stop_stage", "4", "--maskctc_args", tiny + " --set model.length_predictor=true"],
                       cwd=egs, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]


def test_speechocean762_espeak_aug_data_stages(tmp_path, shared_data, espeak):
    """`egs/speechocean762/asr1/run.sh --espeak_aug N` (stages 1-2): N synthetic utterances beside the real
    training set, combined into data/train_espeak, tokenised with the shared token list."""
    src = shared_data / "speechocean762"
    if not src.is_dir():
        pytest.skip(f"{src} not found")
    for part in ("recipes", "tools", "egs/speechocean762/asr1"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("data", "dump", "exp", "downloads", "*.log"))
    egs = tmp_path / "egs/speechocean762/asr1"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "NARSPEECH_VENV": str(tmp_path / "no-venv"), "NARSPEECH_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    r = subprocess.run(["./run.sh", "--kaldi_dir", str(src), "--espeak_aug", "6", "--nj", "1", "--stop_stage", "2"],
                       cwd=egs, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    train = (egs / "data/train/text").read_text().splitlines()
    both = (egs / "data/train_espeak/token").read_text().splitlines()
    synth = (egs / "data/espeak/text").read_text().splitlines()
    assert len(synth) == 6 and len(both) == len(train) + 6
    assert (egs / "data/train_espeak/text_asr").is_file() and (egs / "data/tokens.txt").is_file()
    # subword units beside the characters: their own data dirs and token list, the char tokens untouched
    chars = (egs / "data/train_espeak/token").read_bytes()
    r = subprocess.run(["./run.sh", "--kaldi_dir", str(src), "--espeak_aug", "6", "--stage", "2", "--stop_stage", "2",
                        "--token_type", "subword", "--subword_vocab", "100"], cwd=egs, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (egs / "data/train_espeak/token").read_bytes() == chars
    pieces = (egs / "data/train_espeak_unigram100/token").read_text().splitlines()
    assert len(pieces) == len(both) and "\u2581" in pieces[0]
    assert (egs / "data/dev_unigram100/spk2age").is_file() and (egs / "data/tokens_unigram100.txt").is_file()
