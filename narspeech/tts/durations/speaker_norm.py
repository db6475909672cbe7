"""Per-speaker normalisation of the aligner's features: Kaldi's per-speaker CMVN (``compute-cmvn-stats
--spk2utt``, ``apply-cmvn``).

The aligner's phone models are pooled over every speaker of the set; without normalisation a phone's
Gaussian is a blend of each voice's spectra, pulled towards the speakers with the most frames, and the
other voices' frames fit it worse than they fit a neighbouring phone. Subtracting each speaker's mean
cepstrum (over all of the speaker's frames in the set) removes the voice's and the channel's average
spectral tilt before the models are estimated, as HMM recognisers do; the variance stays (Kaldi's default,
``norm_vars=false``): a shift leaves the likelihoods comparable with the unnormalised ones.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch

from narspeech.tts.speakers import read_utt2spk


def set_speakers(data_dir: str | Path, utts: list[str]) -> dict[str, str] | None:
    """The speaker of each of `utts` from DATA/utt2spk when the set has more than one speaker, else None
    (no utt2spk, or one voice: nothing to normalise per speaker). An utterance the table lacks is its own speaker."""
    table = read_utt2spk(data_dir, required=False)
    if not table:
        return None
    spk = {u: table.get(u, u) for u in utts}
    return spk if len(set(spk.values())) > 1 else None


def speaker_norm_wanted(asked: bool | None, speakers: Mapping[str, str] | None, models_normalised: bool | None) -> bool:
    """Whether to normalise: as `asked`; else (auto) as the given token models were made (`models_normalised`,
    None: no models given); else when the set has several speakers (`speakers`: :func:`set_speakers`)."""
    if asked is not None:
        return asked
    if models_normalised is not None:
        return bool(models_normalised)
    return speakers is not None


def speaker_means(feats: Mapping[str, torch.Tensor], utt2spk: Mapping[str, str]) -> dict[str, torch.Tensor]:
    """Each speaker's mean feature vector over all frames of its utterances in `feats`."""
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    for u, x in feats.items():
        s = utt2spk[u]
        sums[s] = sums.get(s, 0) + x.sum(0)
        counts[s] = counts.get(s, 0) + x.shape[0]
    return {s: sums[s] / max(counts[s], 1) for s in sums}


def speaker_cmvn(feats: Mapping[str, torch.Tensor], utt2spk: Mapping[str, str]) -> dict[str, torch.Tensor]:
    """`feats` (utt → (T, D)) with each speaker's mean (:func:`speaker_means`) subtracted."""
    means = speaker_means(feats, utt2spk)
    return {u: x - means[utt2spk[u]] for u, x in feats.items()}
