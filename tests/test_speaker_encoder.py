"""The GE2E speaker encoder read from resemblyzer's shipped weights: same-speaker recordings closer than
different-speaker ones on real audio (an EER), `feats spk-embed` tables, a clear error without the package."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import cli_ok
from narspeech.errors import NarspeechError

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def encoder():
    from narspeech.audio.speaker_encoder import weights_path

    try:
        weights_path()
    except NarspeechError as e:
        pytest.skip(str(e))


def _subset(root, sub: str, n_spk: int, per_spk: int):
    from narspeech.fileio import read_table

    scp, u2s = read_table(root / sub / "wav.scp"), read_table(root / sub / "utt2spk")
    spks = sorted(set(u2s.values()))[:n_spk]
    utts = [u for s in spks for u in sorted(x for x in scp if u2s[x] == s)[:per_spk]]
    return {u: str(root / scp[u]) for u in utts}, u2s


@pytest.mark.parametrize("corpus,sub,n_spk,per_spk,max_eer", [("speechocean762", "dev", 10, 6, 0.15),
                                                               ("multispeaker", "test", 4, 12, 0.15)])
def test_same_speaker_closer_than_different_speaker(encoder, shared_data, corpus, sub, n_spk, per_spk, max_eer):
    """Full sets (see egs/multispeaker/tts1/RESULTS.md): speechocean762 dev EER 5.2 %, multispeaker test 8.0 %."""
    from narspeech.audio.io import load_audio
    from narspeech.audio.speaker_encoder import embed_waveforms
    from narspeech.metrics.speaker import eer, trial_scores

    paths, u2s = _subset(shared_data / corpus, sub, n_spk, per_spk)
    emb = embed_waveforms([load_audio(p, target_sr=16000)[0] for p in paths.values()], 16000)
    same, diff = trial_scores(dict(zip(paths, emb)), u2s)
    rate, _ = eer(same, diff)
    assert np.mean(same) > np.mean(diff) + 0.1, (np.mean(same), np.mean(diff))
    assert rate < max_eer, rate


def test_our_network_matches_resemblyzer(encoder, shared_data):
    """Our loading code, features and windowing give resemblyzer's own embeddings on the same audio; with our
    energy gate instead of its VAD the two stay close."""
    try:
        from resemblyzer import VoiceEncoder, preprocess_wav
    except ImportError:
        pytest.skip("resemblyzer's own code does not import here (webrtcvad)")
    from narspeech.audio.io import load_audio
    from narspeech.audio.speaker_encoder import embed_waveforms, preprocess

    paths, _ = _subset(shared_data / "multispeaker", "test", 4, 2)
    wavs = [load_audio(p, target_sr=16000)[0] for p in paths.values()]
    enc = VoiceEncoder("cpu", verbose=False)
    same_input = [preprocess(w, 16000) for w in wavs]
    ours = embed_waveforms(same_input, 16000, preprocessed=True)
    theirs = np.stack([enc.embed_utterance(w) for w in same_input])
    assert (ours * theirs).sum(1).min() > 0.999
    theirs_vad = np.stack([enc.embed_utterance(preprocess_wav(w, 16000)) for w in wavs])
    assert (embed_waveforms(wavs, 16000) * theirs_vad).sum(1).mean() > 0.9


def test_spk_embed_command_writes_utterance_and_speaker_tables(encoder, shared_data, tmp_path):
    from narspeech.fileio import write_table
    from narspeech.audio.spk_embed import read_embeddings

    paths, u2s = _subset(shared_data / "multispeaker", "test", 2, 2)
    data = tmp_path / "data"
    data.mkdir()
    write_table(data / "wav.scp", paths)
    write_table(data / "utt2spk", {u: u2s[u] for u in paths})
    cli_ok("feats", "spk-embed", data, tmp_path / "emb", "--device", "cpu")
    utt, spk = read_embeddings(tmp_path / "emb" / "utt_embed.scp"), read_embeddings(tmp_path / "emb" / "spk_embed.scp")
    assert sorted(utt) == sorted(paths) and sorted(spk) == sorted(set(u2s[u] for u in paths))
    assert all(v.shape == (256,) and abs(np.linalg.norm(v) - 1) < 1e-4 for v in [*utt.values(), *spk.values()])


def test_missing_package_is_one_clear_line(monkeypatch):
    import importlib.util

    from narspeech.audio import speaker_encoder

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "resemblyzer" else real(name, *a))
    with pytest.raises(NarspeechError, match="resemblyzer: add it with `bash tools/install.sh`"):
        speaker_encoder.weights_path()
