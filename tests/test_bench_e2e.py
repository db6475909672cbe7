"""bench e2e: batch-1 rows per thread count (first audio before the whole sentence, shares summing to one) and a
throughput row, for the torch and the ONNX engines."""
import pytest

from narspeech.tts.bench_e2e import bench_e2e, factory, format_table
from test_tts_speak import _fs2_exp, _voc_exp

SENTENCES = ["hello there, how are you today?", "fine.", "this sentence is a little longer than the others are."]


@pytest.mark.parametrize("engine", ["torch", "onnx"])
def test_bench_e2e_rows(tmp_path, engine):
    if engine == "onnx":
        pytest.importorskip("onnxruntime")
    fs2, voc = _fs2_exp(tmp_path), _voc_exp(tmp_path)
    make = factory(str(fs2), str(voc), SENTENCES, engine=engine, workdir=tmp_path / "work")
    r = bench_e2e(make, SENTENCES, threads=(1, 2), batch1_sentences=3, batch_size=2)
    assert [x["threads"] for x in r["batch1"]] == [1, 2]
    for row in r["batch1"]:
        assert row["sentences"] == 3 and row["rtf"] > 0 and row["cpu_rtf"] > 0
        assert 0 < row["first_audio_mean"] <= row["first_audio_max"]
        assert sum(row["share"].values()) == pytest.approx(1.0)
        assert row["ttfa_20_words_words"] == 10  # the longest sentence is the one nearest 20 words
    t = r["throughput"]
    assert t["sentences"] == 3 and t["x_real_time"] > 0 and t["threads"] == 2
    assert "x real time" in format_table(r, engine)
