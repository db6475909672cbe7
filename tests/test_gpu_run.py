"""The prepared GPU run (benchmarks/gpu) in its CPU form: prepare a tiny folder, run every suite, read the report.

The same driver runs on the GPU machine; here it runs with --smoke (8/2/3 arctic_fb utterances,
tiny models) inside a 1.5-minute budget (about 30 s of CPU), so the GPU path is exercised by every
CI run; on a loaded machine late steps are skipped or time out, which the tests accept, but no step
may fail.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GPU_TOOLS = ROOT / "benchmarks" / "gpu"
MINUTES = 1.5
STATUSES = {"ok", "failed", "timeout", "skipped"}
PLAN = ["wheels", "import", "env", "selftest_hang", "features", "pytest_gpu", "tts_models", "bench_tts", "feats_device",
        "feats_cpu", "bench_train", "bench_asr", "bench_correct", "bench_align", "bench_vocoder", "bench_e2e", "bench_train_speakers", "tts_spk_model",
        "bench_tts_speakers", "comma_train", "comma_measure", "align",
        "train_fastspeech2", "train_teacher", "durations", "synth_fastspeech2", "synth_teacher", "eval_fastspeech2", "eval_teacher"]


@pytest.fixture(scope="module")
def gpu_tools():
    sys.path.insert(0, str(GPU_TOOLS))
    yield
    sys.path.remove(str(GPU_TOOLS))


@pytest.fixture(scope="module")
def bench_models(tiny_asr, tmp_path_factory):
    """prepare.sh options naming tiny trained models: the tiny Mask-CTC exp, an AR exp on the same data,
    FastCorrect and an AR corrector (2 steps each on a few word pairs)."""
    import yaml

    from conftest import cli_ok

    root, dump = tiny_asr
    d = tmp_path_factory.mktemp("bench_models")
    (d / "ar.yaml").write_text((root / "conf.yaml").read_text().replace("type: mask_ctc", "type: ar"))
    cli_ok("asr", "train", "--config", d / "ar.yaml", "--tokens", root / "tokens.txt", "--train-data", root / "data",
           "--train-dump", dump, "--exp", d / "asr_ar")
    (d / "hyp").write_text("a THE CAT SAT ON THE MAT\nb A DOG RUN IN THE PARK\nc SHE SELL SEA SHELLS\n")
    (d / "text").write_text("a THE CAT SAT ON THE MAT\nb A DOG RAN IN THE PARK\nc SHE SELLS SEA SHELLS\n")
    cli_ok("correct", "align", "--hyp", d / "hyp", "--ref", d / "text", "--out", d / "align")
    for kind in ("fastcorrect", "ar"):
        (d / f"{kind}.yaml").write_text(yaml.safe_dump({
            "model": {"type": kind, "d_model": 16, "heads": 2, "d_ff": 32, "enc_layers": 1, "dec_layers": 1, "dropout": 0.0},
            "train": {"max_steps": 2, "batch_bins": 400, "valid_interval": 0, "num_workers": 0, "tensorboard": False,
                      "device": "cpu", "log_to_stderr": False}}))
        cli_ok("correct", "train", "--config", d / f"{kind}.yaml", "--train", d / "align", "--out", d / f"cor_{kind}")
    return ["--asr_maskctc", root / "exp", "--asr_ar", d / "asr_ar", "--asr_dump", dump, "--asr_utts", "3",
            "--correct_fc", d / "cor_fastcorrect", "--correct_ar", d / "cor_ar", "--correct_hyp", d / "hyp"]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, shared_data, espeak, bench_models):
    tmp = tmp_path_factory.mktemp("gpu_run")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHON=sys.executable, NARSPEECH_PROGRESS="0")
    env.pop("OUT", None)
    prep = subprocess.run(["bash", str(GPU_TOOLS / "prepare.sh"), "--out", str(tmp / "prepared"), "--wheels", "false",
                           "--corpus", str(shared_data / "arctic_fb"), "--train", "8", "--dev", "2", "--test", "3",
                           *map(str, bench_models)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert prep.returncode == 0, prep.stderr[-2000:]
    t0 = time.monotonic()
    run = subprocess.run(["bash", str(GPU_TOOLS / "run.sh"), "--device", "cpu", "--minutes", str(MINUTES), "--smoke",
                          "--prepared", str(tmp / "prepared"), "--work", str(tmp / "work"), "--out", str(tmp / "out"),
                          "--hang-step", "2"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=MINUTES * 60 + 60)
    elapsed = time.monotonic() - t0
    report = json.loads((tmp / "out" / "report.json").read_text())
    return {"tmp": tmp, "rc": run.returncode, "stdout": run.stdout, "elapsed": elapsed, "report": report}


@pytest.mark.slow
def test_cpu_form_reports_every_step_within_its_minutes(smoke_run):
    r = smoke_run["report"]
    assert smoke_run["rc"] == 0, smoke_run["stdout"][-3000:]
    assert smoke_run["elapsed"] < MINUTES * 60 + 15
    steps = {s["name"]: s for s in r["steps"]}
    assert list(steps) == PLAN  # every planned step is in the report, in order, once
    for s in r["steps"]:
        assert s["status"] in STATUSES
        if s["status"] != "ok":
            assert s.get("reason"), s
    failed = {n: s["reason"] for n, s in steps.items() if s["status"] == "failed"}
    assert not failed  # on a loaded machine late steps may be skipped or time out, but nothing may break
    # setup and the first speed step run whatever the load; every step that ran has its numbers in the report
    for name in ("import", "env", "features", "pytest_gpu", "tts_models"):
        assert steps[name]["status"] == "ok", steps[name]
    for name in ("features", "pytest_gpu", "tts_models", "bench_tts", "feats_device", "bench_train", "bench_train_speakers",
                 "tts_spk_model", "bench_tts_speakers", "comma_train", "comma_measure", "align", "train_teacher",
                 "durations", "train_fastspeech2", "synth_fastspeech2", "synth_teacher", "eval_fastspeech2", "eval_teacher"):
        assert steps[name]["status"] != "ok" or steps[name].get("numbers"), steps[name]
    if steps["feats_device"]["status"] == "ok":
        assert steps["feats_device"]["numbers"]["xrt"] > 0
    if steps["bench_train"]["status"] == "ok":
        assert steps["bench_train"]["numbers"]["rows"][0]["steps_per_s"] > 0
    if steps["bench_tts"]["status"] == "ok":
        assert {s["batch_size"] for s in steps["bench_tts"]["numbers"]["speedup"]} == {1, 2}
    assert steps["feats_cpu"]["status"] == "skipped" and "CPU" in steps["feats_cpu"]["reason"]
    assert {t["name"] for t in r["targets"]} == {"feats_xrt", "tts_mel_speedup_b1", "tts_e2e_speedup_b1", "train_bf16_over_fp32",
                                                 "asr_maskctc_speedup_b1", "asr_maskctc_rtf_batched", "correct_speedup_b1",
                                                 "tts_e2e_xrt_batched"}
    assert all(t["met"] is None for t in r["targets"])  # a CPU run never claims a GPU target
    md = (smoke_run["tmp"] / "out" / "report.md").read_text()
    for name in PLAN:
        assert f"| {name} |" in md
    assert (smoke_run["tmp"] / "out" / "logs.tar.gz").is_file()


@pytest.mark.slow
def test_trained_models_are_carried_and_timed(smoke_run):
    """prepare.sh carries the trained ASR / corrector exps (float16) and the run times them with bench asr / correct."""
    import torch

    prepared = smoke_run["tmp"] / "prepared" / "models"
    info = json.loads((prepared / "models.json").read_text())
    assert info["asr"]["dump"]["utts"] == 3 and info["correct"]["hyp"]["sentences"] == 3
    state = torch.load(prepared / "asr" / "maskctc" / "best.pt", weights_only=False)["model"]
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}
    steps = {s["name"]: s for s in smoke_run["report"]["steps"]}
    targets = {t["name"]: t for t in smoke_run["report"]["targets"]}
    for name, target in (("bench_asr", "asr_maskctc_speedup_b1"), ("bench_correct", "correct_speedup_b1")):
        s = steps[name]
        assert s["status"] in ("ok", "timeout", "skipped"), s
        assert "no trained" not in s.get("reason", "")  # never skipped for want of models: they were prepared
        if s["status"] == "ok":
            assert s["numbers"]["result"]["rows"], s
            assert targets[target]["measured"] > 0


@pytest.mark.slow
def test_step_past_its_box_is_reported_as_timed_out(smoke_run):
    hang = next(s for s in smoke_run["report"]["steps"] if s["name"] == "selftest_hang")
    assert hang["status"] == "timeout" and "timed out" in hang["reason"]
    assert 2.0 <= hang["seconds"] < 2.0 + 5.0 + 3.0  # box + SIGTERM grace + slack: killed, not waited for


@pytest.mark.slow
def test_tts_bench_models_have_the_same_forced_length(smoke_run, gpu_tools, one_thread):
    """The random teacher runs to R frames per token (its stop token is untrained); so does FastSpeech 2."""
    import torch

    from narspeech.tts.synthesize.inference import load_model

    sp = smoke_run["tmp"] / "work" / "speed"
    if not (sp / "models.json").is_file():
        pytest.skip("the smoke run did not reach tts_models")
    ratio = json.loads((sp / "models.json").read_text())[0]["frames_per_token"]
    tokens = torch.randint(2, 20, (2, 13))
    lengths = torch.tensor([13, 7])
    for name in ("teacher", "fastspeech2"):
        m = load_model(sp / name, device="cpu").model
        _, mel_lengths = m.inference(tokens, lengths)
        assert mel_lengths.tolist() == [13 * ratio, 7 * ratio], name


def test_timebox_kills_the_whole_group_and_lets_a_trainer_save(tmp_path, gpu_tools):
    from timebox import run_boxed

    marker = tmp_path / "grandchild.pid"
    code = f"import subprocess, time; p = subprocess.Popen(['sleep', '600']); open({str(marker)!r}, 'w').write(str(p.pid)); time.sleep(600)"
    o = run_boxed([sys.executable, "-c", code], 1.5, tmp_path / "hang.log", grace_s=1.0)
    assert o.status == "timeout"
    pid = int(marker.read_text())
    time.sleep(0.2)
    try:  # the grandchild went with its group (gone, or a zombie left to a parent that does not reap)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        state = "gone"
    assert state in ("gone", "Z"), state

    saved = tmp_path / "last.pt"

    def trainer():  # stands in for the engine: SIGTERM -> save -> stop
        import signal

        signal.signal(signal.SIGTERM, lambda *a: (saved.write_text("ok"), os._exit(1)))
        time.sleep(600)
    o = run_boxed(trainer, 1.0, tmp_path / "train.log", grace_s=5.0, term_group=False)
    assert o.status == "timeout" and o.seconds < 4.0
    assert saved.read_text() == "ok"

    o = run_boxed(lambda: print("done"), 10.0, tmp_path / "quick.log")
    assert (o.status, o.rc, o.last_line) == ("ok", 0, "done")


def test_phoneme_cache_replaces_espeak_and_a_miss_is_an_error(tmp_path, gpu_tools):
    import argparse

    import narspeech.text.tokenize as tok
    from narspeech.errors import NarspeechError
    from run import GpuRun

    from narspeech.text.normalize import normalize

    key = normalize("Hello")  # the frontend asks espeak-ng for the normalised text
    (tmp_path / "phonemes.json").write_text(json.dumps({"entries": {"en-us": {key: ["h", "ə", "l", "ˈoʊ"]}}}))
    a = argparse.Namespace(minutes=1, margin=0, smoke=True, device="cpu", work=str(tmp_path / "w"), out=str(tmp_path / "o"),
                           prepared=str(tmp_path), suite="all", profile=None)
    real = tok.phonemize
    try:
        GpuRun(a).install_phoneme_cache()
        assert tok.tokenize(["Hello"], "phoneme", "en-us") == [["h", "ə", "l", "ˈoʊ"]]
        with pytest.raises(NarspeechError, match="not in the prepared phoneme cache"):
            tok.tokenize(["Goodbye"], "phoneme", "en-us")
    finally:
        tok.phonemize = real
