"""The training benchmark's reference model and runner (tiny sizes on CPU)."""
from __future__ import annotations

import pytest
import torch

from narspeech.train.bench import RandomTTSData, ReferenceFastSpeech, bench_train, collate_tts, format_results, length_regulate


def test_length_regulator_matches_repeat_interleave():
    x = torch.randn(2, 4, 3)
    dur = torch.tensor([[1, 0, 3, 2], [2, 2, 1, 0]])
    out = length_regulate(x, dur, T=6)
    for b in range(2):
        want = torch.repeat_interleave(x[b], dur[b], dim=0)
        torch.testing.assert_close(out[b, : want.shape[0]], want)


def test_reference_model_learns_its_random_batch():
    torch.manual_seed(0)
    data = RandomTTSData(2, seed=1)
    batch = collate_tts([data[0], data[1]])
    assert batch["mels"].shape[1] == max(data.lengths) and int(batch["durations"].sum()) == sum(data.lengths)
    model = ReferenceFastSpeech(d=32, heads=2, layers=1, ffn=64, n_mels=80, dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    with torch.no_grad():
        first = float(model(batch)[0])
    for _ in range(12):
        loss, stats = model(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.8 * first and set(stats) == {"l1", "dur"}


def test_bench_runs_fp32_only_on_cpu():
    import time

    kw = dict(d=32, heads=2, layers=1, ffn=64)
    t0 = time.perf_counter()
    res = bench_train(device="cpu", batch_sizes=(2,), precisions=("bf16", "fp32"), steps=2, warmup=1, num_workers=0, model_kw=kw)
    wall = time.perf_counter() - t0
    assert [r["precision"] for r in res] == ["fp32"]
    r = res[0]
    assert r["peak_mem_gib"] is None and r["batch_size"] == 2 and r["timed_steps"] == 2
    # measured numbers, not placeholders: the 2 timed steps took part of the call's wall time
    assert 2 / wall <= r["steps_per_s"] < 1e4
    data = RandomTTSData(2 * (1 + 2 + 2), seed=0)  # what bench_train trains on (batch 2, warmup 1, 2 steps)
    assert r["frames_per_s"] == pytest.approx(r["steps_per_s"] * sum(data.lengths) / len(data) * 2)
    assert r["params_m"] == pytest.approx(sum(p.numel() for p in ReferenceFastSpeech(**kw).parameters()) / 1e6)
    assert "fp32" in format_results(res) and f"{r['steps_per_s']:.3f}" in format_results(res)


def test_speaker_table_conditions_the_reference_model():
    """--speakers N: utterances are dealt to N voices and the model's output depends on the voice."""
    torch.manual_seed(0)
    data = RandomTTSData(4, seed=1, speakers=2)
    batch = collate_tts([data[i] for i in range(4)])
    assert batch["speakers"].tolist() == [0, 1, 0, 1]
    model = ReferenceFastSpeech(d=32, heads=2, layers=1, ffn=64, dropout=0.0, speakers=2)
    with torch.no_grad():
        a = float(model(batch)[0])
        b = float(model({**batch, "speakers": 1 - batch["speakers"]})[0])
    assert a != pytest.approx(b, rel=1e-6)
    res = bench_train(device="cpu", batch_sizes=(2,), steps=1, warmup=1, num_workers=0,
                      model_kw=dict(d=32, heads=2, layers=1, ffn=64), speakers=3)
    assert res[0]["speakers"] == 3
    assert res[0]["params_m"] == pytest.approx(sum(p.numel() for p in ReferenceFastSpeech(d=32, heads=2, layers=1, ffn=64, speakers=3).parameters()) / 1e6)
