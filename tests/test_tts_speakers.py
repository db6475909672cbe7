"""Multi-speaker TTS plumbing: speaker conditioning in every acoustic model, the spk2sid / embedding tables of a
training run, voices at synthesis (clear one-line errors, mixed batches), speaker scores."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from narspeech.errors import NarspeechError
from narspeech.fileio import write_table
from narspeech.tts.models.build import build_tts_model

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {
    "fastspeech2": dict(d_model=32, n_heads=2, enc_layers=1, dec_layers=1, d_ff=32, predictor_channels=16, dropout=0.0,
                        attn_dropout=0.0, predictor_dropout=0.0),
    "transformer_tts": dict(d_model=32, n_heads=2, enc_layers=1, dec_layers=1, d_ff=32, d_emb=32, dec_prenet_units=16,
                            postnet_layers=0, dropout=0.0, attn_dropout=0.0),
    "tacotron2": dict(d_emb=16, enc_conv_channels=16, enc_lstm_units=8, prenet_units=16, attn_rnn_units=16, dec_rnn_units=16,
                      attn_dim=8, postnet_layers=0, zoneout=0.0),
}
SPEAKER_SETUPS = [dict(spks=3), dict(spk_embed_dim=5), dict(spk_embed_dim=5, spk_embed_integration="concat"),
                  dict(spks=3, spk_embed_dim=5)]


def _batch(spk: dict) -> dict:
    torch.manual_seed(0)
    b = dict(tokens=torch.randint(1, 10, (2, 6)), token_lengths=torch.tensor([6, 4]), mels=torch.randn(2, 12, 8),
             mel_lengths=torch.tensor([12, 9]), durations=torch.tensor([[2, 2, 2, 2, 2, 2], [3, 2, 2, 2, 0, 0]]),
             pitch=torch.rand(2, 6) * 100 + 100, energy=torch.rand(2, 6))
    if spk.get("spks"):
        b["sids"] = torch.tensor([0, 2])
    if spk.get("spk_embed_dim"):
        b["spembs"] = torch.randn(2, 5)
    return b


@pytest.mark.parametrize("kind", sorted(TINY))
def test_single_speaker_models_have_no_speaker_parameters(kind):
    """A single-speaker model's state dict is what it was before speakers existed: old checkpoints load unchanged."""
    m = build_tts_model(dict(type=kind, n_tokens=10, n_mels=8, **TINY[kind]))
    assert not [k for k in m.state_dict() if k.startswith("speaker.")]


@pytest.mark.parametrize("kind", sorted(TINY))
@pytest.mark.parametrize("spk", SPEAKER_SETUPS, ids=lambda s: "+".join(f"{k}={v}" for k, v in s.items()))
def test_every_model_hears_the_speaker(kind, spk):
    torch.manual_seed(0)
    m = build_tts_model(dict(type=kind, n_tokens=10, n_mels=8, **TINY[kind], **spk))
    b = _batch(spk)
    loss, _ = m(b)
    loss.backward()
    assert all(p.grad is not None for n, p in m.named_parameters() if n.startswith("speaker."))
    m.eval()
    x1, _ = m.encode(b["tokens"], b["token_lengths"], b.get("sids"), b.get("spembs"))
    other = {k: (v.flip(0) if k in ("sids", "spembs") else v) for k, v in b.items()}
    x2, _ = m.encode(b["tokens"], b["token_lengths"], other.get("sids"), other.get("spembs"))
    assert not torch.allclose(x1[0], x2[0])  # another speaker, another encoder output
    with pytest.raises(ValueError, match="speaker"):
        m.encode(b["tokens"], b["token_lengths"])


def test_wrong_embedding_size_is_refused():
    m = build_tts_model(dict(type="fastspeech2", n_tokens=10, n_mels=8, **TINY["fastspeech2"], spk_embed_dim=5))
    b = _batch(dict(spk_embed_dim=5))
    with pytest.raises(ValueError, match=r"\(B, 5\)"):
        m.encode(b["tokens"], b["token_lengths"], spembs=torch.randn(2, 7))


def test_setup_speakers_writes_spk2sid_and_speaker_means(tmp_path):
    from narspeech.audio.spk_embed import read_embeddings, write_embeddings
    from narspeech.tts.speakers import read_spk2sid
    from narspeech.tts.train import setup_speakers

    data = tmp_path / "data"
    data.mkdir()
    write_table(data / "utt2spk", {"b1": "bob", "b2": "bob", "a1": "ann"})
    emb = {"b1": np.array([1, 0, 0], np.float32), "b2": np.array([0, 1, 0], np.float32), "a1": np.array([0, 0, 2], np.float32)}
    write_embeddings(tmp_path / "utt_embed.scp", emb)
    m = {"spks": "auto", "spk_embed_dim": 0}
    spk2sid, table = setup_speakers(m, tmp_path / "exp", data, tmp_path / "utt_embed.scp")
    assert m == {"spks": 2, "spk_embed_dim": 3} and spk2sid == {"ann": 0, "bob": 1}
    assert read_spk2sid(tmp_path / "exp" / "spk2sid") == spk2sid
    means = read_embeddings(tmp_path / "exp" / "spk_embed.scp")
    np.testing.assert_allclose(means["bob"], [2 ** -0.5, 2 ** -0.5, 0], atol=1e-6)
    np.testing.assert_allclose(means["ann"], [0, 0, 1], atol=1e-6)
    with pytest.raises(NarspeechError, match="spk_embed_dim is 7 but the embeddings have 3"):
        setup_speakers({"spks": 0, "spk_embed_dim": 7}, tmp_path / "exp2", data, tmp_path / "utt_embed.scp")
    with pytest.raises(NarspeechError, match="training set has 2 speakers"):
        setup_speakers({"spks": 1, "spk_embed_dim": 0}, tmp_path / "exp3", data, None)


def test_dataset_items_carry_speakers(tmp_path):
    from narspeech.tts.dataset import collate
    from narspeech.tts.speakers import SpeakerInputs

    si = SpeakerInputs({"ann": 0, "bob": 1}, {"bob": np.ones(3, np.float32), "a1": np.zeros(3, np.float32)},
                       {"a1": "ann", "b1": "bob", "c1": "cat"})
    assert si.get("b1")[0] == 1 and si.get("a1")[1].sum() == 0  # an utterance's own vector wins over its speaker's
    with pytest.raises(NarspeechError, match="speaker 'cat' is not in the model's spk2sid"):
        si.get("c1")
    items = [{"utt": u, "tokens": torch.tensor([1, 2]), "mels": torch.zeros(3, 4), "sid": torch.tensor(s),
              "spemb": torch.full((3,), float(s))} for u, s in (("a1", 0), ("b1", 1))]
    b = collate(items)
    assert b["sids"].tolist() == [0, 1] and b["spembs"].shape == (2, 3)


class _Loaded:
    def __init__(self, tmp_path, spks=2, dim=0):
        self.cfg = {"model": {"spks": spks, "spk_embed_dim": dim}}
        self.model_dir = tmp_path
        write_table(tmp_path / "spk2sid", {"ann": "0", "bob": "1"})
        if dim:
            from narspeech.audio.spk_embed import write_embeddings

            write_embeddings(tmp_path / "spk_embed.scp", {"ann": np.ones(dim, np.float32), "bob": -np.ones(dim, np.float32)})


def test_voices_errors_are_one_clear_line(tmp_path):
    from narspeech.tts.synthesize.speakers import ModelSpeakers, SpeakerRequest, assign_voices

    ms = ModelSpeakers.of(_Loaded(tmp_path).cfg, tmp_path)
    assert assign_voices(ms, ["x"], SpeakerRequest(speaker="bob"))["x"].sid == 1
    v = assign_voices(ms, ["x", "y"], SpeakerRequest(), {"x": "ann", "y": "bob"})  # per line from utt2spk
    assert (v["x"].sid, v["y"].sid) == (0, 1)
    with pytest.raises(NarspeechError, match="unknown speaker 'eve'; known: ann, bob"):
        assign_voices(ms, ["x"], SpeakerRequest(speaker="eve"))
    with pytest.raises(NarspeechError, match="choose one with --speaker"):
        assign_voices(ms, ["x"], SpeakerRequest())
    with pytest.raises(NarspeechError, match="speaker ids only"):
        assign_voices(ms, ["x"], SpeakerRequest(reference_audio=[tmp_path / "a.wav"]))
    single = ModelSpeakers.of({"model": {}}, tmp_path)
    assert assign_voices(single, ["x"], SpeakerRequest(), {"x": "ann"}) == {}
    with pytest.raises(NarspeechError, match="one speaker"):
        assign_voices(single, ["x"], SpeakerRequest(speaker="ann"))
    emb_dir = tmp_path / "emb"
    emb_dir.mkdir()
    ms = ModelSpeakers.of(_Loaded(emb_dir, spks=0, dim=4).cfg, emb_dir)
    np.save(tmp_path / "bad.npy", np.zeros(6, np.float32))
    with pytest.raises(NarspeechError, match="has 6 values but the model takes 4"):
        assign_voices(ms, ["x"], SpeakerRequest(embedding=tmp_path / "bad.npy"))
    np.save(tmp_path / "good.npy", np.arange(4, dtype=np.float32))
    assert assign_voices(ms, ["x"], SpeakerRequest(embedding=tmp_path / "good.npy"))["x"].spemb.tolist() == [0, 1, 2, 3]
    assert assign_voices(ms, ["x"], SpeakerRequest(speaker="bob"))["x"].spemb.tolist() == [-1.0] * 4


def test_mixed_speaker_batch_equals_one_voice_at_a_time():
    """Lines of different voices in one batch get exactly what each gets alone (nothing leaks across the batch)."""
    from narspeech.tts.synthesize.frontend import Encoded
    from narspeech.tts.synthesize.inference import Controls, generate_mels

    torch.manual_seed(0)
    m = build_tts_model(dict(type="fastspeech2", n_tokens=10, n_mels=8, **TINY["fastspeech2"], spks=3, spk_embed_dim=4)).eval()
    rng = np.random.default_rng(0)
    items = [Encoded(f"u{i}", "", [], list(rng.integers(1, 10, 5 + i)), sid=i % 3, spemb=rng.normal(size=4).astype(np.float32))
             for i in range(4)]
    together = generate_mels(m, items, Controls(), torch.device("cpu"))
    for item, mel in zip(items, together):
        alone = generate_mels(m, [item], Controls(), torch.device("cpu"))[0]
        np.testing.assert_allclose(mel, alone, atol=1e-4)
    assert not np.allclose(together[0][:3], generate_mels(m, [Encoded("u0", "", [], items[0].ids, sid=1, spemb=items[0].spemb)],
                                                          Controls(), torch.device("cpu"))[0][:3])


def test_speaker_scores_floor_ceiling_and_identification():
    from narspeech.evaluate.speaker import format_speaker_table, speaker_scores
    from narspeech.metrics.speaker import eer

    rng = np.random.default_rng(0)
    centres = {s: rng.normal(size=16) for s in ("a", "b", "c")}
    utt2spk = {f"{s}{k}": s for s in centres for k in range(4)}
    ref = {u: centres[s] + 0.3 * rng.normal(size=16) for u, s in utt2spk.items()}
    good = {u: centres[s] + 0.3 * rng.normal(size=16) for u, s in utt2spk.items()}  # as close as a recording
    wrong = {u: centres["a" if s != "a" else "b"] + 0.3 * rng.normal(size=16) for u, s in utt2spk.items()}
    sg = speaker_scores(good, ref, utt2spk, centres)["overall"]
    sw = speaker_scores(wrong, ref, utt2spk, centres)["overall"]
    assert sg["id_acc_synth"] == 1.0 and sg["id_acc_ref"] == 1.0 and 0.6 < sg["position"] < 1.4
    assert sw["id_acc_synth"] == 0.0 and sw["position"] < 0.25
    assert sg["floor"] < sg["ceiling"]
    assert "spk-mean" in format_speaker_table(speaker_scores(good, ref, utt2spk, centres))
    assert eer([0.9, 0.8, 0.7], [0.1, 0.2, 0.3])[0] == 0.0
    assert abs(eer([0.9, 0.4], [0.5, 0.1])[0] - 0.5) < 1e-9
