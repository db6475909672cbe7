"""The GPU run's plan as data: targets, optional probes, and per-profile sizes and time boxes (seconds)."""
from __future__ import annotations

from typing import Any

PAPER_BATCH = 48  # FastSpeech 2 (Ren et al. 2021): batch of 48 sentences on one GPU
TARGETS = {  # name -> (what, op, value)
    "feats_xrt": ("feature dump × real time on one GPU", ">=", 2000.0),
    "tts_mel_speedup_b1": ("FastSpeech 2 mel generation speed-up over the teacher, batch 1", ">=", 300.0),
    "tts_e2e_speedup_b1": ("FastSpeech 2 end-to-end speed-up over the teacher, batch 1", ">=", 50.0),
    "train_bf16_over_fp32": (f"bf16 / fp32 training steps/s at the paper batch ({PAPER_BATCH})", ">=", 1.5),
    "asr_maskctc_speedup_b1": ("Mask-CTC speed-up over AR beam 10 (same encoder), batch 1, the prepared trained ASR models", ">=", 20.0),
    "asr_maskctc_rtf_batched": ("Mask-CTC RTF with every prepared utterance in one batch", "<=", 0.001),
    "correct_speedup_b1": ("FastCorrect speed-up over the AR corrector (beam 5), batch 1, the prepared trained correctors", ">=", 10.0),
    "tts_e2e_xrt_batched": ("text to wav × real time, batched (random paper-size FastSpeech 2 + iSTFT vocoder, arctic train text)", ">=", 1000.0),
}
PROBES = {  # bench commands other parts add; each joins the run once it exists
    "asr": "Mask-CTC vs AR beam 10 (≥ 20× at batch 1; batched GPU RTF ≤ 0.001)",
    "correct": "FastCorrect vs the AR corrector (≥ 10× at batch 1 on GPU)",
    "align": "edit alignment for FastCorrect",
    "vocoder": "vocoder RTF (HiFi-GAN batched GPU RTF ≤ 0.002)",
    "e2e": "text to wav end to end: time to first audio, RTF, batch throughput (≥ 1000× real time on a GPU)",
}
MODEL_BENCHES = {  # benches that time trained models (prepare.sh carries them): the options that name them
    "asr": "--asr_maskctc EXP --asr_ar EXP --asr_dump DUMP",
    "correct": "--correct_fc EXP --correct_ar EXP --correct_hyp HYP",
}
PROFILES: dict[str, dict[str, Any]] = {
    # boxes in seconds (a step never runs past the run's own deadline either)
    "gpu": dict(box=dict(wheels=60, env=40, features=120, pytest_gpu=90, feats_device=60, feats_cpu=60, bench_train=100,
                         tts_models=40, bench_tts=150, probe=60, align=60, durations=60, synth_student=40, synth_teacher=90,
                         evaluate=30, comma_train=120),
                comma_steps=300,
                quality_after=100, train_min=20, train_grace=40, speed_share=0.4,
                teacher_conf="egs/arctic/tts1/conf/gpu/teacher.yaml", fs_conf="egs/arctic/tts1/conf/gpu/fastspeech2.yaml",
                quality_teacher_conf="egs/arctic/tts1/conf/gpu/tacotron2.yaml",
                overrides=["train.scheduler.warmup_steps=400", "train.log_interval=25"],
                bench_sentences=4, bench_repeat=2, gl_iters=32, train_batches="16,48", focus_threshold=0.3, model_bench_repeat=3),
    "cpu": dict(box=dict(wheels=60, env=30, features=300, pytest_gpu=60, feats_device=120, feats_cpu=0, bench_train=120,
                         tts_models=30, bench_tts=200, probe=60, align=180, durations=120, synth_student=60, synth_teacher=120,
                         evaluate=60, comma_train=120),
                comma_steps=40,
                quality_after=200, train_min=30, train_grace=30, speed_share=0.5,
                teacher_conf="egs/arctic/tts1/conf/teacher.yaml", fs_conf="egs/arctic/tts1/conf/fastspeech2.yaml",
                quality_teacher_conf="egs/arctic/tts1/conf/tacotron2.yaml",
                overrides=["train.log_interval=10"], bench_sentences=8, bench_repeat=1, gl_iters=32, train_batches="1,2", model_bench_repeat=1,
                focus_threshold=0.3),
    "smoke": dict(box=dict(wheels=30, env=15, features=40, pytest_gpu=40, feats_device=20, feats_cpu=0, bench_train=25,
                           tts_models=15, bench_tts=30, probe=15, align=15, durations=15, synth_student=15, synth_teacher=15,
                           evaluate=15, comma_train=20),
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
