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


def _asr_variants(root: Path) -> Path:
    """An ASR recipe dir with the trade-off recipe's variant decode dirs and speed files."""
    for d, w in (("maskctc/decode_test/ctc", 0.20), ("maskctc/decode_test/maskctc_th0.999_it1", 0.22),
                 ("maskctc/decode_test/maskctc_lp_th0.999_it10", 0.95), ("ar/decode_test/beam10", 0.10),
                 ("ar/decode_test/greedy", 0.12), ("ar/decode_test/beam1", 0.15), ("ar/decode_test/beam10_int8", 0.11), ("ar_dec1/decode_test/beam10", 0.13)):
        _write(root / "exp" / d / "result.json", {"wer": {"error_rate": w}, "cer": {"error_rate": w / 3}})
    (root / "data/test_unseen").mkdir(parents=True)
    rows = [("ctc_greedy", "maskctc/ctc", 40.0), ("maskctc_it1", "maskctc/maskctc_th0.999_it1", 30.0),
            ("ar_beam10", "ar/beam10", 1.0), ("ar_greedy", "ar/greedy", 6.0), ("ar_beam10_int8", "ar/beam10_int8", 1.5),
            ("ar_dec1_beam10", "ar_dec1/beam10", 1.2)]
    _write(root / "exp/speed_test.tradeoff.json", {"device": "cpu", "rows": [
        {"system": s, "decode": d, "batch_size": 1, "speedup_vs_ar": x, "cpu_speedup_vs_ar": x / 2} for s, d, x in rows]})
    _write(root / "exp/speed_test.json", {"device": "cpu", "options": {"threshold": 0.0, "iterations": 10}, "rows": [
        {"system": "ctc_greedy", "batch_size": 1, "speedup_vs_ar": 70.0}]})  # the ASR recipe's own (older) timing
    _write(root / "exp/speed_test_unseen.tradeoff.json", {"device": "cpu", "rows": [  # another test set: not this one's
        {"system": "ar_greedy", "decode": "ar/greedy", "batch_size": 1, "speedup_vs_ar": 99.0}]})
    return root


def test_variants_are_picked_up_by_decode_name(tmp_path):
    root = _asr_variants(tmp_path / "asr1")
    systems = {s.name: s for s in gather(asr=root)}
    assert systems["ar/beam10"].role == "ar" and systems["ar/beam10"].quality == {"wer": 0.10, "cer": pytest.approx(0.10 / 3)}
    for name, role, x in (("maskctc/ctc", "nar", 40.0), ("maskctc/maskctc_th0.999_it1", "nar", 30.0), ("ar/greedy", "ar-variant", 6.0),
                          ("ar/beam10_int8", "ar-variant", 1.5), ("ar_dec1/beam10", "ar-variant", 1.2)):
        s = systems[name]
        assert (s.role, s.speedup["cpu_b1"]) == (role, x), name
        assert s.sources == [str(root / "exp" / name.split("/")[0] / "decode_test" / name.split("/")[1] / "result.json"),
                             str(root / "exp/speed_test.tradeoff.json")]
    assert systems["ar/greedy"].gap == pytest.approx(0.02) and systems["ar/beam1"].role == "ar-variant"  # the widest beam is the base
    assert systems["maskctc/maskctc_lp_th0.999_it10"].speedup["cpu_b1"] is None  # timed nowhere: not measured
    picked = {s.name for s in gather(asr=root, asr_decodes=["maskctc/ctc", "ar_*/*"])}
    assert picked == {"maskctc/ctc", "ar_dec1/beam10", "ar/beam10"}
    table = markdown_table(list(systems.values()))
    assert "| asr | ar/beam10_int8 | ar-variant |" in table and "1.50x (CPU time 0.75x)" in table and "99.00x" not in table
    assert systems["maskctc/ctc"].cpu_speedup == {"cpu_b1": 20.0}  # the older row's wall figure had no CPU time beside it


def test_plot_has_one_marker_per_system(tmp_path):
    from narspeech.analyze.tradeoff import plot

    systems = gather(tts=_tts(tmp_path / "tts1"), asr=_asr_variants(tmp_path / "asr1"))
    assert plot(systems, tmp_path / "t.png") == 1 + 5  # (ar/beam1 has no speed row: not drawn)  # fastspeech2; the timed ASR systems (not the AR baselines)
    assert (tmp_path / "t.png").stat().st_size > 1000


def test_tts_ar_name_is_an_option(tmp_path):
    root = _tts(tmp_path / "tts1")
    (root / "exp/teacher").rename(root / "exp/tacotron2")
    with pytest.raises(NarspeechError, match="no AR counterpart"):
        gather(tts=root)
    assert [s.name for s in gather(tts=root, tts_ar="tacotron2")] == ["fastspeech2", "tacotron2"]


def test_correction_variants_are_picked_up(tmp_path):
    root = tmp_path / "ec1"
    for d, w in (("asr", 0.30), ("fc", 0.27), ("ar", 0.25), ("ar_greedy", 0.26), ("ar_int8", 0.25), ("ar_snap", 0.20)):
        _write(root / f"exp/score_dev/maskctc_ctc/{d}/result.json", {"wer": {"error_rate": w}})
    _write(root / "exp/speed_dev.json", {"device": "cpu", "rows": [
        {"decode": d, "batch_size": b, "speedup_vs_ar": x} for d, b, x in
        (("fc", 1, 9.0), ("ar", 1, 1.0), ("ar_greedy", 1, 3.0), ("ar_int8", 1, 1.4), ("fc", 50, 20.0))]})
    systems = {s.name: s for s in gather(correct=root)}
    assert set(systems) == {"fc (maskctc_ctc)", "ar (maskctc_ctc)", "ar_greedy (maskctc_ctc)", "ar_int8 (maskctc_ctc)"}
    assert systems["ar_greedy (maskctc_ctc)"].role == "ar-variant" and systems["ar_greedy (maskctc_ctc)"].speedup["cpu_b1"] == 3.0
    assert systems["ar_int8 (maskctc_ctc)"].gap == pytest.approx(0.0) and systems["fc (maskctc_ctc)"].speedup["cpu_b1"] == 9.0
    assert systems["ar_int8 (maskctc_ctc)"].sources[-1].endswith("speed_dev.json")


def test_an_ar_corrector_that_changes_nothing_is_degenerate(tmp_path):
    """A detector that never lets the AR corrector change a sentence leaves the WER where it was: no speed-up over it."""
    root = tmp_path / "ec1"
    for d, w in (("asr", 0.30), ("fc", 0.30), ("ar", 0.30)):
        _write(root / f"exp/score_dev/h/{d}/result.json", {"wer": {"error_rate": w}})
    _write(root / "exp/speed_dev.json", {"device": "cpu", "speedup_fastcorrect_over_ar": {"1": 5.0}})
    systems = gather(correct=root)
    assert "does not correct" in systems[-1].degenerate and "degenerate AR" in systems[0].degenerate
    assert "5.00x" not in markdown_table(systems)


def test_speed_copy_of_an_old_run_in_a_subfolder_is_not_read(tmp_path):
    """Only exp/speed_<set>*.json counts: a backup of an earlier run under exp/old/ must not give its speed-up."""
    root = _tts(tmp_path / "tts1")
    _write(root / "exp/old/speed_test.json", {"device": "cpu", "speedup": [{"batch_size": 1, "mel": 2.0, "e2e": 1.5}]})
    fs = next(s for s in gather(root) if s.name == "fastspeech2")
    assert fs.speedup["cpu_b1"] == 8.0 and not any("exp/old/" in p for p in fs.sources)
