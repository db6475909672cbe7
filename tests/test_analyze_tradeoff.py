"""The AR-vs-NAR trade-off report reads the recipes' results files: every number traces to a file, unmeasured
columns say so, a degenerate AR voids the speed-up, an exp with no AR counterpart is one clear error."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from narspeech.analyze.tradeoff import gather, markdown_table
from narspeech.errors import NarspeechError


def _write(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _tts(root: Path, ar_wer: float = 0.10) -> Path:
    for name, ratio, wer, mcd in (("fastspeech2", 1.3, 0.13, 7.0), ("teacher", 1.1, ar_wer, 6.5)):
        _write(root / f"exp/{name}/synth/test/results.json",
               {"intelligibility": {"wer_ratio": ratio, "synth": {"wer": wer}}, "mcd_db": {"mean": mcd}})
    _write(root / "exp/speed_test.json", {"device": "cpu", "speedup": [{"batch_size": 1, "mel": 20.0, "e2e": 8.0},
                                                                       {"batch_size": 8, "mel": 30.0, "e2e": 12.0}]})
    return root


def _asr(root: Path) -> Path:
    for d, w in (("maskctc/decode_test/ctc", 0.20), ("maskctc/decode_test/maskctc_th0.9_it10", 0.15), ("ar/decode_test/beam10", 0.10)):
        _write(root / "exp" / d / "result.json", {"wer": {"error_rate": w}})
    _write(root / "exp/speed_test.json", {"device": "cuda:0", "options": {"threshold": 0.9, "iterations": 10}, "rows": [
        {"system": "maskctc", "batch_size": 1, "speedup_vs_ar": 5.0}, {"system": "maskctc", "batch_size": 20, "speedup_vs_ar": 9.0},
        {"system": "ctc_greedy", "batch_size": 1, "speedup_vs_ar": 30.0}, {"system": "ar_beam10", "batch_size": 1, "speedup_vs_ar": 1.0}]})
    return root


def test_table_traces_and_columns(tmp_path):
    systems = gather(_tts(tmp_path / "tts1"), _asr(tmp_path / "asr1"))
    fs = next(s for s in systems if s.name == "fastspeech2")
    assert fs.speedup == {"gpu_b1": None, "gpu_full": None, "cpu_b1": 8.0} and abs(fs.gap - 0.2) < 1e-9
    assert any(p.endswith("speed_test.json") for p in fs.sources)
    mc = next(s for s in systems if s.name.endswith("maskctc_th0.9_it10"))
    assert mc.speedup == {"gpu_b1": 5.0, "gpu_full": 9.0, "cpu_b1": None} and abs(mc.gap - 0.05) < 1e-9
    table = markdown_table(systems)
    assert "not measured" in table and "8.00x" in table and "9.00x" in table


def test_degenerate_ar_gets_no_speedup(tmp_path):
    systems = gather(_tts(tmp_path / "tts1", ar_wer=1.0))
    table = markdown_table(systems)
    assert "degenerate" in table and "8.00x" not in table


def test_no_ar_counterpart_is_one_line(tmp_path):
    root = _tts(tmp_path / "tts1")
    (root / "exp/teacher/synth/test/results.json").unlink()
    with pytest.raises(NarspeechError, match="no AR counterpart"):
        gather(root)
    r = subprocess.run([sys.executable, "-m", "narspeech", "analyze", "tradeoff", "--tts", str(root)], capture_output=True, text=True)
    assert r.returncode == 1 and "no AR counterpart" in r.stderr and len(r.stderr.strip().splitlines()) == 1
