"""`bench feats` on a handful of real utterances: it runs, reports sane numbers and a table."""
from __future__ import annotations

import json
import sys
import time

import pytest
import soundfile as sf


def test_bench_feats_cli(shared_data, tmp_path, monkeypatch, capsys):
    from narspeech.cli.main import main

    out = tmp_path / "bench.json"
    # arctic_fb's wav.scp is relative to the corpus folder: --base is guessed
    monkeypatch.setattr(sys, "argv", ["narspeech", "bench", "feats", str(shared_data / "arctic_fb" / "dev"), "--device", "cpu",
                                      "--jobs", "0", "--limit", "4", "--librosa-limit", "1", "--json", str(out)])
    t0 = time.perf_counter()
    with pytest.raises(SystemExit) as ex:
        main()
    wall = time.perf_counter() - t0
    assert ex.value.code in (0, None)
    table = capsys.readouterr().out
    assert "narspeech dump (cpu, jobs 0)" in table and "librosa load+mel+energy+pyin" in table
    res = json.loads(out.read_text())
    ours, lib = res["narspeech"], res["librosa"]
    # the numbers must be the measured ones: audio = the 4 files' durations, xRT = audio / wall, wall within the call
    dev = shared_data / "arctic_fb" / "dev"
    rows = [l.split(None, 1) for l in (dev / "wav.scp").read_text().splitlines()[:4]]
    durs = [sf.info(str(shared_data / "arctic_fb" / p.strip())).duration for _, p in rows]
    assert ours["utts"] == 4 and ours["audio_seconds"] == pytest.approx(sum(durs), abs=0.05)
    assert 0 < ours["wall_seconds"] < wall and ours["xrt"] == pytest.approx(ours["audio_seconds"] / ours["wall_seconds"], rel=0.02)
    assert ours["xrt"] > 1
    assert lib["utts"] == 1 and lib["audio_seconds"] == pytest.approx(durs[0], abs=0.05)
    assert lib["xrt"] == pytest.approx(lib["audio_seconds"] / lib["total_seconds"], rel=0.02)
    assert lib["mel_seconds"] < lib["pyin_seconds"] <= lib["total_seconds"] < wall
    assert res["speedup_vs_librosa"] == pytest.approx(ours["xrt"] / lib["xrt"], rel=0.05)
    assert res["machine"]["cpus"] >= 1
