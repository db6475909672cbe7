"""`bench feats` on a handful of real utterances: it runs, reports sane numbers and a table."""
from __future__ import annotations

import json
import sys

import pytest


def test_bench_feats_cli(shared_data, tmp_path, monkeypatch, capsys):
    from narspeech.cli.main import main

    out = tmp_path / "bench.json"
    # arctic_fb's wav.scp is relative to the corpus folder: --base is guessed
    monkeypatch.setattr(sys, "argv", ["narspeech", "bench", "feats", str(shared_data / "arctic_fb" / "dev"), "--device", "cpu",
                                      "--jobs", "0", "--limit", "4", "--librosa-limit", "1", "--json", str(out)])
    with pytest.raises(SystemExit) as ex:
        main()
    assert ex.value.code in (0, None)
    table = capsys.readouterr().out
    assert "narspeech dump (cpu, jobs 0)" in table and "librosa load+mel+energy+pyin" in table
    res = json.loads(out.read_text())
    ours, lib = res["narspeech"], res["librosa"]
    assert ours["utts"] == 4 and ours["audio_seconds"] > 5 and ours["xrt"] > 1
    assert lib["utts"] == 1 and lib["xrt"] > 0 and lib["pyin_seconds"] > lib["mel_seconds"]
    assert res["machine"]["cpus"] >= 1
