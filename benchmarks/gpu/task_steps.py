"""The GPU run's steps for the capabilities that came after its core: multi-speaker TTS (mixed-voice
synthesis of a speaker-conditioned FastSpeech 2) and the CoMMA target-dependency analysis (training
speed and R(p) on the prepared corpus). A mixin of run.GpuRun, beside steps.Steps."""
from __future__ import annotations

import json
from pathlib import Path

from profiles import TINY
from report import read_json, table
from steps import ns, tiny_bench_train

PSEUDO_SPEAKERS = 4  # voices a one-speaker corpus is split into, so mixed-voice batches can be timed


def speaker_data(src: Path, dst: Path, n: int = PSEUDO_SPEAKERS) -> tuple[list[str], bool]:
    """DST = SRC with its utt2spk, or (a one-speaker corpus) utterances dealt round-robin to N
    pseudo-speakers: a speed figure needs voices, not real ones. Returns the speakers and whether they are real."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file() and f.name not in ("utt2spk", "spk2utt"):
            (dst / f.name).write_bytes(f.read_bytes())
    utt2spk = table(src / "utt2spk")
    real = len(set(utt2spk.values())) > 1
    if not real:
        utt2spk = {u: f"spk{i % n}" for i, u in enumerate(sorted(table(src / "text")))}
    (dst / "utt2spk").write_text("".join(f"{u} {s}\n" for u, s in sorted(utt2spk.items())), encoding="utf-8")
    return sorted(set(utt2spk.values())), real


class TaskSteps:
    """Speed-suite steps recorded with self.step / self.skip (run.GpuRun provides them)."""

    def multispeaker(self, reserve: float) -> None:
        """Training: the engine's reference model with a speaker table against bench_train's rows (same
        batches and precisions). Synthesis: a random paper-size FastSpeech 2 with a speaker table, timed
        with batches that mix every voice against the same model speaking one voice."""
        w, sp, dev = self.work, self.work / "speed", self.a.device
        exp, data = sp / "fastspeech2_spk", sp / "spk_data"
        smoke = self.profile_name == "smoke"

        def train_parse(rec: dict) -> dict | None:
            spk, one = read_json(sp / "train_spk.json"), read_json(sp / "train.json") or []
            if not spk:
                return None
            base = {(r["batch_size"], r["precision"]): r["steps_per_s"] for r in one}
            return {"rows": spk, "speakers_over_one_voice": {f"{r['batch_size']}/{r['precision']}": round(r["steps_per_s"] / base[k], 3)
                                                             for r in spk if (k := (r["batch_size"], r["precision"])) in base}}
        if smoke:  # as bench_train's smoke form: the same engine path with a tiny model
            target = tiny_bench_train(sp / "train_spk.json", PSEUDO_SPEAKERS)
        else:
            target = ns(["bench", "train", "--device", dev, "--batch-sizes", self.p["train_batches"], "--speakers", PSEUDO_SPEAKERS,
                         "--out", sp / "train_spk.json"])
        self.step("bench_train_speakers", "speed", target, box=self.p["box"]["bench_train"], needs=("bench_train",), parse=train_parse,
                  reserve=reserve)

        def body() -> int:
            from speed_models import frames_per_token, make_random_exp

            spks, real = speaker_data(w / "data" / "train", data)
            ratio = max(1, round(frames_per_token(w / "data" / "train", w / "dump" / "train")))
            info = make_random_exp(self.p["fs_conf"], "fastspeech2", exp=exp, tokens=w / "data" / "tokens.txt", train_data=data,
                                   train_dump=w / "dump" / "train", ratio=ratio,
                                   overrides=[*(TINY["fastspeech2"] if smoke else []), "model.spks=auto"])
            info.update(speakers=spks, real_speakers=real)
            (sp / "spk_model.json").write_text(json.dumps(info, indent=1))
            return 0
        body.argv = ["speed_models.make_random_exp (fastspeech2, model.spks=auto)"]  # type: ignore[attr-defined]
        self.step("tts_spk_model", "speed", body, box=self.p["box"]["tts_models"], needs=("tts_models",),
                  parse=lambda rec: read_json(sp / "spk_model.json"), reserve=reserve)
        spks = (read_json(sp / "spk_model.json") or {}).get("speakers") or ["none"]  # the next step is skipped without the model
        common = ["--student", exp, "--text", sp / "sentences.txt", "--batch-sizes", "1,all", "--repeat", str(self.p["bench_repeat"]),
                  "--warmup", "1", "--device", dev, "--no-vocoder"]

        def parse(rec: dict) -> dict | None:
            mixed, one = read_json(sp / "tts_spk_mixed.json"), read_json(sp / "tts_spk_one.json")
            if not mixed or not one:
                return None
            rows = lambda r: {row["batch_size"]: row["mel"]["mean"] for row in r.get("rows", [])}  # noqa: E731
            m, o = rows(mixed), rows(one)
            return {"speakers": len(spks), "real_speakers": read_json(sp / "spk_model.json").get("real_speakers"),
                    "mel_s_mixed": m, "mel_s_one_voice": o,
                    "mixed_over_one_voice": {str(b): round(m[b] / o[b], 3) for b in m if b in o and o[b]}}
        self.step("bench_tts_speakers", "speed", ns(["bench", "tts", *common, "--speakers", ",".join(spks), "--out", sp / "tts_spk_mixed.json"],
                                                    ["bench", "tts", *common, "--speakers", spks[0], "--out", sp / "tts_spk_one.json"]),
                  box=self.p["box"]["bench_tts"], needs=("tts_spk_model",), parse=parse, reserve=reserve)

    def comma(self, reserve: float) -> None:
        """CoMMA on the prepared corpus (phonemes -> mels): training steps/s on this device and R(p)
        after a boxed training (a speed figure and a first look; the analysis recipe is egs/espeak/comma1)."""
        w, sp, dev = self.work, self.work / "speed", self.a.device
        exp = sp / "comma_tts"
        smoke = self.profile_name == "smoke"
        conf = Path("egs/espeak/comma1/conf/gpu/comma.yaml")
        sizes = ["model.d_model=16", "model.n_heads=2", "model.n_layers=2", "model.d_ff=32", "train.steps=2",
                 "train.batch_items=4"] if smoke else [f"train.steps={self.p.get('comma_steps', 300)}"]
        sets = [x for o in sizes for x in ("--set", o)]
        data = ["--data", w / "data" / "train", "--dump", w / "dump" / "train", "--tokens", w / "data" / "tokens.txt"]

        def train_parse(rec: dict) -> dict | None:
            t = read_json(exp / "train.json")
            if not t:
                return None
            return {"steps": t["steps"], "seconds": t["seconds"], "final_loss": t.get("final_loss"),
                    "steps_per_s": round(t["steps"] / t["seconds"], 2) if t.get("seconds") else None}
        self.step("comma_train", "speed", ns(["analyze", "comma", "train", "--task", "tts", "--exp", exp, "--config", conf,
                                                    *sets, *data, "--device", dev]),
                        box=self.p["box"].get("comma_train", self.p["box"]["probe"]), needs=("features",), parse=train_parse,
                        reserve=reserve)

        def measure_parse(rec: dict) -> dict | None:
            r = read_json(exp / "comma.json")
            return None if not r else {"layers_averaged": r.get("layers_averaged"), "points": r.get("points")}
        self.step("comma_measure", "speed", ns(["analyze", "comma", "measure", "--task", "tts", "--exp", exp, "--data", w / "data" / "test",
                                                "--dump", w / "dump" / "test", "--tokens", w / "data" / "tokens.txt",
                                                "--p", "0.1,0.5,0.9", "--device", dev]),
                  box=self.p["box"]["probe"], needs=("comma_train",), parse=measure_parse, reserve=reserve)
