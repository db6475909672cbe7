"""One training engine for all tasks: bucketed batches, AMP, DDP, checkpoints, resume, logging.

Modules: :mod:`~narspeech.train.engine` (``fit``: the loop), :mod:`~narspeech.train.defaults`
(``TRAIN_DEFAULTS``, ``resolve_config``), :mod:`~narspeech.train.protocols` (``Hooks``,
``MultiOptimizerModel``), :mod:`~narspeech.train.rng` (``seed_everything``, RNG states),
:mod:`~narspeech.train.phases` (optimizers per group, one update), :mod:`~narspeech.train.state`
(last.pt and step checkpoints), :mod:`~narspeech.train.batches` (DataLoader, device moves),
:mod:`~narspeech.train.sampler` (length buckets, DDP shares), :mod:`~narspeech.train.optim`
(Adam/AdamW, noam/warmup/constant), :mod:`~narspeech.train.checkpoint` (files, averaging),
:mod:`~narspeech.train.distributed` (torchrun environment), :mod:`~narspeech.train.bench`
(``narspeech bench train``), :mod:`~narspeech.train.toy` (a tiny task for tests).

Typical task code::

    cfg = load_config("conf/fastspeech2.yaml", overrides)      # train: {...} section
    seed_everything(cfg.get("train", {}).get("seed", 1))       # reproducible init
    model = build_model(cfg["model"])                          # model(batch) -> (loss, stats)
    best = fit(cfg, model, train_set, valid_set, collate, "exp/fs2", resume=args.resume)

Multi-GPU: the same command under ``torchrun --nproc-per-node G -m narspeech …``.
"""
