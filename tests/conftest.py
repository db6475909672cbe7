"""Shared fixtures: real data from ../shared/data (skip if absent; fail in CI or with
NARSPEECH_REQUIRE_DATA=1), espeak-ng, a tiny trained ASR exp, GPU skip."""
from __future__ import annotations

import multiprocessing
import os
import shutil
import signal

import pytest

os.environ.setdefault("NARSPEECH_PROGRESS", "0")


@pytest.fixture(scope="session")
def shared_data():
    from narspeech.paths import data_required, shared_data_candidates, shared_data_dir

    d = shared_data_dir()
    if not d.is_dir():
        tried = ", ".join(map(str, shared_data_candidates()))
        msg = f"real data not found (tried {tried}); set NARSPEECH_SHARED_DATA to the shared/data folder"
        if data_required():  # CI must not lose the real-data evidence to a silent skip
            pytest.fail(msg + " (required: CI or NARSPEECH_REQUIRE_DATA is set)", pytrace=False)
        pytest.skip(msg)
    return d


@pytest.fixture(scope="session")
def espeak():
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng not installed (tools/install.sh installs it)")
    return exe


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread: on 2-core shared machines threads fighting each other make tiny models ~5x slower."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def cli_ok(*args) -> str:
    """Run the narspeech CLI in-process; fail with its output unless it exits 0."""
    from typer.testing import CliRunner

    from narspeech.cli.main import app

    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, (r.output, r.exception)
    return r.output


@pytest.fixture(scope="session")
def tiny_asr(tmp_path_factory):
    """``(root, dump)``: five 0.75 s harmonic tones with short texts (root/data, 16 kHz 20-mel dump, character
    tokens root/tokens.txt) and a tiny Mask-CTC exp (root/exp) trained 3 steps from root/conf.yaml."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _make_tiny_asr(tmp_path_factory.mktemp("tiny_asr"))
    finally:
        torch.set_num_threads(threads)


def _make_tiny_asr(root):
    import numpy as np
    import soundfile as sf

    from narspeech.audio.extract import extract_dump
    from narspeech.audio.stats import compute_stats, save_stats

    data = root / "data"
    data.mkdir()
    rng = np.random.default_rng(1)
    texts = {f"u{i}": t for i, t in enumerate(["a cab", "bad cab", "a dab", "dad cabs", "ab ba"])}
    wav_scp, text, utt2spk = [], [], []
    for i, (u, t) in enumerate(sorted(texts.items())):
        path = root / f"{u}.wav"
        sec = np.arange(12000) / 16000
        wav = sum(np.sin(2 * np.pi * (110 + 25 * i) * k * sec) / k for k in range(1, 6)) * 0.05 + 0.01 * rng.standard_normal(12000)
        sf.write(path, wav.astype(np.float32), 16000)
        wav_scp.append(f"{u} {path}\n")
        text.append(f"{u} {t}\n")
        utt2spk.append(f"{u} s1\n")
    (data / "wav.scp").write_text("".join(wav_scp))
    (data / "text").write_text("".join(text))
    (data / "utt2spk").write_text("".join(utt2spk))
    (data / "spk2utt").write_text("s1 " + " ".join(sorted(texts)) + "\n")
    dump = root / "dump"
    extract_dump(data, dump, {"sample_rate": 16000, "n_fft": 512, "hop_length": 160, "win_length": 400, "n_mels": 20, "fmax": 8000},
                 device="cpu", jobs=0)
    save_stats(compute_stats(dump), dump / "stats.npz")
    cli_ok("asr", "tokenize", data)
    cli_ok("text", "vocab", data, "--out", root / "tokens.txt")
    (root / "conf.yaml").write_text(
        "model: {type: mask_ctc, d_model: 16, n_heads: 2, enc_layers: 1, enc_ff: 32, dec_layers: 1, dec_ff: 32, subsample_channels: 4, "
        "specaug: {freq_masks: 2, freq_width: 5, time_masks: 1, time_width: 0.2, time_warp: 0}}\n"
        "train: {max_steps: 3, batch_bins: 1000, num_workers: 0, tensorboard: false, log_to_stderr: false, device: cpu, "
        "scheduler: {name: constant}}\n")
    cli_ok("asr", "train", "--config", root / "conf.yaml", "--tokens", root / "tokens.txt", "--train-data", data, "--train-dump", dump,
           "--exp", root / "exp")
    return root, dump


# the longest test files (whole recipes end to end), started first so that with the suite on several workers
# they run beside the short tests instead of forming its tail
LONGEST_FIRST = ("test_recipe_asr.py", "test_recipe_tts.py", "test_data_import_multispk.py", "test_gpu_run.py")


def pytest_configure(config):
    """pytest-xdist (3.x) re-sorts `--dist loadfile` files by their number of tests, which put the one- and
    two-test recipe files last and undid LONGEST_FIRST: keep the collection order instead."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def _file_rank(item) -> int:
    name = item.path.name
    return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_collection_modifyitems(config, items):
    items.sort(key=_file_rank)  # stable: every file's own order is kept
    if not any("gpu" in item.keywords for item in items):
        return  # no torch import (and no CUDA probe) when nothing asks for a GPU
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def pytest_sessionfinish(session, exitstatus):
    """A child process left running (a data-loader worker a test kept alive) hung the interpreter's exit
    after a passing suite until CI's 90 min ran out: name such children, end them, and fail the run."""
    left = multiprocessing.active_children()
    if not left:
        return
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # torch's data-loader handler would raise on the kills
    for p in left:
        p.kill()
        p.join(timeout=5)
    names = ", ".join(f"{p.name} (pid {p.pid})" for p in left)
    session.config.get_terminal_writer().line(f"\nchild processes outlived the tests and were killed: {names}", red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
