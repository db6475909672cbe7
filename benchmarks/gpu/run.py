"""The prepared GPU run: every GPU claim of narspeech measured in a few minutes, with a report.

    python3 benchmarks/gpu/run.py [--suite all|speed|quality] [--minutes 8] [--device cuda|cpu|auto]
                                  [--out DIR] [--prepared .device] [--work DIR] [--smoke]

Called by benchmarks/gpu/run.sh from the repository root, with the folder that
benchmarks/gpu/prepare.sh built (wheels, tokenised arctic_fb with its audio, phoneme cache) beside
it. Steps, each in its own time box (benchmarks/gpu/timebox.py), in this order:

setup    wheels → site dir (pip --no-index), environment, the data's features (GPU dump),
         ``pytest -m gpu``
speed    ``bench feats`` on the device and on all CPU cores; ``bench train`` bf16 vs fp32 at
         batch 16 and the paper's 48; ``bench tts`` FastSpeech 2 vs the Transformer-TTS teacher
         at paper size, randomly initialised, both forced to the corpus' frames per token
         (benchmarks/gpu/speed_models.py), mel-only and end to end, batch 1 and full batch;
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
Only the standard library is imported before the wheels are installed. The plan's sizes and
targets are data in profiles.py, the steps in steps.py, the report in report.py.
"""
from __future__ import annotations

import argparse
import json
import os
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

from profiles import PROFILES  # noqa: E402
from report import markdown, now, read_json, write_atomic
from report import targets as score_targets  # noqa: E402
from steps import Steps  # noqa: E402
from task_steps import TaskSteps  # noqa: E402
from timebox import run_boxed  # noqa: E402


def _git(*args: str) -> str:
    try:
        r = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10)
        return r.stdout.strip() if r.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""



class GpuRun(Steps, TaskSteps):
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
        self.started = now()
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

    # ------------------------------------------------------------------ report
    def targets(self) -> list[dict]:
        return score_targets(self.steps, self.a.device)

    def report(self) -> dict:
        env = read_json(self.work / "env.json") or {}
        man = read_json(self.prepared / "manifest.json") or {}
        commit, dirty = self.commit, self.dirty
        return {
            "started": self.started, "updated": now(), "minutes": self.a.minutes, "elapsed_s": round(time.monotonic() - self.t0, 1),
            "suite": self.a.suite, "device": self.a.device, "profile": self.profile_name,
            "gpu": env.get("gpu"), "env": env, "commit": commit or f"{man.get('commit', 'unknown')} (at prepare time; no git here)",
            "dirty": dirty, "prepared": man, "info": self.info, "targets": self.targets(), "steps": self.steps,
        }

    def write_report(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        r = self.report()
        write_atomic(self.out / "report.json", json.dumps(r, indent=1, default=str) + "\n")
        write_atomic(self.out / "report.md", markdown(r))

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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", choices=("all", "speed", "quality"), default="all")
    ap.add_argument("--minutes", type=float, default=8.0, help="the whole run ends within this (default 8)")
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N, cpu")
    ap.add_argument("--out", default=os.environ.get("OUT") or "", help="report folder (default $OUT, else WORK/report)")
    ap.add_argument("--prepared", default=str(ROOT / ".device"), help="folder from benchmarks/gpu/prepare.sh (default .device)")
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
            run.skip("prepared", "setup", f"no prepared data in {run.prepared} (run benchmarks/gpu/prepare.sh on the CPU machine)")
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
                run.multispeaker(reserve)
                run.comma(reserve)
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
