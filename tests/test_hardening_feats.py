"""`feats extract` under faults and bad audio: the previous dump survives a failed or killed run,
leftovers are cleaned, two runs into one dump do not race, too-short and truncated audio are named."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from narspeech.audio.dump import read_dump
from narspeech.audio.extract import extract_dump
from narspeech.errors import NarspeechError
from tests.test_data_import import run_cli

pytestmark = pytest.mark.usefixtures("one_thread")
SR = 16000


def _tone(path: Path, seconds: float, f0: float = 200.0, fmt: str = "WAV") -> str:
    t = np.arange(int(SR * seconds)) / SR
    sf.write(path, (0.3 * np.sin(2 * np.pi * f0 * t)).astype(np.float32), SR, format=fmt)
    return str(path)


def _data(root: Path, entries: dict[str, str]) -> Path:
    d = root / "data"
    d.mkdir(parents=True, exist_ok=True)
    (d / "wav.scp").write_text("".join(f"{u} {e}\n" for u, e in sorted(entries.items())))
    return d


def _three(root: Path) -> dict[str, str]:
    return {f"u{i}": _tone(root / f"u{i}.wav", 0.3 + 0.1 * i, 150 + 50 * i) for i in range(3)}


def _dump_ok(dump: Path, utts: list[str]) -> None:
    d = read_dump(dump)
    assert d.utts == utts
    for u in utts:
        assert d.feats[u].shape[0] == d.num_frames[u]


def _leftovers(dump: Path) -> list[str]:
    beside = [p.name for p in dump.parent.iterdir() if p.name.startswith(f".{dump.name}.")]
    inside = [p.name for p in dump.iterdir() if p.name.startswith(".")] if dump.is_dir() else []
    return sorted(beside + inside)


def test_ten_ms_utterance_is_named_and_min_duration_guards(tmp_path, monkeypatch, capsys):
    entries = _three(tmp_path)
    entries["u9"] = _tone(tmp_path / "u9.wav", 0.01)
    data = _data(tmp_path, entries)
    code, out, err = run_cli(["feats", "extract", data, tmp_path / "dump", "--device", "cpu", "--jobs", "0"], monkeypatch, capsys)
    assert code == 1 and "utterance u9" in err and "10 ms" in err and "--min-duration" in err, err
    res = extract_dump(data, tmp_path / "dump", None, device="cpu", jobs=0, skip_bad=True)
    assert sorted(res.skipped) == ["u9"] and res.num_utts == 3
    res = extract_dump(data, tmp_path / "dump", None, device="cpu", jobs=0, min_duration=0.005)
    assert res.num_utts == 4


def test_truncated_flac_is_a_clear_message(tmp_path):
    good = _tone(tmp_path / "a.flac", 1.0, fmt="FLAC")
    raw = Path(good).read_bytes()
    (tmp_path / "t.flac").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "h.flac").write_bytes(raw[:30])
    for name in ("t.flac", "h.flac"):
        data = _data(tmp_path / f"d_{name}", {"a": good, "b": str(tmp_path / name)})
        with pytest.raises(NarspeechError) as e:
            extract_dump(data, tmp_path / "dump", None, device="cpu", jobs=0)
        assert e.value.utt == "b" and "truncated or corrupt FLAC" in str(e.value), str(e.value)


def test_failed_rerun_keeps_the_previous_dump(tmp_path):
    entries = _three(tmp_path)
    entries["u1"] = _tone(tmp_path / "u1.flac", 0.4, fmt="FLAC")
    data = _data(tmp_path, entries)
    dump = tmp_path / "dump"
    extract_dump(data, dump, None, device="cpu", jobs=0)
    (dump / "notes.txt").write_text("mine\n")
    before = {u: np.array(read_dump(dump).feats[u]) for u in entries}
    raw = Path(entries["u1"]).read_bytes()
    Path(entries["u1"]).write_bytes(raw[: len(raw) // 2])  # truncated now: the header reads, decoding fails mid-run
    with pytest.raises(NarspeechError, match="u1"):
        extract_dump(data, dump, None, device="cpu", jobs=0)
    _dump_ok(dump, sorted(entries))  # today: feats.scp was deleted before the new dump existed
    assert all(np.array_equal(read_dump(dump).feats[u], before[u]) for u in entries)
    assert _leftovers(dump) == []
    # a successful run replaces it and keeps files that are not the dump's own
    res = extract_dump(data, dump, None, device="cpu", jobs=0, skip_bad=True)
    _dump_ok(dump, ["u0", "u2"])
    assert (dump / "notes.txt").read_text() == "mine\n" and (dump / "skipped").is_file() and _leftovers(dump) == []


_KILLED = """
import os, signal, sys
import narspeech.audio.extract as ex
real = ex.compute_features
calls = []
def dying(*a, **k):
    calls.append(1)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*a, **k)
ex.compute_features = dying
ex.extract_dump(sys.argv[1], sys.argv[2], None, device="cpu", jobs=0, batch_seconds=0.3)
"""


def test_sigkill_mid_extract_leaves_the_old_dump_and_the_next_run_cleans_up(tmp_path):
    entries = _three(tmp_path)
    data = _data(tmp_path, entries)
    dump = tmp_path / "dump"
    extract_dump(data, dump, None, device="cpu", jobs=0)
    r = subprocess.run([sys.executable, "-c", _KILLED, str(data), str(dump)], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == -signal.SIGKILL, r.stderr
    _dump_ok(dump, sorted(entries))
    assert _leftovers(dump)  # the killed run's half-written dump
    extract_dump(data, dump, None, device="cpu", jobs=0)
    _dump_ok(dump, sorted(entries))
    assert _leftovers(dump) == []


_HOLD = """
import sys, time
from narspeech.fileio import dir_lock
with dir_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_second_extract_into_a_locked_dump_fails_fast_naming_the_pid(tmp_path):
    entries = _three(tmp_path)
    data = _data(tmp_path, entries)
    dump = tmp_path / "dump"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(dump)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        t = time.time()
        with pytest.raises(NarspeechError, match=rf"locked by .*pid {holder.pid}") as e:
            extract_dump(data, dump, None, device="cpu", jobs=0)
        assert time.time() - t < 5 and str(dump) in str(e.value)
    finally:
        holder.kill()
        holder.wait()
    # the holder died by SIGKILL: its lock file is stale and is taken over
    (dump.parent / f".{dump.name}.lock").write_text(f"pid {holder.pid}: narspeech feats extract\n")
    res = extract_dump(data, dump, None, device="cpu", jobs=0)
    assert res.num_utts == 3 and _leftovers(dump) == []
