"""`narspeech asr summary`: one table of scored decode dirs, the change against the same model's greedy
CTC, and a warning exactly when a Mask-CTC decode is worse than that greedy CTC."""
from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner


def _scored(root: Path, model: str, name: str, method: str, wer: float, cer: float, groups: dict | None = None) -> Path:
    d = root / model / "decode_dev" / name
    d.mkdir(parents=True)
    rate = lambda r: {"error_rate": r}  # noqa: E731
    (d / "result.json").write_text(json.dumps({"wer": rate(wer), "cer": rate(cer),
                                               "groups": {g: {"wer": rate(v), "cer": rate(v)} for g, v in (groups or {}).items()}}))
    (d / "decode.json").write_text(json.dumps({"options": {"method": method}, "rtf": 0.01}))
    return d


def test_summary_table_and_warning(tmp_path):
    from narspeech.asr.summary import markdown, read_rows, warnings

    dirs = [_scored(tmp_path, "maskctc", "ctc", "ctc", 0.50, 0.20, {"adult": 0.4, "child": 0.6}),
            _scored(tmp_path, "maskctc", "maskctc_th0.5", "maskctc", 0.45, 0.19, {"adult": 0.35}),
            _scored(tmp_path, "maskctc", "maskctc_th0.999", "maskctc", 0.60, 0.30),
            _scored(tmp_path, "ar", "beam10", "beam", 0.40, 0.18)]
    (tmp_path / "maskctc/decode_dev/unscored").mkdir()
    rows = read_rows([*dirs, tmp_path / "maskctc/decode_dev/unscored"])
    assert len(rows) == 4
    by = {r.decode: r for r in rows}
    assert abs(by["maskctc_th0.5"].vs_ctc - (-10.0)) < 1e-9
    assert abs(by["maskctc_th0.999"].vs_ctc - 20.0) < 1e-9
    assert by["beam10"].vs_ctc is None  # the AR model has no greedy CTC row here
    w = warnings(rows)
    assert len(w) == 1 and "maskctc_th0.999 (+20.0 %)" in w[0] and "maskctc_th0.5" not in w[0]
    table = markdown(rows)
    lines = table.splitlines()
    assert lines[0].startswith("| model | decode | WER % | WER adult % | WER child % | CER % |")
    body = [l for l in lines if l.startswith("| maskctc")]
    assert [l.split("|")[2].strip() for l in body] == ["maskctc_th0.5", "ctc", "maskctc_th0.999"]  # best first
    assert "warning: Mask-CTC is worse than greedy CTC in 1 decode(s)" in table
    assert not warnings([r for r in rows if r.decode != "maskctc_th0.999"])


def test_summary_cli(tmp_path):
    from narspeech.cli.main import app

    d = _scored(tmp_path, "maskctc", "ctc", "ctc", 0.5, 0.2)
    r = CliRunner().invoke(app, ["asr", "summary", str(d), "--out", str(tmp_path / "results.md")])
    assert r.exit_code == 0, r.output
    assert "| maskctc | ctc | 50.00 |" in (tmp_path / "results.md").read_text()
    r = CliRunner().invoke(app, ["asr", "summary", str(tmp_path / "nothing")])
    assert r.exit_code != 0
