"""TTS speed benchmark: an AR-like stub is slower than a parallel stub; the CLI runs real models."""
from __future__ import annotations

import json
import math
import time

import pytest
import torch
from torch import nn

from narspeech.tts.bench import benchmark_loaded, markdown_table
from narspeech.tts.synthesize.inference import LoadedModel
from narspeech.tts.synthesize.frontend import TextFrontend
from narspeech.vocoder.griffin_lim import GriffinLim

from test_synthesize import CFG, TOKENS, StubTTS, _fastspeech2_exp


class StubAR(nn.Module):
    """Generates 4 frames per token one at a time, each step a small network call (like a teacher) that
    also waits 1 ms, so it is slower than the one-pass stub by a wide margin even on a loaded machine."""

    def __init__(self):
        super().__init__()
        self.step = nn.Sequential(nn.Linear(80, 256), nn.ReLU(), nn.Linear(256, 80))

    def inference(self, tokens, token_lengths, **_):
        lengths = token_lengths * 4
        frame = torch.zeros(tokens.shape[0], 80)
        out = []
        for _ in range(int(lengths.max())):
            time.sleep(1e-3)
            frame = torch.tanh(self.step(frame))
            out.append(frame + math.log(1e-3))
        return torch.stack(out, 1), lengths


def _loaded(model, tmp_path, kind="stub"):
    cfg = {"model": {"type": kind}, "text": {"kind": "char"}, "feats": CFG.to_dict()}
    return LoadedModel(model, cfg, CFG, TextFrontend("char", "en-us", TOKENS), tmp_path, tmp_path / "best.pt", torch.device("cpu"))


def test_benchmark_rows_rtf_and_speedup(tmp_path):
    sentences = ["hello there", "a longer one here", "ok", ""]
    student = StubTTS(frames_per_token=4)
    res = benchmark_loaded({"student": _loaded(student, tmp_path), "teacher": _loaded(StubAR(), tmp_path, "ar")}, sentences,
                           batch_sizes=(1, 0), repeat=2, warmup=1, vocoder_factory=lambda m: GriffinLim(m.feats, n_iter=2))
    rows = {(r["model"], r["batch_size"]): r for r in res["rows"]}
    assert set(rows) == {("student", 1), ("student", 3), ("teacher", 1), ("teacher", 3)}  # the empty line is left out
    s1 = rows[("student", 1)]
    assert s1["batches"] == 3 and s1["mel"]["runs"] == 2
    frames = 4 * (len("hello there") + len("a longer one here") + len("ok"))
    assert s1["audio_seconds"] == pytest.approx(frames * CFG.hop_length / CFG.sample_rate, abs=1e-3)
    assert s1["mel_rtf"] == pytest.approx(s1["mel"]["mean"] / s1["audio_seconds"], rel=1e-2)
    assert s1["e2e"]["mean"] > s1["mel"]["mean"]  # the vocoder is inside end-to-end
    speed = {s["batch_size"]: s for s in res["speedup"]}
    t1 = rows[("teacher", 1)]
    assert speed[1]["mel"] == pytest.approx(t1["mel"]["mean"] / s1["mel"]["mean"])
    assert speed[1]["mel_rtf"] == pytest.approx(t1["mel_rtf"] / s1["mel_rtf"])
    assert speed[1]["mel"] > 1.5 and speed[3]["mel"] > 1.5  # sequential frames cost more than one pass
    assert speed[1]["mel_rtf"] > 1.5 and speed[1]["e2e"] > 0  # e2e is dominated by the shared vocoder: no ordering
    table = markdown_table(res)
    assert "| student | stub | 1 |" in table and "Speed-up" in table


class ColdShapes(StubTTS):
    """The first call with a new input shape costs 0.2 s (a GPU choosing and loading kernels), later ones nothing."""

    def __init__(self):
        super().__init__(frames_per_token=4)
        self.seen: set[tuple[int, ...]] = set()

    def inference(self, tokens, token_lengths, **kw):
        if tuple(tokens.shape) not in self.seen:
            self.seen.add(tuple(tokens.shape))
            time.sleep(0.2)
        return super().inference(tokens, token_lengths, **kw)


def test_warmup_covers_every_batch_shape(tmp_path):
    """Batch 1 over sentences of different lengths: warming the first batch alone left the others' first
    calls in the timed runs (FastSpeech 2 on an H200: 0.84 s, then 0.12 s)."""
    res = benchmark_loaded({"student": _loaded(ColdShapes(), tmp_path)}, ["hello there", "a longer one here", "ok"],
                           batch_sizes=(1,), repeat=2, warmup=1)
    (row,) = res["rows"]
    assert row["batches"] == 3
    assert row["mel"]["mean"] < 0.1, row["mel"]  # two cold shapes in the first timed run would be 0.4 s


def test_bench_tts_cli_with_real_models(tmp_path):
    """FastSpeech 2 student against an (untrained, so it runs to its length limit) Transformer-TTS teacher."""
    from typer.testing import CliRunner

    from narspeech.cli.main import app
    from narspeech.tts.models.build import build_tts_model

    student = _fastspeech2_exp(tmp_path, frames_per_token=3)
    teacher_cfg = {"type": "transformer_tts", "n_tokens": len(TOKENS), "n_mels": 80, "d_model": 32, "n_heads": 2, "enc_layers": 1,
                   "dec_layers": 1, "d_ff": 64, "d_emb": 32, "dec_prenet_units": 32, "postnet_layers": 0, "max_len_ratio": 3.0}
    teacher = tmp_path / "exp_teacher"
    teacher.mkdir()
    cfg = {"model": teacher_cfg, "text": {"kind": "char", "language": "en-us"}, "feats": CFG.to_dict()}
    torch.save({"model": build_tts_model(teacher_cfg).state_dict(), "config": cfg}, teacher / "best.pt")
    (teacher / "tokens.txt").write_text("\n".join(TOKENS.tokens) + "\n", encoding="utf-8")
    text = tmp_path / "s.txt"
    text.write_text("hello world\nhow are you\n", encoding="utf-8")
    out = tmp_path / "bench.json"
    r = CliRunner().invoke(app, ["bench", "tts", "--student", str(student), "--teacher", str(teacher), "--text", str(text),
                                 "--device", "cpu", "--repeat", "1", "--gl-iters", "2", "--json", str(out)])
    assert r.exit_code == 0, r.output
    res = json.loads(out.read_text())
    assert {(x["model"], x["batch_size"]) for x in res["rows"]} == {("student", 1), ("student", 2), ("teacher", 1), ("teacher", 2)}
    assert {x["model_type"] for x in res["rows"]} == {"fastspeech2", "transformer_tts"}
    assert len(res["speedup"]) == 2 and out.with_suffix(".md").is_file() and "Speed-up" in r.output
