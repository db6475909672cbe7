"""Class 2 of issue 36: a killed run leaves nothing behind that blocks the next one."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from narspeech.errors import NarspeechError


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _slow_data(tmp: Path) -> tuple[Path, Path]:
    """A data dir whose `cmd |` entries sleep while the file `slow` exists and a first read (the
    header probe) has been done: the feature workers hang in a batch, the probe does not."""
    wav = tmp / "a.wav"
    t = np.arange(16000) / 16000
    sf.write(wav, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    data = tmp / "data"
    data.mkdir()
    flag = tmp / "slow"
    flag.touch()
    lines = []
    for u in ("u1", "u2", "u3", "u4"):
        seen = tmp / f"seen_{u}"
        lines.append(f"{u} if [ -e {seen} ] && [ -e {flag} ]; then sleep 20; fi; touch {seen}; cat {wav} |")
    (data / "wav.scp").write_text("\n".join(lines) + "\n")
    return data, flag


def _start_extract(data: Path, dump: Path) -> subprocess.Popen:
    env = dict(os.environ, NARSPEECH_PROGRESS="0", OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "narspeech", "feats", "extract", str(data), str(dump), "--jobs", "2",
                             "--device", "cpu", "--batch-seconds", "1"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for_sleeping_workers(proc: subprocess.Popen, timeout: float = 60) -> list[int]:
    t0 = time.time()
    while time.time() - t0 < timeout:
        workers = _children(proc.pid)
        if any(_children(w) for w in workers):  # a worker is inside its `cmd |` (sleeping)
            return workers
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError("the workers never started")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and PR_SET_PDEATHSIG are Linux")
def test_sigkilled_extract_leaves_no_workers_and_no_lock(tmp_path):
    data, flag = _slow_data(tmp_path)
    dump = tmp_path / "dump"
    proc = _start_extract(data, dump)
    workers = _wait_for_sleeping_workers(proc)
    proc.kill()  # what the OOM killer does
    proc.wait()
    t0 = time.time()
    while any(_alive(w) for w in workers) and time.time() - t0 < 10:
        time.sleep(0.1)
    try:
        assert not any(_alive(w) for w in workers), "feature workers outlived their killed parent"
    finally:
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)
    flag.unlink()
    from narspeech.audio.extract import extract_dump

    res = extract_dump(data, dump, device="cpu", jobs=0)  # not refused: the dead run's lock is taken over
    assert res.num_utts == 4


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux")
def test_sigterm_cleans_up_like_ctrl_c(tmp_path):
    data, flag = _slow_data(tmp_path)
    dump = tmp_path / "dump"
    proc = _start_extract(data, dump)
    _wait_for_sleeping_workers(proc)
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "terminated" in err and "Traceback" not in err
    assert not list(tmp_path.glob(".dump.*")), "a temporary dump or the lock file was left behind"


def test_lock_of_a_dead_holder_is_taken_over_even_if_its_children_hold_it(tmp_path):
    """The holder is gone without clean-up (SIGKILL) but a child that inherited the lock lives on."""
    from narspeech.fileio import dir_lock

    target = tmp_path / "out"
    code = textwrap.dedent(f"""
        import os, time
        from narspeech.fileio import dir_lock
        with dir_lock({str(target)!r}):
            child = os.fork()
            if child == 0:
                os.close(1); os.close(2); time.sleep(30); os._exit(0)
            print(child, flush=True)
            os._exit(0)  # dies like a SIGKILL: no unlock, no unlink
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    child = int(out.stdout.strip())
    try:
        assert _alive(child)
        with dir_lock(target):  # the orphan child still holds the old file's flock
            pass
    finally:
        os.kill(child, signal.SIGKILL)


@contextlib.contextmanager
def _held_elsewhere(module: str, lock: str, path: Path):
    """Another process holding `module.lock(path)` until the block ends; yields that process."""
    code = textwrap.dedent(f"""
        import sys
        from {module} import {lock}
        with {lock}({str(path)!r}):
            print("held", flush=True)
            sys.stdin.read()
    """)
    other = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "held"
        yield other
    finally:
        other.communicate("")


def test_two_trainings_into_one_exp_dir_cannot_both_run(tmp_path):
    from narspeech.train.engine import fit
    from narspeech.train.toy import ToySeqDataset, ToySeqModel, toy_collate

    exp = tmp_path / "exp"
    cfg = {"train": {"max_steps": 1, "batch_bins": 200, "num_workers": 0, "tensorboard": False,
                     "log_to_stderr": False, "device": "cpu"}}
    with _held_elsewhere("narspeech.train.checkpoint", "exp_lock", exp) as other:
        with pytest.raises(NarspeechError, match=f"locked by another training run.*pid {other.pid}"):
            fit(cfg, ToySeqModel(), ToySeqDataset(4), None, toy_collate, exp)
        assert not (exp / "train.log").exists() and not (exp / "config.yaml").exists()
    fit(cfg, ToySeqModel(), ToySeqDataset(4), None, toy_collate, exp)  # free again
    assert (exp / "last.pt").is_file()


def test_task_trainings_take_the_exp_lock_before_writing(tmp_path):
    """`asr train` (and the other task trainers) stop at once on a busy exp dir: no tokens.txt rewritten."""
    from narspeech.asr.train import train_asr

    exp = tmp_path / "exp"
    with _held_elsewhere("narspeech.fileio", "dir_lock", exp):
        with pytest.raises(NarspeechError, match="locked by another training run"):
            train_asr({}, tokens=tmp_path / "no_tokens", train_data=tmp_path / "d", train_dump=tmp_path / "dump", exp=exp)
        assert not exp.exists()


def _child_sigterm_is_default(conn) -> None:
    conn.send(signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)


def test_pool_children_get_sigterms_default_action():
    """A worker forked inside children_die_on_sigterm ends on SIGTERM even when stuck in C (where the parent's
    inherited Python handler never runs, and Pool.terminate() would wait on it forever); the parent keeps its handler."""
    import multiprocessing as mp

    from narspeech.signals import children_die_on_sigterm, terminate_like_interrupt

    old = signal.getsignal(signal.SIGTERM)
    ctx = mp.get_context("fork")
    try:
        terminate_like_interrupt()
        mine = signal.getsignal(signal.SIGTERM)
        seen = []
        for block in (contextlib.nullcontext(), children_die_on_sigterm()):
            a, b = ctx.Pipe()
            with block:
                p = ctx.Process(target=_child_sigterm_is_default, args=(b,))
                p.start()
            seen.append(a.recv())
            p.join(10)
        assert seen == [False, True]
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, old)
