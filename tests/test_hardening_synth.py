"""`tts synthesize` state and long input: no stale wavs from earlier runs, a 5,000-character line is
split at sentence boundaries (with a notice) and joined back, and no short line pays for a long one."""
from __future__ import annotations

import numpy as np

from narspeech.fileio import read_table
from tests.test_synthesize import CFG, StubTTS, _loaded
from narspeech.tts.synthesize.writer import synthesize_to_dir


class _ShapeStub(StubTTS):
    """StubTTS that also records the padded token length of every call."""

    def __init__(self):
        super().__init__(frames_per_token=2)
        self.shapes: list[tuple[int, int]] = []

    def inference(self, tokens, token_lengths, **kw):
        self.shapes.append((tokens.shape[0], tokens.shape[1]))
        return super().inference(tokens, token_lengths, **kw)


class _SpyVocoder:
    """Silence of the right length; records the padded frame count of every batch and its lengths."""

    sample_rate = CFG.sample_rate

    def __init__(self):
        self.batches: list[tuple[int, list[int]]] = []

    def __call__(self, mels, lengths):
        self.batches.append((mels.shape[1], lengths.tolist()))
        return [0.1 * np.sin(np.arange((int(n) - 1) * CFG.hop_length, dtype=np.float32)) for n in lengths]  # not constant: that is a failure


def test_rerun_into_the_same_dir_leaves_no_stale_wavs(tmp_path):
    out = tmp_path / "synth"
    synthesize_to_dir(_loaded(tmp_path), [("a1", "hello"), ("a2", "world"), ("a3", "again")], out, vocoder_options={"n_iter": 2})
    assert sorted(p.name for p in (out / "wav").iterdir()) == ["a1.wav", "a2.wav", "a3.wav"]
    (out / "results.json").write_text("{}")  # `tts evaluate` of the first run
    (out / "mcd").write_text("a1 5.0\n")
    synthesize_to_dir(_loaded(tmp_path), [("b1", "other"), ("a2", "words")], out, vocoder_options={"n_iter": 2})
    assert sorted(p.name for p in (out / "wav").iterdir()) == ["a2.wav", "b1.wav"]
    assert sorted(read_table(out / "wav.scp")) == ["a2", "b1"]
    assert not (out / "results.json").exists() and not (out / "mcd").exists()  # scores of the old audio
    assert not [p.name for p in out.rglob(".*")]  # no temp files either
    synthesize_to_dir(_loaded(tmp_path), [("c1", "mels only")], out, write_wavs=False)
    assert not (out / "wav.scp").exists() and not list((out / "wav").glob("*.wav"))


def test_long_line_is_split_at_sentences_and_short_lines_do_not_pay_for_it(tmp_path, monkeypatch):
    import narspeech.tts.synthesize.onnx_engine as engine  # where synthesis makes its vocoder

    spy = _SpyVocoder()
    monkeypatch.setattr(engine, "make_vocoder", lambda name, fcfg, dev, **kw: spy)
    sentence = "the quick brown cat jumps over the lazy dog, and runs far away. "
    long_text = (sentence * 80)[:5000].strip()
    assert len(long_text) > 4990 and "x" not in long_text  # the stub cannot say x
    items = [("long", long_text), ("s1", "short one."), ("s2", "another short line."), ("s3", "ok.")]
    model, notes = _ShapeStub(), []
    res = synthesize_to_dir(_loaded(tmp_path, model), items, tmp_path / "out", batch_size=16,
                            warn=lambda u, r: notes.append((u, r)))
    assert res.synthesized == ["long", "s1", "s2", "s3"] and res.failed == {}
    assert any(u == "long" and "split" in r and "sentence" in r for u, r in notes), notes
    assert max(n for _, n in model.shapes) <= 400  # no call sees the whole 5,000-character line
    frames = {u: int(v) for u, v in read_table(tmp_path / "out" / "utt2num_frames").items()}
    assert frames["long"] > 2 * len(long_text)  # joined back: every token's frames, plus pauses
    wav_scp = read_table(tmp_path / "out" / "wav.scp")
    assert list(wav_scp) == ["long", "s1", "s2", "s3"]
    tokens = read_table(tmp_path / "out" / "token")["long"].split()
    assert [t for t in tokens if t != "<space>"] == list(long_text.replace(" ", ""))  # every character, in order
    for padded, lengths in spy.batches:  # each vocoder batch: no item padded to more than twice its length
        assert padded <= 2 * min(lengths), spy.batches
