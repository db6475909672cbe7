"""Speaker embeddings (GE2E d-vectors) of a data directory, and the kaldiio tables that hold them.

``embed_data_dir(DATA, OUT)`` writes ``OUT/utt_embed.scp/.ark`` (one d-vector per utterance, as ESPnet's
``xvector.scp``) and ``OUT/spk_embed.scp/.ark`` (each speaker's mean of its normalised utterance vectors,
normalised again; ESPnet's ``spk_xvector.scp``). Audio is read in batches of utterances and the encoder's
windows of a whole batch run together (:func:`narspeech.audio.speaker_encoder.embed_waveforms`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from narspeech.audio.io import load_audio
from narspeech.audio.speaker_encoder import SAMPLE_RATE, embed_waveforms
from narspeech.device import resolve_device
from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_path, read_table, write_table
from narspeech.progress import progress

UTT_EMBED = "utt_embed.scp"
SPK_EMBED = "spk_embed.scp"


def embed_data_dir(data_dir: str | Path, out_dir: str | Path, *, device: str = "cpu", batch_size: int = 32,
                   show_progress: bool = True) -> tuple[int, int]:
    """Write OUT/utt_embed.scp and OUT/spk_embed.scp for DATA (wav.scp, utt2spk). Returns (#utts, #speakers)."""
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    wav_scp = read_table(data_dir / "wav.scp")
    utt2spk = read_table(data_dir / "utt2spk") if (data_dir / "utt2spk").is_file() else {u: u for u in wav_scp}
    dev = str(resolve_device(device))
    utts = sorted(wav_scp)
    table: dict[str, np.ndarray] = {}
    bar = progress(total=len(utts), desc="spk-embed", unit="utt") if show_progress else None
    for i in range(0, len(utts), batch_size):
        chunk = utts[i: i + batch_size]
        wavs = [load_audio(wav_scp[u], utt=u, target_sr=SAMPLE_RATE)[0] for u in chunk]
        try:
            for u, v in zip(chunk, embed_waveforms(wavs, SAMPLE_RATE, dev)):
                table[u] = v
        except NarspeechError:
            for u, w in zip(chunk, wavs):  # name the utterance that is too short
                try:
                    table[u] = embed_waveforms([w], SAMPLE_RATE, dev)[0]
                except NarspeechError as e:
                    raise NarspeechError(e.message, utt=u, path=data_dir / "wav.scp") from None
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    write_embeddings(out_dir / UTT_EMBED, table)
    spk = speaker_means(table, {u: utt2spk[u] for u in table if u in utt2spk})
    write_embeddings(out_dir / SPK_EMBED, spk)
    return len(table), len(spk)


def read_embeddings(path: str | Path) -> dict[str, np.ndarray]:
    """An embedding table: a kaldiio scp or ark (``key vector``), or one ``.npy`` vector (key ``-``)."""
    import kaldiio

    path = Path(path)
    if not path.is_file():
        raise NarspeechError("speaker embedding file not found", path=path)
    try:
        if path.suffix == ".npy":
            return {"-": np.asarray(np.load(path), dtype=np.float32).reshape(-1)}
        table = kaldiio.load_scp(str(path)) if path.suffix != ".ark" else dict(kaldiio.load_ark(str(path)))
        out = {k: np.asarray(table[k], dtype=np.float32).reshape(-1) for k in table}
    except NarspeechError:
        raise
    except Exception as e:  # not an scp/ark, a missing ark, …
        raise NarspeechError(f"cannot read speaker embeddings: {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}",
                             path=path) from None
    if not out:
        raise NarspeechError("no speaker embeddings in the file", path=path)
    dims = {v.shape[0] for v in out.values()}
    if len(dims) != 1:
        raise NarspeechError(f"speaker embeddings of several sizes {sorted(dims)}", path=path)
    return out


def write_embeddings(path_scp: str | Path, table: Mapping[str, np.ndarray]) -> None:
    """``X.scp`` + ``X.ark`` (kaldiio), written to temporary files and renamed."""
    import kaldiio

    scp = Path(path_scp)
    ark = scp.with_suffix(".ark").resolve()
    lines: dict[str, str] = {}
    with atomic_path(ark) as tmp, open(tmp, "wb") as f:
        for key in sorted(table):
            pos = f.tell()
            kaldiio.save_ark(f, {key: np.asarray(table[key], dtype=np.float32)})
            lines[key] = f"{ark}:{pos + len(key.encode()) + 1}"
    write_table(scp, lines)


def speaker_means(embeddings: Mapping[str, np.ndarray], utt2spk: Mapping[str, str]) -> dict[str, np.ndarray]:
    """Per-speaker mean of L2-normalised utterance embeddings, normalised again; a table already keyed by
    speaker is returned normalised."""
    spks = set(utt2spk.values())
    if embeddings and all(k in spks for k in embeddings):
        return {k: _unit(v) for k, v in embeddings.items()}
    groups: dict[str, list[np.ndarray]] = {}
    for utt, v in embeddings.items():
        if utt in utt2spk:
            groups.setdefault(utt2spk[utt], []).append(_unit(v))
    return {s: _unit(np.mean(vs, axis=0)) for s, vs in groups.items()}


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / max(float(np.linalg.norm(v)), 1e-8)


